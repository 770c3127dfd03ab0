"""The focal-loss trace: exact values from [focal_trace], the plan's errata, and sam_core's own loss."""

from __future__ import annotations

import math

import pytest

from lesson_content.examples import default_examples
from lesson_content.focal_trace import fmt, fmt_ratio, focal_curves, focal_trace


def test_defaults_give_the_corrected_numbers():
    trace = focal_trace(default_examples()["focal_trace"])
    values = trace.values
    assert values["easy_loss"] == "0.000128"
    assert values["hard_loss"] == "1.865"
    assert values["ratio"] == "14,545"  # not the plan's 14,600 or ~14,000
    assert values["easy_ce"] == "0.0513"  # -ln 0.95, not the plan's 0.051
    assert values["hard_ce"] == "2.303"
    # The plan's written form (1-p)^g * ln p has the same size and the opposite sign.
    assert values["easy_plan_style"] == "-0.000128"
    assert values["hard_plan_style"] == "-1.865"


def test_trace_is_exact_against_math():
    cfg = {"p_easy": 0.95, "p_hard": 0.1, "gamma": 2.0, "alpha": 0.25}
    trace = focal_trace(cfg)
    easy = (1 - 0.95) ** 2 * -math.log(0.95)
    hard = (1 - 0.1) ** 2 * -math.log(0.1)
    assert trace.easy.loss == pytest.approx(easy, rel=1e-12)
    assert trace.hard.loss == pytest.approx(hard, rel=1e-12)
    assert trace.ratio == pytest.approx(hard / easy, rel=1e-12)
    # alpha is class-dependent (1 - alpha on the background pixel), so it changes the ratio by alpha / (1 - alpha).
    assert trace.ratio_with_alpha == pytest.approx(hard / easy * 0.25 / 0.75, rel=1e-12)


def test_trace_follows_the_config():
    trace = focal_trace({"p_easy": 0.9, "p_hard": 0.2, "gamma": 1.0, "alpha": 0.5})
    assert trace.easy.loss == pytest.approx(0.1 * -math.log(0.9), rel=1e-12)
    assert trace.hard.loss == pytest.approx(0.8 * -math.log(0.2), rel=1e-12)
    assert trace.values["ratio"] == fmt_ratio(trace.hard.loss / trace.easy.loss)
    # gamma = 0 is plain cross-entropy: the ratio is the cross-entropy ratio.
    ce = focal_trace({"p_easy": 0.95, "p_hard": 0.1, "gamma": 0.0, "alpha": 0.25})
    assert ce.ratio == pytest.approx(ce.ce_ratio, rel=1e-12)


def test_formatting_never_uses_exponents():
    assert fmt(0.000128233) == "0.000128"
    assert fmt(9.617e-05) == "0.0000962"
    assert fmt(1.865094) == "1.865"
    assert fmt(0.0025) == "0.0025"
    assert fmt_ratio(14544.54) == "14,545"


def test_curves_shapes_and_gamma_zero_is_cross_entropy():
    curves = focal_curves(0.25, (0.0, 2.0), points=50)
    assert curves["p_t"].shape == (50,)
    assert curves["gamma=0"] == pytest.approx(-__import__("numpy").log(curves["p_t"]))
    assert (curves["gamma=2"] <= curves["gamma=0"]).all()


def test_sam_core_focal_loss_agrees_with_the_trace():
    from lesson_content.focal_trace import real_focal_on_pixels

    cfg = default_examples()["focal_trace"]
    real = real_focal_on_pixels(cfg)
    trace = focal_trace(cfg)
    assert real["easy"] == pytest.approx(trace.easy.loss_with_alpha, rel=1e-4)
    assert real["hard"] == pytest.approx(trace.hard.loss_with_alpha, rel=1e-4)
