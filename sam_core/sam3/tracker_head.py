r"""SAM 3's tracker head for one image: SAM 2's prompt encoder and mask decoder on the SAM 3 backbone.

SAM 3 keeps SAM 2's interactive segmentation ("click here, get that object") as a second head on the
same ViT. Its own FPN (the neck's `sam2_convs`) gives three maps for a 1008-pixel image:

    288 x 288 --conv_s0--> [B, C/8, 288, 288]  \
    144 x 144 --conv_s1--> [B, C/4, 144, 144]   } high-resolution skips of the mask decoder's upsampling
     72 x  72 + no_mem_embed  -> image embedding [B, C, 72, 72]   (an image is a frame with no memory)

then, exactly as in SAM 2: clicks / a box (two corner points) / a low-res mask -> prompt tokens ->
two-way transformer -> 3 masks (or 1) at 288 x 288 with predicted IoUs and an object-score logit.
The modules are sam_core.sam2's (the two-way transformer sam_core.sam1's); their names are Meta's (`tracker.sam_prompt_encoder.*`,
`tracker.sam_mask_decoder.*`, `tracker.no_mem_embed` in sam3.pt), so the checkpoint loads as is.
"""

from __future__ import annotations

import torch
from torch import nn

from sam_core.sam1.transformer import TwoWayTransformer
from sam_core.sam2.mask_decoder import MaskDecoder
from sam_core.sam2.prompt_encoder import PromptEncoder

# Meta's build_tracker: the SAM decoder falls back to its most stable mask when asked for one.
DYNAMIC_MULTIMASK = {"dynamic_multimask_via_stability": True, "dynamic_multimask_stability_delta": 0.05,
                     "dynamic_multimask_stability_thresh": 0.98}


class Sam3TrackerHead(nn.Module):
    """The image part of Meta's Sam3TrackerBase (memory and video parts excluded).

    Arguments:
      d_model: C (256); image_size: input side (1008); backbone_stride: 14 (72 x 72 embedding);
      num_heads, mlp_dim: the two-way transformer's (8, 2048).
    """

    def __init__(self, d_model: int, image_size: int, backbone_stride: int, num_heads: int = 8,
                 mlp_dim: int = 2048) -> None:
        super().__init__()
        self.image_size = image_size
        side = image_size // backbone_stride
        self.sam_prompt_encoder = PromptEncoder(embed_dim=d_model, image_embedding_size=(side, side),
                                                input_image_size=(image_size, image_size), mask_in_chans=16)
        self.sam_mask_decoder = MaskDecoder(
            num_multimask_outputs=3,
            # sam3's TwoWayTransformer keeps SAM 1's token MLP (`mlp.lin1/lin2`), unlike sam2's (`mlp.layers`)
            transformer=TwoWayTransformer(depth=2, embedding_dim=d_model, mlp_dim=mlp_dim, num_heads=num_heads),
            transformer_dim=d_model, iou_head_depth=3, iou_head_hidden_dim=256, use_high_res_features=True,
            iou_prediction_use_sigmoid=True, pred_obj_scores=True, pred_obj_scores_mlp=True,
            use_multimask_token_for_obj_ptr=True, **DYNAMIC_MULTIMASK)
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, d_model))
        # SAM2ImagePredictor reads these from the model it drives:
        self.directly_add_no_mem_embed = True

    @property
    def device(self) -> torch.device:
        return self.no_mem_embed.device

    def image_features(self, tracker_backbone_out: dict) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """The tracker neck's maps (finest first) -> {"image_embed": [B, C, 72, 72] + no_mem_embed,
        "high_res_feats": [conv_s0(288 map), conv_s1(144 map)]}, what the mask decoder takes."""
        fine, middle, coarse = tracker_backbone_out["backbone_fpn"]
        embed = coarse + self.no_mem_embed.view(1, -1, 1, 1)
        return {"image_embed": embed,
                "high_res_feats": [self.sam_mask_decoder.conv_s0(fine), self.sam_mask_decoder.conv_s1(middle)]}
