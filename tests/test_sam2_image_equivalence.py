"""SAM 2 image path vs Meta's sam2 on identical random weights: logits, IoUs, object scores <= 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core.sam2.image_predictor import SAM2ImagePredictor
from tests.test_sam2_oracle import build_meta, ours_like, randomize_, require_oracle

TOL = 1e-4


def _image(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)


def _compare(image_size: int, image_hw: tuple[int, int]) -> dict[str, float]:
    meta_image_predictor_cls, _ = require_oracle()
    torch.manual_seed(0)
    meta = build_meta("hiera_tiny", image_size, video=False)
    randomize_(meta)
    ours = ours_like(meta, "hiera_tiny", image_size)
    meta_pred, our_pred = meta_image_predictor_cls(meta), SAM2ImagePredictor(ours)
    # Meta's predictor hard-codes the 1024-px feature sizes; give it those of image_size
    meta_pred._bb_feat_sizes = [(image_size // s, image_size // s) for s in (4, 8, 16)]
    image = _image(image_hw)
    meta_pred.set_image(image)
    our_pred.set_image(image)
    h, w = image_hw
    prompts = {
        "point_multi": dict(point_coords=np.array([[w * 0.4, h * 0.55]]), point_labels=np.array([1]), multimask_output=True),
        "point_single": dict(point_coords=np.array([[w * 0.4, h * 0.55]]), point_labels=np.array([1]), multimask_output=False),
        "box_single": dict(box=np.array([w * 0.2, h * 0.3, w * 0.7, h * 0.8]), multimask_output=False),
        "box_point_multi": dict(
            box=np.array([w * 0.2, h * 0.3, w * 0.7, h * 0.8]), point_coords=np.array([[w * 0.5, h * 0.5], [w * 0.3, h * 0.4]]),
            point_labels=np.array([1, 0]), multimask_output=True,
        ),
    }
    errors = {"embedding": (our_pred.get_image_embedding() - meta_pred.get_image_embedding()).abs().max().item()}
    for name, prompt in prompts.items():
        m_masks, m_iou, m_low = meta_pred.predict(**prompt, return_logits=True)
        o_masks, o_iou, o_low = our_pred.predict(**prompt, return_logits=True)
        assert o_low.shape == m_low.shape and o_masks.shape == m_masks.shape == (m_low.shape[0], h, w)
        errors[f"{name}.low_res"] = float(np.abs(o_low - m_low).max())
        errors[f"{name}.iou"] = float(np.abs(o_iou - m_iou).max())
    # object score and pointer: the SAM heads on the same (no-memory) image features
    with torch.no_grad():
        points = {"point_coords": torch.tensor([[[image_size * 0.4, image_size * 0.55]]]), "point_labels": torch.tensor([[1]])}
        meta_out = meta._forward_sam_heads(
            meta_pred._features["image_embed"], point_inputs=points,
            high_res_features=meta_pred._features["high_res_feats"], multimask_output=True,
        )
        our_out = ours._forward_sam_heads(
            our_pred._features["image_embed"], point_inputs=points,
            high_res_features=our_pred._features["high_res_feats"], multimask_output=True,
        )
    errors["object_score"] = (our_out[6] - meta_out[6]).abs().max().item()
    errors["obj_ptr"] = (our_out[5] - meta_out[5]).abs().max().item()
    errors["heads.low_res"] = (our_out[0] - meta_out[0]).abs().max().item()
    return errors


def test_image_predictor_matches_meta_small():
    """hiera_tiny layout at 256 px (the default run's variant)."""
    errors = _compare(256, (200, 300))
    assert max(errors.values()) <= TOL, errors


@pytest.mark.slow
def test_image_predictor_matches_meta_1024():
    """hiera_tiny at Meta's 1024 px."""
    errors = _compare(1024, (480, 640))
    assert max(errors.values()) <= TOL, errors
