r"""The SAM 3 image model: backbone, prompt encoding, fusion encoder, decoder, scoring and masks.

One grounding pass for a concept prompt (phrase and/or exemplar boxes):

    prompt  = [text tokens (32) ; geometry tokens (boxes + CLS)]               [P, B, 256]
    memory  = FusionEncoder(image tokens 72x72, prompt)                        [5184, B, 256]
    hs, box = Decoder(200 queries + presence token, memory, prompt)            6 layers
    logit_q = DotProduct(hs_q, mean(prompt));   presence = MLP(presence token)
    score_q = σ(logit_q) · σ(presence)          (Meta's processor keeps score > 0.5)
    mask_q  = MLP(hs_q) · PixelDecoder(memory, FPN)                            [B, 200, 288, 288]
"""

from __future__ import annotations

import torch
from torch import nn

from sam_core import tracing
from sam_core.sam3.common import box_cxcywh_to_xyxy, inverse_sigmoid
from sam_core.sam3.decoder import TransformerDecoder
from sam_core.sam3.fusion_encoder import TransformerEncoderFusion
from sam_core.sam3.geometry_encoder import GeometricPrompt, SequenceGeometryEncoder
from sam_core.sam3.neck import SAM3VLBackbone
from sam_core.sam3.segmentation_head import DotProductScoring, UniversalSegmentationHead


class TransformerWrapper(nn.Module):
    """Holds the fusion encoder and the decoder under Meta's names (`transformer.encoder/decoder`)."""

    def __init__(self, encoder: TransformerEncoderFusion, decoder: TransformerDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder


class Sam3Image(nn.Module):
    """SAM 3's detector for images. Submodules are injected (see build.py for the sizes)."""

    def __init__(self, backbone: SAM3VLBackbone, transformer: TransformerWrapper,
                 input_geometry_encoder: SequenceGeometryEncoder, segmentation_head: UniversalSegmentationHead,
                 dot_prod_scoring: DotProductScoring, image_size: int, tracker: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.geometry_encoder = input_geometry_encoder
        self.transformer = transformer
        self.segmentation_head = segmentation_head
        self.dot_prod_scoring = dot_prod_scoring
        self.image_size = image_size
        self.tracker = tracker  # Sam3TrackerHead for clicks (Meta: enable_inst_interactivity), else None

    @property
    def device(self) -> torch.device:
        return self.transformer.decoder.query_embed.weight.device

    def encode_prompt(self, backbone_out: dict, prompt: GeometricPrompt) -> tuple[torch.Tensor, torch.Tensor]:
        """Text tokens then geometry tokens -> ([P, B, C], padding mask [B, P])."""
        image_tokens, image_pos, feat_size = self._image_tokens(backbone_out)
        geo_tokens, geo_mask = self.geometry_encoder(prompt, image_tokens, image_pos, feat_size)
        tokens = torch.cat([backbone_out["language_features"], geo_tokens], dim=0)
        mask = torch.cat([backbone_out["language_mask"], geo_mask], dim=1)
        return tokens, mask

    @staticmethod
    def _image_tokens(backbone_out: dict) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """The 1x FPN map and its encoding as [HW, B, C] sequences, plus its (H, W)."""
        features, pos = backbone_out["backbone_fpn"][-1], backbone_out["vision_pos_enc"][-1]
        return features.flatten(2).permute(2, 0, 1), pos.flatten(2).permute(2, 0, 1), tuple(features.shape[-2:])

    def forward_grounding(self, backbone_out: dict, geometric_prompt: GeometricPrompt) -> dict:
        """Detect every instance of the prompt's concept.

        Arguments:
          backbone_out: forward_image's output updated with forward_text's (the same batch size B).
          geometric_prompt: exemplar boxes / points (GeometricPrompt.empty() for text only).
        Returns:
          {"pred_logits": [B, Q, 1], "pred_boxes": [B, Q, 4] (cx, cy, w, h in [0, 1]),
           "pred_boxes_xyxy", "presence_logit_dec": [B, 1], "pred_masks": [B, Q, 4h, 4w] logits,
           "semantic_seg": [B, 1, 4h, 4w], "queries": [B, Q, C]}.
        """
        with tracing.timed("sam3.prompt_encoder"):
            prompt, prompt_mask = self.encode_prompt(backbone_out, geometric_prompt)
        image_tokens, image_pos, feat_size = self._image_tokens(backbone_out)
        with tracing.timed("sam3.fusion_encoder"):
            encoded = self.transformer.encoder(image_tokens, image_pos, prompt, prompt_mask)
        with tracing.timed("sam3.decoder"):
            dec = self.transformer.decoder(encoded["memory"], encoded["pos_embed"], feat_size, prompt, prompt_mask)
            hs = dec["hs"]  # L x B x Q x C
            logits = self.dot_prod_scoring(hs, prompt, prompt_mask)  # L x B x Q x 1
            boxes = (inverse_sigmoid(dec["reference_boxes"]) + self.transformer.decoder.bbox_embed(hs)).sigmoid()
        out = {"pred_logits": logits[-1], "pred_boxes": boxes[-1], "pred_boxes_xyxy": box_cxcywh_to_xyxy(boxes[-1]),
               "presence_logit_dec": dec["presence_logits"][-1], "queries": hs[-1]}
        for i in range(hs.shape[0]):
            tracing.record(f"sam3.decoder.layer{i}.query_logits", logits[i, ..., 0])
        with tracing.timed("sam3.segmentation_head"):
            out.update(self.segmentation_head(backbone_out["backbone_fpn"], hs[-1], encoded["memory"],
                                              prompt, prompt_mask))
        scores = out["pred_logits"].sigmoid() * out["presence_logit_dec"].sigmoid().unsqueeze(1)
        tracing.record("sam3.presence_logit", out["presence_logit_dec"])
        tracing.record("sam3.scores", scores[..., 0])
        return out

    def predict_inst(self, state: dict, **predict_kwargs):
        """Clicks / a box on the image of a Sam3Processor `state` (Meta's Sam3Image.predict_inst).

        `predict_kwargs` are SAM2ImagePredictor.predict's (point_coords, point_labels, box, mask_input,
        multimask_output, return_logits, normalize_coords); returns (masks, iou_predictions, low_res_masks).
        """
        from sam_core.sam3.interactive_predictor import Sam3InteractivePredictor

        predictor = Sam3InteractivePredictor(self)
        predictor.set_backbone_out(state["backbone_out"], state["original_height"], state["original_width"])
        return predictor.predict(**predict_kwargs)
