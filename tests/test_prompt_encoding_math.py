"""The prompt-encoding numbers come out right by construction (the lesson plan's errata included)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch

from lesson_content import prompt_encoding as pe
from lesson_content.examples import default_examples

CLICK = default_examples()["prompt_click"]


def test_default_click_is_the_plans_click():
    assert (CLICK["x"], CLICK["y"], CLICK["image_size"]) == (342, 517, 1024)


def test_plan_normalisation_is_exact():
    click = pe.plan_click(342, 517, 1024)
    assert click.p_x == sp.Rational(171, 512) and click.p_y == sp.Rational(517, 1024)
    assert f"{click.p_y_float:.5f}" == "0.50488"
    assert (click.p_x_rounded, click.p_y_rounded) == (0.334, 0.5049)


def test_errata_cos_pi_p_y_is_minus_0_0153_not_minus_0_016():
    terms = pe.plan_terms(342, 517, 1024, 2)
    cos_y = pe.plan_term(terms, 0, "y", "cos")
    assert f"{cos_y.exact:.4f}" == "-0.0153"
    assert f"{cos_y.exact:.3f}" == "-0.015"  # the plan's "-0.016" is wrong at 3 decimals too
    assert cos_y.exact == pytest.approx(math.cos(math.pi * 517 / 1024), abs=1e-15)
    # the plan evaluates at p_y rounded to 0.5049: that moves the 4th decimal
    assert f"{cos_y.at_rounded_p:.4f}" == "-0.0154"


def test_errata_band_values_at_the_plans_rounded_p_x():
    terms = pe.plan_terms(342, 517, 1024, 2)
    got = {(t.band, t.fn): f"{t.at_rounded_p:.4f}" for t in terms if t.coord == "x"}
    assert got == {(0, "sin"): "0.8671", (0, "cos"): "0.4982", (1, "sin"): "0.8639", (1, "cos"): "-0.5036"}


def test_exact_band_values_at_the_exact_p_x():
    terms = pe.plan_terms(342, 517, 1024, 2)
    got = {(t.band, t.fn): f"{t.exact:.4f}" for t in terms if t.coord == "x"}
    assert got == {(0, "sin"): "0.8670", (0, "cos"): "0.4982", (1, "sin"): "0.8640", (1, "cos"): "-0.5035"}
    for t in terms:
        expected = getattr(math, t.fn)(2 ** t.band * math.pi * (342 if t.coord == "x" else 517) / 1024)
        assert t.exact == pytest.approx(expected, abs=1e-14)
        assert abs(t.float32 - t.exact) < 1e-6  # low bands are fine in float32


def test_latex_shows_the_exact_argument():
    terms = pe.plan_terms(342, 517, 1024, 1)
    assert "\\frac{517 \\pi}{1024}" in pe.plan_term(terms, 0, "y", "cos").latex


def test_plan_vector_matches_its_pseudocode_layout():
    v = pe.plan_vector_float32(342, 517, 1024, 128)
    assert v.shape == (512,) and v.dtype == torch.float32
    assert float(v[0]) == pytest.approx(math.sin(math.pi * 342 / 1024), abs=1e-6)
    assert float(v[128 * 3]) == pytest.approx(math.cos(math.pi * 517 / 1024), abs=1e-6)


def test_float32_bands_break_down_near_k_24():
    for p in (sp.Rational(342, 1024), sp.Rational(517, 1024), sp.Rational(1, 3)):
        b = pe.float32_breakdown(p, 128)
        assert 20 <= b.k_meaningless <= 28, b.k_meaningless
        assert 20 <= b.k_ulp_ge_one <= 26, b.k_ulp_ge_one
        assert np.all(b.max_error[:12] < 1e-3)
        # beyond the breakdown float32 is noise around exact values
        assert np.nanmax(b.max_error[b.k_meaningless:]) > 0.5


def test_exact_plan_bands_are_constant_beyond_the_pixel_grid():
    # p = x / 1024: sin(2^k pi p) = 0 for every k >= 10, i.e. the plan's high bands carry nothing
    b = pe.float32_breakdown(sp.Rational(517, 1024), 128)
    assert b.k_exact_constant == 10
    assert np.all(b.sin_exact[10:] == 0) and np.all(np.abs(b.cos_exact[10:]) == 1)
    assert pe.float32_breakdown(sp.Rational(1, 3), 64).k_exact_constant is None


def test_real_path_matches_sams_formula_and_the_models_code():
    from sam_core.sam1.build import sam_model_registry

    torch.manual_seed(0)
    model = sam_model_registry["nano"]().eval()
    real = pe.real_point_from_model(model, 342, 517, 1024)
    size = model.prompt_encoder.input_image_size[0]
    scale = size / 1024
    assert real.coords_input == pytest.approx((342 * scale, 517 * scale))
    assert real.p == pytest.approx(((342 * scale + 0.5) / size, (517 * scale + 0.5) / size))
    assert real.u == pytest.approx((2 * real.p[0] - 1, 2 * real.p[1] - 1))
    g = model.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix.double().numpy()
    angles = 2 * math.pi * (np.array(real.u) @ g)
    assert np.allclose(real.pe, np.concatenate([np.sin(angles), np.cos(angles)]))
    assert real.dim == model.prompt_encoder.embed_dim
    assert np.abs(pe.model_point_pe(model, 342, 517, 1024) - real.pe).max() < 1e-5


def test_real_path_for_sam_vit_h_on_a_1024_image_has_no_resize():
    g = torch.randn(2, 128, generator=torch.Generator().manual_seed(1))
    real = pe.real_point_encoding(g, 342, 517, 1024, 1024)
    assert real.p_exact == (sp.Rational(685, 2048), sp.Rational(1035, 2048))
    assert real.dim == 256


def test_box_is_two_corner_tokens_and_mask_is_downscaled():
    from sam_core.sam1.build import sam_model_registry

    model = sam_model_registry["nano"]().eval()
    box = pe.box_tokens(model, (450, 380, 930, 815), 1024)
    c = model.prompt_encoder.embed_dim
    assert box.tokens_shape == (1, 2, c) and box.pe.shape == (2, c) and box.type_labels == (2, 3)
    assert pe.point_tokens_shape(model) == (1, 2, c)  # a click + the padding point
    shapes = pe.mask_downscaling_shapes(model.prompt_encoder)
    h, w = model.prompt_encoder.image_embedding_size
    assert shapes[0][1] == (1, 1, 4 * h, 4 * w) and shapes[-1][1] == (1, c, h, w)
