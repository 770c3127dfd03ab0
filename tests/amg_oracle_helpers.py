"""Test-only scaffolding to run Meta's SamAutomaticMaskGenerator (the oracle) on sam_core models.

Meta's package imports torchvision at module level; `tests.torchvision_stub` provides it (its greedy
`batched_nms` is a correct reference). Meta's generator hands float64 point tensors to predict_torch;
sam_core's predictor casts them as Meta's prompt encoder does (tests/test_equivalence_official.py).
"""

from __future__ import annotations

import torch

from sam_core import SamPredictor
from tests.torchvision_stub import install_torchvision_stub

install_torchvision_stub()


def meta_generator(model, **params):
    """Meta's SamAutomaticMaskGenerator driving `model` through sam_core's predictor."""
    from segment_anything import SamAutomaticMaskGenerator as MetaGenerator

    generator = MetaGenerator(model, **params)
    generator.predictor = SamPredictor(model)
    return generator


def brute_force_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    """NMS by definition, pair by pair in Python: keep a box unless a kept higher-scored box overlaps
    it with IoU > threshold."""
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    kept: list[int] = []
    for i in order:
        ok = True
        for j in kept:
            a, b = boxes[i].tolist(), boxes[j].tolist()
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = iw * ih
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            if union > 0 and inter / union > threshold:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept
