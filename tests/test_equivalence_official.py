"""sam_core == Meta's segment-anything 1.0 and transformers' SamModel, with identical random weights.

The oracles are test-only dependencies. Weights are random but shaped like trained ones (absolute and
relative position tables ~ N(0, 0.02)), so the comparison is not dominated by a chaotic initialisation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core import SamPredictor, build_sam
from sam_core.sam1.build import build_reference_sam
from tests.conftest import require
from tests.torchvision_stub import install_torchvision_stub

install_torchvision_stub()
segment_anything = require("segment_anything")

REL_TOL = 1e-4

PROMPTS = {
    "one positive point": dict(point_coords=np.array([[342, 517]]), point_labels=np.array([1])),
    "positive + negative points": dict(point_coords=np.array([[342, 517], [700, 210]]), point_labels=np.array([1, 0])),
    "box": dict(box=np.array([120, 260, 610, 830])),
    "box + point": dict(
        box=np.array([120, 260, 610, 830]), point_coords=np.array([[342, 517]]), point_labels=np.array([1])
    ),
}


def _max_rel_diff(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))


def _randomise_like_trained(model: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "rel_pos" in name or "pos_embed" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)


@pytest.fixture(scope="module")
def official_and_ours(tmp_path_factory):
    torch.manual_seed(0)
    official = segment_anything.sam_model_registry["vit_b"]().eval()
    _randomise_like_trained(official, seed=1)
    path = tmp_path_factory.mktemp("ckpt") / "sam_vit_b_random.pth"
    torch.save(official.state_dict(), path)
    ours = build_sam("vit_b", checkpoint=path)
    return official, ours


@pytest.fixture(scope="module")
def square_image():
    rng = np.random.default_rng(0)
    # Smooth blobs + noise: something with structure, longest side 1024 (no resizing).
    yy, xx = np.mgrid[0:1024, 0:1024]
    base = np.stack([np.sin(xx / 90.0), np.cos(yy / 70.0), np.sin((xx + yy) / 130.0)], -1)
    image = (127 + 100 * base + rng.normal(0, 12, base.shape)).clip(0, 255).astype(np.uint8)
    return image


@pytest.fixture(scope="module")
def encoded(official_and_ours, square_image):
    official, ours = official_and_ours
    reference = segment_anything.SamPredictor(official)
    predictor = SamPredictor(ours)
    reference.set_image(square_image)
    predictor.set_image(square_image)
    return reference, predictor


@pytest.mark.slow
def test_image_embedding_matches(encoded):
    reference, predictor = encoded
    diff = _max_rel_diff(reference.get_image_embedding(), predictor.get_image_embedding())
    assert diff <= REL_TOL, diff


@pytest.mark.slow
@pytest.mark.parametrize("multimask", [True, False], ids=["multimask", "single"])
@pytest.mark.parametrize("prompt", list(PROMPTS), ids=list(PROMPTS))
def test_prompts_match(encoded, prompt, multimask):
    reference, predictor = encoded
    ref_masks, ref_scores, ref_logits = reference.predict(**PROMPTS[prompt], multimask_output=multimask)
    masks, scores, logits = predictor.predict(**PROMPTS[prompt], multimask_output=multimask)
    assert logits.shape == ref_logits.shape == ((3 if multimask else 1), 256, 256)
    assert masks.shape == ref_masks.shape and masks.dtype == ref_masks.dtype == bool
    assert _max_rel_diff(ref_logits, logits) <= REL_TOL
    assert _max_rel_diff(ref_scores, scores) <= REL_TOL
    assert (masks == ref_masks).mean() >= 0.999


@pytest.mark.slow
def test_mask_input_from_previous_prediction(encoded):
    reference, predictor = encoded
    first = PROMPTS["one positive point"]
    _, ref_scores, ref_logits = reference.predict(**first, multimask_output=True)
    previous = ref_logits[np.argmax(ref_scores)][None]  # [1, 256, 256]
    follow_up = dict(point_coords=np.array([[342, 517], [420, 560]]), point_labels=np.array([1, 1]))
    r = reference.predict(**follow_up, mask_input=previous, multimask_output=False)
    o = predictor.predict(**follow_up, mask_input=previous, multimask_output=False)
    assert _max_rel_diff(r[2], o[2]) <= REL_TOL
    assert _max_rel_diff(r[1], o[1]) <= REL_TOL


@pytest.mark.slow
def test_resized_image_masks_agree(official_and_ours):
    official, ours = official_and_ours
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:480, 0:733]
    image = np.stack([127 + 100 * np.sin(xx / 40.0), 127 + 100 * np.cos(yy / 30.0), rng.integers(0, 255, xx.shape)], -1)
    image = image.clip(0, 255).astype(np.uint8)
    reference, predictor = segment_anything.SamPredictor(official), SamPredictor(ours)
    reference.set_image(image)
    predictor.set_image(image)
    assert predictor.input_size == reference.input_size and predictor.original_size == reference.original_size
    for prompt in PROMPTS.values():
        scaled = {k: (v * 0.45 if k in ("point_coords", "box") else v) for k, v in prompt.items()}
        ref_masks, _, _ = reference.predict(**scaled)
        masks, _, _ = predictor.predict(**scaled)
        assert masks.shape == ref_masks.shape == (3, 480, 733)
        assert (masks == ref_masks).mean() >= 0.99


def test_predict_before_set_image_is_a_clear_error():
    predictor = SamPredictor(build_reference_sam("vit_b"))
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.predict(point_coords=np.array([[1, 1]]), point_labels=np.array([1]))


def test_state_dict_keys_identical_to_official():
    official = segment_anything.sam_model_registry["vit_b"]()
    ours = build_reference_sam("vit_b")
    ref = {k: tuple(v.shape) for k, v in official.state_dict().items()}
    mine = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert mine == ref


def test_decoder_matches_official_to_rounding():
    """Given the same embedding and prompts: prompt tokens are bit-for-bit Meta's; the decoder's outputs
    agree to float32 rounding (its attention is Meta's explicit softmax; the upscaling LayerNorm2d uses the
    fused layer_norm kernel, whose summation order differs from Meta's mean/var code by ~1e-7)."""
    torch.manual_seed(0)
    official = segment_anything.sam_model_registry["vit_b"]().eval()
    ours = build_reference_sam("vit_b")
    ours.load_state_dict(official.state_dict())
    embedding = torch.randn(1, 256, 64, 64)
    points = (torch.tensor([[[342.0, 517.0], [600.0, 100.0]]]), torch.tensor([[1, 0]]))
    box = torch.tensor([[100.0, 200.0, 500.0, 700.0]])
    with torch.no_grad():
        for model_a, model_b in ((official, ours),):
            sa, da = model_a.prompt_encoder(points=points, boxes=box, masks=None)
            sb, db = model_b.prompt_encoder(points=points, boxes=box, masks=None)
            assert torch.equal(sa, sb) and torch.equal(da, db)
            la, ia = model_a.mask_decoder(embedding, model_a.prompt_encoder.get_dense_pe(), sa, da, True)
            lb, ib = model_b.mask_decoder(embedding, model_b.prompt_encoder.get_dense_pe(), sb, db, True)
            assert _max_rel_diff(la.numpy(), lb.numpy()) <= 1e-5
            assert _max_rel_diff(ia.numpy(), ib.numpy()) <= 1e-5


@pytest.mark.slow
def test_predict_torch_accepts_float64_points_as_meta_does(encoded):
    """Meta's automatic mask generator passes float64 point grids (torch.as_tensor of numpy) to
    predict_torch, a batch of one-point prompts; Meta's prompt encoder casts them, and so must ours."""
    reference, predictor = encoded
    points = torch.tensor([[[342.0, 517.0]], [[700.25, 210.5]], [[10.0, 1000.0]]], dtype=torch.float64)
    labels = torch.ones(points.shape[:2], dtype=torch.int)
    ref_masks, ref_scores, ref_low = reference.predict_torch(points, labels, multimask_output=True, return_logits=True)
    masks, scores, low = predictor.predict_torch(points, labels, multimask_output=True, return_logits=True)
    assert low.shape == ref_low.shape == (3, 3, 256, 256) and low.dtype == torch.float32
    assert _max_rel_diff(ref_low.numpy(), low.numpy()) <= REL_TOL
    assert _max_rel_diff(ref_scores.numpy(), scores.numpy()) <= REL_TOL
    assert _max_rel_diff(ref_masks.numpy(), masks.numpy()) <= REL_TOL
