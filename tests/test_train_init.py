"""The from-scratch training aids in sam_core.training: the focal-weight warm-up (schedule) and the
localising init (model_setup)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lesson_content.loss_view import focal_ramp, weighted_focal
from sam_core.sam1.build import sam_model_registry
from sam_core.tracing import trace
from sam_core.training.episode import decode
from sam_core.training.model_setup import shrink_content_init, tie_cross_attention_init
from sam_core.training.schedule import focal_weight_at


def test_focal_weight_warm_up_is_flat_then_geometric_then_sams():
    ramp = (0.35, 0.75)
    assert focal_weight_at(0.0, 2.0, 20.0, ramp) == 2.0
    assert focal_weight_at(0.35, 2.0, 20.0, ramp) == 2.0
    assert focal_weight_at(0.55, 2.0, 20.0, ramp) == pytest.approx(math.sqrt(2.0 * 20.0))  # halfway
    assert focal_weight_at(0.75, 2.0, 20.0, ramp) == pytest.approx(20.0)
    assert focal_weight_at(1.0, 2.0, 20.0, ramp) == 20.0
    assert focal_weight_at(0.5, 2.0, 20.0, (1.0, 1.0)) == 2.0  # ramp never starts
    assert focal_weight_at(0.5, 20.0, 20.0, ramp) == pytest.approx(20.0)  # SAM's 20 throughout


def test_loss_page_reads_the_ramp_from_a_log():
    steps = np.arange(10, 110, 10, dtype=float)
    weight = np.array([2, 2, 2, 2, 4, 8, 16, 20, 20, 20], dtype=float)
    log = {"step": steps, "focal_weight": weight, "focal": np.full(10, 0.01)}
    ramp = focal_ramp(log)
    assert (ramp.start, ramp.end, ramp.ramp_from, ramp.ramp_to) == (2.0, 20.0, 40.0, 80.0)
    label, term = weighted_focal(log, 20.0)
    assert label == "weight × focal" and term == pytest.approx(weight * 0.01)
    old_log = {"step": steps, "focal": np.full(10, 0.01)}  # a log from before the column existed
    assert focal_ramp(old_log) is None
    assert weighted_focal(old_log, 20.0)[0] == "20 × focal"


def _point_token_attention(model, click_xy):
    """Layer-0 attention of every image position to the click's token, on a 32 x 32 grid, plus the reverse."""
    model.eval()
    image = torch.rand(1, 3, 256, 256) * 255
    with torch.no_grad():
        emb = model.image_encoder(model.preprocess(image[0])[None])
        points = (torch.tensor([[click_xy]], dtype=torch.float32), torch.ones(1, 1))
        with trace() as t:
            decode(model, emb, points, None, None)
    grid = model.prompt_encoder.image_embedding_size[0]
    token = 5  # [IoU, 4 mask tokens, the click, the padding point]
    to_token = torch.as_tensor(np.asarray(t.records["decoder.layer0.image_to_token"]))[0, :, :, token]
    from_token = torch.as_tensor(np.asarray(t.records["decoder.layer0.token_to_image"]))[0, :, token, :]
    return to_token.mean(0).reshape(grid, grid), from_token.mean(0).reshape(grid, grid), grid


def test_localising_init_makes_attention_peak_at_the_click():
    torch.manual_seed(0)
    model = sam_model_registry["nano"]()
    with torch.no_grad():
        model.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix.mul_(3.0)
    tie_cross_attention_init(model, 4.0)
    shrink_content_init(model, 0.1)
    click = (100, 140)
    to_token, from_token, grid = _point_token_attention(model, click)
    cell = (click[1] * grid // 256, click[0] * grid // 256)
    for weights in (to_token, from_token):
        peak = divmod(int(weights.argmax()), grid)
        assert abs(peak[0] - cell[0]) <= 1 and abs(peak[1] - cell[1]) <= 1, (peak, cell)
        assert weights[cell] > 5 * weights.mean()


def test_without_the_localising_init_attention_does_not_find_the_click():
    torch.manual_seed(0)
    model = sam_model_registry["nano"]()
    to_token, from_token, grid = _point_token_attention(model, (100, 140))
    cell = (140 * grid // 256, 100 * grid // 256)
    assert from_token[cell] < 3 * from_token.mean()  # SAM's init: the click's token looks everywhere
