"""Region-text alignment: the embedded SAM 3's small stand-in for pre-training its image encoder with text.

SAM 3's image encoder (the Perception Encoder) learned from image-text pairs before it learned to detect, so
it knows what "red" looks like. The nano trunk learned only to draw masks (the embedded SAM 1) and keeps
little absolute colour (`benchmarks.attribute_probe`), so no head after it can tell "red car" from "blue
car". This auxiliary loss asks for that knowledge directly, on the detector's own features:

    region r   = the image features [d, h, w] averaged over object r's mask (area-weighted cells)   [R, d]
    phrase p   = the text features [L, d] averaged over the phrase's tokens                        [P, d]
    logits     = cos(region, phrase) / TEMPERATURE                                                 [R, P]
    loss       = mean over regions of  -log sum_{p in phrases_of(r)} softmax(logits[r])_p

P is every training phrase, so a red car's region must score "red car" (or "car") above "blue car", "red
coffee mug" and the rest: colour and noun both have to be in the features. Objects of a held-out
composition are left out, as everywhere in training. No parameters of its own: nothing is added to the
exported model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sam_core.scenes.base import Scene
from sam_core.scenes.concepts import TRAIN_PHRASES, phrases_of

TEMPERATURE = 0.1
PHRASE_INDEX = {p: i for i, p in enumerate(TRAIN_PHRASES)}


@dataclass(frozen=True)
class Region:
    """One object of a training image: its mask bool [H, W] and the indices (into TRAIN_PHRASES) of the
    phrases it answers to."""

    image_index: int
    mask: np.ndarray
    phrases: tuple[int, ...]


def scene_regions(scene: Scene, image_index: int) -> list[Region]:
    """Every object of `scene` whose own phrase is a training phrase (held-out compositions left out)."""
    regions = []
    for obj in scene.objects:
        if obj.phrase not in PHRASE_INDEX or not obj.mask.any():
            continue
        regions.append(Region(image_index, obj.mask, tuple(PHRASE_INDEX[p] for p in phrases_of(obj)
                                                           if p in PHRASE_INDEX)))
    return regions


def pooled_regions(features: torch.Tensor, regions: list[Region]) -> torch.Tensor:
    """features [B, d, h, w] -> [R, d]: each region's mask, area-pooled to h x w, as weights over the cells."""
    size = features.shape[-2:]
    masks = torch.from_numpy(np.stack([r.mask for r in regions]).astype(np.float32)).to(features.device)
    cover = F.adaptive_avg_pool2d(masks[:, None], size)[:, 0]  # R x h x w, fraction of each cell covered
    weights = cover / cover.sum((1, 2), keepdim=True).clamp_min(1e-6)
    index = torch.tensor([r.image_index for r in regions], device=features.device)
    return torch.einsum("rhw,rdhw->rd", weights, features[index])


def pooled_phrases(language_features: torch.Tensor, language_mask: torch.Tensor) -> torch.Tensor:
    """language_features [L, P, d], language_mask [P, L] (True = padding) -> [P, d], the mean over tokens."""
    keep = (~language_mask).T.unsqueeze(-1).to(language_features.dtype)  # L x P x 1
    return (language_features * keep).sum(0) / keep.sum(0).clamp_min(1.0)


def alignment_loss(region_features: torch.Tensor, phrase_features: torch.Tensor, regions: list[Region],
                   temperature: float = TEMPERATURE) -> torch.Tensor:
    """The module docstring's loss: region_features [R, d], phrase_features [P, d] -> scalar."""
    logits = F.normalize(region_features, dim=-1) @ F.normalize(phrase_features, dim=-1).T / temperature
    positive = torch.zeros_like(logits, dtype=torch.bool)
    for i, r in enumerate(regions):
        positive[i, list(r.phrases)] = True
    log_p = logits.log_softmax(-1)
    return -(log_p.masked_fill(~positive, float("-inf")).logsumexp(-1)).mean()


def model_alignment_loss(model, vision_features: torch.Tensor, regions: list[Region],
                         temperature: float = TEMPERATURE) -> torch.Tensor:
    """Alignment loss of `model`'s image features [B, d, h, w] against its text features of TRAIN_PHRASES."""
    if not regions:
        return vision_features.sum() * 0.0
    text = model.backbone.forward_text(list(TRAIN_PHRASES), device=vision_features.device)
    phrases = pooled_phrases(text["language_features"], text["language_mask"])
    return alignment_loss(pooled_regions(vision_features, regions), phrases, regions, temperature)
