"""The training forward pass: K prompts over B images, with every decoder layer's outputs.

`Sam3Image.forward_grounding` returns the last layer only (what inference needs); deep supervision needs
each layer's query logits, boxes and presence logit. This runs the same modules in the same order
(tests/test_concept_training.py checks its last layer equals forward_grounding's outputs).
"""

from __future__ import annotations

import numpy as np
import torch

from sam_core.sam3.geometry_encoder import GeometricPrompt
from sam_core.sam3.sam3_image import Sam3Image
from sam_core.training.concepts.data import ConceptPrompt, xyxy_to_cxcywh


def per_prompt_backbone(backbone_out: dict, image_index: torch.Tensor) -> dict:
    """Repeat each image's features for its prompts: every [B, ...] map -> [K, ...] (K = len(image_index))."""
    return {"vision_features": backbone_out["vision_features"][image_index],
            "vision_pos_enc": [p[image_index] for p in backbone_out["vision_pos_enc"]],
            "backbone_fpn": [f[image_index] for f in backbone_out["backbone_fpn"]]}


def geometric_prompt(prompts: list[ConceptPrompt], size: int, device: torch.device | str) -> GeometricPrompt:
    """At most one exemplar box per prompt, padded: boxes [1, K, 4] (or [0, K, 4] if none has one)."""
    k = len(prompts)
    geo = GeometricPrompt.empty(k, device)
    if not any(p.box is not None for p in prompts):
        return geo
    boxes = torch.from_numpy(xyxy_to_cxcywh(np.array([p.box if p.box is not None else (0, 0, size, size)
                                                      for p in prompts]), size)).to(device)
    geo.boxes = boxes[None]  # 1 x K x 4
    geo.box_labels = torch.ones(1, k, dtype=torch.long, device=device)
    geo.box_mask = torch.tensor([[p.box is None] for p in prompts], dtype=torch.bool, device=device)  # K x 1
    return geo


def grounding_all_layers(model: Sam3Image, backbone_out: dict, prompt: GeometricPrompt) -> dict:
    """forward_grounding, keeping every layer.

    Returns:
      {"logits": [L, K, Q], "boxes": [L, K, Q, 4] (cx, cy, w, h), "presence": [L, K],
       "masks": [K, Q, h, w] last-layer mask logits}.
    """
    from sam_core.sam3.common import inverse_sigmoid

    tokens, token_mask = model.encode_prompt(backbone_out, prompt)
    image_tokens, image_pos, feat_size = model._image_tokens(backbone_out)
    encoded = model.transformer.encoder(image_tokens, image_pos, tokens, token_mask)
    dec = model.transformer.decoder(encoded["memory"], encoded["pos_embed"], feat_size, tokens, token_mask)
    hs = dec["hs"]  # L x K x Q x C
    logits = model.dot_prod_scoring(hs, tokens, token_mask)[..., 0]  # L x K x Q
    boxes = (inverse_sigmoid(dec["reference_boxes"]) + model.transformer.decoder.bbox_embed(hs)).sigmoid()
    seg = model.segmentation_head(backbone_out["backbone_fpn"], hs[-1], encoded["memory"], tokens, token_mask)
    return {"logits": logits, "boxes": boxes, "presence": dec["presence_logits"][..., 0], "masks": seg["pred_masks"]}


def forward_prompts(model: Sam3Image, pixels: torch.Tensor, prompts: list[ConceptPrompt]) -> dict:
    """pixels [B, 3, S, S] in [-1, 1]; prompts over those images -> grounding_all_layers' outputs (K prompts)
    and "vision_features": the images' detector features [B, d, h, w] (for the alignment loss)."""
    device = pixels.device
    backbone = model.backbone.forward_image(pixels)
    index = torch.tensor([p.image_index for p in prompts], device=device)
    out = per_prompt_backbone(backbone, index)
    out.update(model.backbone.forward_text([p.text for p in prompts], device=device))
    grounding = grounding_all_layers(model, out, geometric_prompt(prompts, pixels.shape[-1], device))
    return {**grounding, "vision_features": backbone["vision_features"]}
