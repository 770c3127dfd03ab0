"""Sam3InteractivePredictor: clicks and boxes on the SAM 3 backbone (Meta's SAM3InteractiveImagePredictor).

    model = build_sam3("sam3", checkpoint="sam3.pt", enable_inst_interactivity=True)
    predictor = Sam3InteractivePredictor(model)
    predictor.set_image(rgb_uint8_array)
    masks, ious, low_res = predictor.predict(point_coords=[[520, 300]], point_labels=[1])

It is SAM2ImagePredictor (same predict arguments and outputs) driving the SAM 3 tracker head
(sam_core.sam3.tracker_head): the image goes through SAM 3's preprocessing (1008 x 1008, values in
[-1, 1]) and ViT once, shared with the concept detector when it comes from a Sam3Processor state.
One addition of Meta's: holes of at most `max_hole_area` low-res pixels (256 of 288 x 288) in a mask
are filled before it is upsampled to the image (8-connected background components).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from sam_core import tracing
from sam_core.prompts import BOX_BOTTOM_RIGHT, BOX_TOP_LEFT
from sam_core.sam2.image_predictor import SAM2ImagePredictor
from sam_core.sam3.processor import preprocess_image
from sam_core.sam3.sam3_image import Sam3Image

MAX_HOLE_AREA = 256.0  # Meta's SAM3InteractiveImagePredictor default
HOLE_FILL_MARGIN = 10.0  # a filled hole gets the logit threshold + 10, as in Meta's SAM2Transforms


def fill_small_holes(mask_logits: torch.Tensor, threshold: float, max_area: float) -> torch.Tensor:
    """[B, C, h, w] logits -> the same with every background component (logit <= threshold, 8-connected)
    of at most `max_area` pixels set to threshold + 10, i.e. turned into foreground."""
    background = (mask_logits <= threshold).flatten(0, 1).cpu().numpy()
    holes = np.zeros_like(background)
    for i, plane in enumerate(background):
        labels, count = ndimage.label(plane, structure=np.ones((3, 3), dtype=bool))
        if count:
            areas = np.bincount(labels.ravel())
            small = areas <= max_area
            small[0] = False  # label 0 is the foreground
            holes[i] = small[labels]
    holes_t = torch.from_numpy(holes).to(mask_logits.device).view_as(mask_logits)
    return torch.where(holes_t, torch.full_like(mask_logits, threshold + HOLE_FILL_MARGIN), mask_logits)


class Sam3InteractivePredictor(SAM2ImagePredictor):
    """Arguments:
      model: a Sam3Image built with enable_inst_interactivity=True (it has `.tracker` and a tracker neck);
      mask_threshold: logit threshold of the binary masks (0); max_hole_area: 256 (0 switches filling off).
    """

    def __init__(self, model: Sam3Image, mask_threshold: float = 0.0, max_hole_area: float = MAX_HOLE_AREA) -> None:
        if getattr(model, "tracker", None) is None:
            raise ValueError("this SAM 3 model has no tracker head: build it with enable_inst_interactivity=True")
        self.image_model = model
        self.max_hole_area = max_hole_area
        super().__init__(model.tracker, mask_threshold)

    @torch.no_grad()
    def set_image(self, image) -> None:
        """Embed an RGB image (PIL, HWC uint8 array or CHW uint8 tensor) with SAM 3's ViT and tracker neck."""
        self.reset_predictor()
        pixels, height, width = preprocess_image(image, self.resolution, self.device)
        self.set_backbone_out(self.image_model.backbone.forward_image(pixels), height, width)

    @torch.no_grad()
    def set_backbone_out(self, backbone_out: dict, height: int, width: int) -> None:
        """Use a backbone output computed already (a Sam3Processor state's "backbone_out")."""
        if backbone_out.get("sam2_backbone_out") is None:
            raise ValueError("the backbone output has no tracker features (build with enable_inst_interactivity=True)")
        self._features = self.model.image_features(backbone_out["sam2_backbone_out"])
        self._orig_hw = [(int(height), int(width))]
        self._is_image_set = True

    @torch.no_grad()
    def _predict(self, point_coords, point_labels, boxes=None, mask_input=None, multimask_output=True,
                 return_logits=False):
        """SAM2ImagePredictor._predict with Meta's hole filling between the decoder and the upsampling."""
        points = (point_coords, point_labels) if point_coords is not None else None
        if boxes is not None:  # a box is two corner points, placed before the clicks
            box_labels = torch.tensor([[BOX_TOP_LEFT, BOX_BOTTOM_RIGHT]], dtype=torch.int, device=boxes.device)
            box_labels = box_labels.repeat(boxes.shape[0], 1)
            if points is not None:
                points = (torch.cat([boxes, points[0]], dim=1), torch.cat([box_labels, points[1]], dim=1))
            else:
                points = (boxes, box_labels)
        with tracing.timed("sam3.tracker_head"):
            sparse, dense = self.model.sam_prompt_encoder(points=points, boxes=None, masks=mask_input)
            low_res_masks, iou_predictions, _, object_score = self.model.sam_mask_decoder(
                image_embeddings=self._features["image_embed"], image_pe=self.model.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=multimask_output,
                repeat_image=points is not None and points[0].shape[0] > 1,
                high_res_features=self._features["high_res_feats"])
        self.last_object_score_logits = object_score
        filled = low_res_masks.float()
        if self.max_hole_area > 0:
            filled = fill_small_holes(filled, self.mask_threshold, self.max_hole_area)
        masks = F.interpolate(filled, self._orig_hw[0], mode="bilinear", align_corners=False)
        low_res_masks = torch.clamp(low_res_masks, -32.0, 32.0)
        if not return_logits:
            masks = masks > self.mask_threshold
        return masks, iou_predictions, low_res_masks
