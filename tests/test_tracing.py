"""Tracing records the promised intermediates of one real forward pass and does not change its result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core import SamPredictor
from sam_core.sam1.build import NANO_DECODER, build_reference_sam
from sam_core.sam1.transformer import Attention
from sam_core.tracing import trace


@pytest.fixture(scope="module")
def predictor():
    p = SamPredictor(build_reference_sam("nano", seed=0))
    rng = np.random.default_rng(0)
    p.set_image(rng.integers(0, 255, (200, 300, 3), dtype=np.uint8))
    return p


def test_attention_fused_and_explicit_paths_agree():
    torch.manual_seed(0)
    attn = Attention(128, 4, downsample_rate=2)
    q, k = torch.randn(3, 7, 128), torch.randn(3, 4096, 128)
    assert not attn.use_fused  # the decoder's default: Meta's explicit softmax
    explicit = attn(q, k, k)
    attn.use_fused = True
    fused = attn(q, k, k)
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)


def test_trace_does_not_change_result(predictor):
    kwargs = dict(point_coords=np.array([[120, 80], [40, 150]]), point_labels=np.array([1, 0]))
    masks, scores, logits = predictor.predict(**kwargs)
    with trace():
        t_masks, t_scores, t_logits = predictor.predict(**kwargs)
    np.testing.assert_array_equal(masks, t_masks)
    np.testing.assert_array_equal(scores, t_scores)
    np.testing.assert_array_equal(logits, t_logits)


def test_trace_records_every_promised_intermediate(predictor):
    with trace() as t:
        predictor.predict(point_coords=np.array([[120, 80]]), point_labels=np.array([1]))
    grid = NANO_DECODER.embedding_grid  # 32: the nano image embedding is 32 x 32
    c, hw, low = 128, grid * grid, 4 * grid  # low-res masks: 4x the grid, as in SAM (64 -> 256)
    tokens = 5 + 2  # IoU + 4 mask tokens + the point + the padding point
    expected = {
        "prompt.coords_input": (1, 2, 2),
        "prompt.coords_normalized": (1, 2, 2),
        "prompt.coords_unit": (1, 2, 2),
        "prompt.gaussian_matrix": (2, c // 2),
        "prompt.fourier_angles": (1, 2, c // 2),
        "prompt.point_pe": (1, 2, c),
        "prompt.point_labels": (1, 2),
        "prompt.type_embedding": (1, 2, c),
        "prompt.sparse_embeddings": (1, 2, c),
        "prompt.dense_embeddings": (1, c, grid, grid),
        "decoder.tokens_in": (1, tokens, c),
        "decoder.final_token_to_image": (1, 4, tokens, hw),
        "decoder.tokens_out": (1, tokens, c),
        "decoder.upscaled_features": (1, c // 8, low, low),
        "decoder.hypernetwork_out": (1, 4, c // 8),
        "decoder.low_res_logits_all": (1, 4, low, low),
        "decoder.iou_pred_all": (1, 4),
    }
    for layer in (0, 1):
        expected[f"decoder.layer{layer}.self_attn"] = (1, 4, tokens, tokens)
        expected[f"decoder.layer{layer}.token_to_image"] = (1, 4, tokens, hw)
        expected[f"decoder.layer{layer}.image_to_token"] = (1, 4, hw, tokens)
    shapes = t.shapes()
    for name, shape in expected.items():
        assert shapes.get(name) == shape, (name, shapes.get(name))
    # attention rows are distributions
    rows = t.records["decoder.layer0.token_to_image"].sum(-1)
    torch.testing.assert_close(rows, torch.ones_like(rows))
    assert {"prompt_encoder", "mask_decoder", "postprocess"} <= set(t.timings_ms)


def test_trace_values_follow_the_formula(predictor):
    """point_pe = [sin | cos](2*pi * ((xy + 0.5) / size * 2 - 1) @ G), recomputed by hand."""
    with trace() as t:
        predictor.predict(point_coords=np.array([[150, 100]]), point_labels=np.array([1]))
    xy = t.records["prompt.coords_input"][0, 0]
    size = predictor.model.prompt_encoder.input_image_size
    unit = ((xy + 0.5) / torch.tensor([size[1], size[0]])) * 2 - 1
    angles = 2 * torch.pi * unit @ t.records["prompt.gaussian_matrix"]
    torch.testing.assert_close(t.records["prompt.point_pe"][0, 0], torch.cat([angles.sin(), angles.cos()]))
    # the image was resized from 300 wide to 256: x = 150 * 256 / 300
    assert float(xy[0]) == pytest.approx(150 * 256 / 300, abs=1e-4)


def test_encoder_runs_are_counted(predictor):
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    with trace() as t:
        predictor.set_image(image)
        for _ in range(3):
            predictor.predict(point_coords=np.array([[10, 10]]), point_labels=np.array([1]))
    assert t.counts["image_encoder"] == 1
    assert "image_encoder" in t.timings_ms
