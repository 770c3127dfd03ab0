"""Sam3Processor: Meta's stateful API around the image model.

    processor = Sam3Processor(build_sam3("sam3", checkpoint=...))
    state = processor.set_image(pil_image)
    state = processor.set_text_prompt("ripe apple", state)            # every ripe apple
    state = processor.add_geometric_prompt([cx, cy, w, h], True, state)  # plus an exemplar box
    state["masks"], state["boxes"], state["scores"]

The image embedding is computed once per image; prompts re-run only the detector heads. Boxes are
normalised (cx, cy, w, h); a box without a phrase uses the phrase "visual", as Meta's processor does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sam_core import tracing
from sam_core.device import autocast_context
from sam_core.sam3.common import box_cxcywh_to_xyxy
from sam_core.sam3.geometry_encoder import GeometricPrompt
from sam_core.sam3.sam3_image import Sam3Image

TEXT_FOR_BOXES_ONLY = "visual"


def preprocess_image(image, resolution: int, device: torch.device | str) -> tuple[torch.Tensor, int, int]:
    """PIL image, HWC uint8 array or CHW uint8 tensor -> ([1, 3, S, S] in [-1, 1], height, width).

    As Meta's transform: an antialiased bilinear resize to S x S on uint8 values (rounded back to
    uint8), then x / 255, then (x - 0.5) / 0.5.
    """
    if isinstance(image, Image.Image):
        width, height = image.size
        tensor = torch.from_numpy(np.asarray(image.convert("RGB"))).permute(2, 0, 1)
    elif isinstance(image, np.ndarray):
        height, width = image.shape[:2]
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    elif isinstance(image, torch.Tensor):
        height, width = image.shape[-2:]
        tensor = image
    else:
        raise ValueError("Image must be a PIL image, a numpy array or a tensor")
    tensor = tensor.to(device)
    if tensor.dtype != torch.uint8:
        tensor = (tensor.float() * 255).round().clamp(0, 255).to(torch.uint8)
    resized = F.interpolate(tensor[None].float(), size=(resolution, resolution), mode="bilinear",
                            align_corners=False, antialias=True).round().clamp(0, 255)
    return (resized / 255.0 - 0.5) / 0.5, int(height), int(width)


class Sam3Processor:
    """Arguments:
      model: a Sam3Image; resolution: its input size (1008); device: None = the model's;
      confidence_threshold: keep detections with σ(logit)·σ(presence) above it (Meta's 0.5).

    On CUDA the forward runs under bfloat16 autocast (as Meta's does); on MPS and CPU in float32.
    As Meta's, results keep the dtype the model computed in (bfloat16 under an autocast): call
    `.float()` before `.numpy()`. None of the CUDA-only calls of seed 004 section 5.8.
    """

    def __init__(self, model: Sam3Image, resolution: int = 1008, device: str | torch.device | None = None,
                 confidence_threshold: float = 0.5) -> None:
        self.model = model
        self.resolution = resolution
        self.device = torch.device(device) if device is not None else model.device
        self.confidence_threshold = confidence_threshold

    @torch.inference_mode()
    def set_image(self, image, state: dict | None = None) -> dict:
        """Run the vision backbone once; the state keeps its output and the original size."""
        state = {} if state is None else state
        pixels, height, width = preprocess_image(image, self.resolution, self.device)
        with tracing.timed("sam3.image_encoder"), autocast_context(self.device, enabled_bf16=True):
            state["backbone_out"] = self.model.backbone.forward_image(pixels)
        state["original_height"], state["original_width"] = height, width
        return state

    @torch.inference_mode()
    def set_text_prompt(self, prompt: str, state: dict) -> dict:
        """Detect every instance of the phrase `prompt` (plus any boxes already added)."""
        if "backbone_out" not in state:
            raise ValueError("You must call set_image before set_text_prompt")
        with tracing.timed("sam3.text_encoder"), autocast_context(self.device, enabled_bf16=True):
            state["backbone_out"].update(self.model.backbone.forward_text([prompt], device=self.device))
        state.setdefault("geometric_prompt", GeometricPrompt.empty(1, self.device))
        return self._forward_grounding(state)

    @torch.inference_mode()
    def add_geometric_prompt(self, box: list[float], label: bool, state: dict) -> dict:
        """Add an exemplar box (normalised cx, cy, w, h); label True = positive, False = negative."""
        if "backbone_out" not in state:
            raise ValueError("You must call set_image before add_geometric_prompt")
        if "language_features" not in state["backbone_out"]:
            with autocast_context(self.device, enabled_bf16=True):
                text = self.model.backbone.forward_text([TEXT_FOR_BOXES_ONLY], device=self.device)
            state["backbone_out"].update(text)
        state.setdefault("geometric_prompt", GeometricPrompt.empty(1, self.device))
        boxes = torch.tensor(box, device=self.device, dtype=torch.float32).view(1, 1, 4)
        labels = torch.tensor([label], device=self.device, dtype=torch.bool).view(1, 1)
        state["geometric_prompt"].append_boxes(boxes, labels)
        return self._forward_grounding(state)

    def reset_all_prompts(self, state: dict) -> None:
        """Forget the phrase, the boxes and the results; keep the image."""
        for key in ("language_features", "language_mask", "language_embeds"):
            state.get("backbone_out", {}).pop(key, None)
        for key in ("geometric_prompt", "boxes", "masks", "masks_logits", "scores"):
            state.pop(key, None)

    @torch.inference_mode()
    def set_confidence_threshold(self, threshold: float, state: dict | None = None) -> dict | None:
        """Change the threshold; re-run the detector on `state` if it already has results."""
        self.confidence_threshold = threshold
        if state is not None and "boxes" in state:
            return self._forward_grounding(state)
        return state

    @torch.inference_mode()
    def _forward_grounding(self, state: dict) -> dict:
        """Detector heads -> state["masks"] [N, 1, H, W] bool, "masks_logits" (Meta's name; these are
        σ(mask logits)), "boxes" [N, 4] xyxy pixels, "scores" [N] (N = detections above threshold)."""
        with autocast_context(self.device, enabled_bf16=True):  # bf16 on CUDA only, as Meta runs it there
            out = self.model.forward_grounding(state["backbone_out"], state["geometric_prompt"])
        state["outputs"] = out
        probs = (out["pred_logits"].sigmoid() * out["presence_logit_dec"].sigmoid().unsqueeze(1)).squeeze(-1)
        keep = probs > self.confidence_threshold
        height, width = state["original_height"], state["original_width"]
        scale = torch.tensor([width, height, width, height], device=self.device, dtype=torch.float32)
        boxes = box_cxcywh_to_xyxy(out["pred_boxes"][keep]) * scale[None, :]
        masks = out["pred_masks"][keep].unsqueeze(1)
        if masks.numel() > 0:
            masks = F.interpolate(masks, (height, width), mode="bilinear", align_corners=False)
        else:
            masks = masks.new_zeros(0, 1, height, width)
        masks = masks.sigmoid()
        state["masks_logits"] = masks
        state["masks"] = masks > 0.5
        state["boxes"] = boxes
        state["scores"] = probs[keep]
        return state
