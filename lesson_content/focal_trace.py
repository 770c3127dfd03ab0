"""The focal-loss trace on two pixels, computed exactly (sympy), and the curves behind the sliders.

The lesson plan traces an easy pixel (the model is 95 % sure of the correct class) and a hard one
(10 % sure) and writes `(1 - p_t)^gamma * log(p_t)`, dropping both the minus sign and alpha. Here the
trace follows `[focal_trace]` in the traced-example config, keeps the minus sign, and shows alpha
separately, because in SAM's focal loss alpha is class-dependent (alpha for foreground pixels,
1 - alpha for background pixels) and so it DOES change the easy/hard ratio when the two pixels are of
different classes, as the plan's two are.

    trace = focal_trace(examples["focal_trace"])
    trace.easy.loss_text, trace.hard.loss_text, trace.ratio_text     # "0.000128", "1.865", "14,545"

Imports no Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

PRECISION = 30  # significant digits sympy evaluates to before anything is rounded for display


def fmt(value: float) -> str:
    """Display rule for traced values: 3 significant digits below 1, 3 decimals from 1 up.

    fmt(0.000128233) -> "0.000128", fmt(1.86509) -> "1.865", fmt(0.0025) -> "0.0025", fmt(0.81) -> "0.81".
    """
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    if abs(value) < 1:
        decimals = 2 - math.floor(math.log10(abs(value)))  # 3 significant digits, never "e-05"
        text = f"{value:.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{value:,.3f}"


def fmt_param(value: float) -> str:
    """A parameter as typed: 2.0 -> "2", 0.25 -> "0.25"."""
    return f"{value:g}"


def fmt_ratio(value: float) -> str:
    """A ratio as a whole number with thousands separators: 14544.6 -> "14,545"."""
    return f"{round(value):,}"


def _exact(value: float) -> sp.Rational:
    """The decimal the instructor typed, as an exact rational (0.95 -> 19/20, not the nearest double)."""
    return sp.Rational(repr(float(value)))


@dataclass(frozen=True)
class PixelTrace:
    """One pixel of the trace: p_t (probability of the correct class) and each factor of its loss."""

    p_t: float
    one_minus_p: float  # 1 - p_t
    focusing: float  # (1 - p_t)^gamma
    cross_entropy: float  # -ln(p_t), positive
    loss: float  # (1 - p_t)^gamma * (-ln p_t), alpha set aside
    alpha_t: float  # alpha for a foreground pixel, 1 - alpha for a background pixel
    loss_with_alpha: float  # alpha_t * loss: what SAM's focal loss gives this pixel
    plan_style: float  # the plan's written form (1 - p_t)^gamma * ln(p_t): the same size, negative

    @property
    def texts(self) -> dict[str, str]:
        return {
            "p": fmt_param(self.p_t),
            "one_minus_p": fmt(self.one_minus_p),
            "focusing": fmt(self.focusing),
            "ce": fmt(self.cross_entropy),
            "loss": fmt(self.loss),
            "alpha_t": fmt_param(self.alpha_t),
            "loss_alpha": fmt(self.loss_with_alpha),
            "plan_style": fmt(self.plan_style),
        }


@dataclass(frozen=True)
class FocalTrace:
    gamma: float
    alpha: float
    easy: PixelTrace  # a correctly classified BACKGROUND pixel (the plan's easy pixel)
    hard: PixelTrace  # a misclassified FOREGROUND pixel (the plan's hard pixel)
    ratio: float  # hard.loss / easy.loss (alpha set aside, as the plan's figure)
    ratio_with_alpha: float  # hard.loss_with_alpha / easy.loss_with_alpha
    ce_ratio: float  # the same ratio for plain cross-entropy (gamma = 0)

    @property
    def ratio_text(self) -> str:
        return fmt_ratio(self.ratio)

    @property
    def values(self) -> dict[str, str]:
        """Every number of the trace as display text, for the prose templates (prefix easy_/hard_)."""
        out = {"gamma": fmt_param(self.gamma), "alpha": fmt_param(self.alpha), "ratio": self.ratio_text,
               "ratio_alpha": fmt_ratio(self.ratio_with_alpha), "ce_ratio": fmt(self.ce_ratio),
               "one_minus_alpha": fmt_param(1 - self.alpha)}
        for name, pixel in (("easy", self.easy), ("hard", self.hard)):
            out.update({f"{name}_{k}": v for k, v in pixel.texts.items()})
        return out


def _pixel(p_t: float, gamma: float, alpha_t: float) -> PixelTrace:
    p, g, a = _exact(p_t), _exact(gamma), _exact(alpha_t)
    focusing = (1 - p) ** g
    ce = -sp.log(p)
    loss = focusing * ce
    return PixelTrace(
        p_t=float(p),
        one_minus_p=float(sp.N(1 - p, PRECISION)),
        focusing=float(sp.N(focusing, PRECISION)),
        cross_entropy=float(sp.N(ce, PRECISION)),
        loss=float(sp.N(loss, PRECISION)),
        alpha_t=float(a),
        loss_with_alpha=float(sp.N(a * loss, PRECISION)),
        plan_style=float(sp.N(focusing * sp.log(p), PRECISION)),
    )


def focal_trace(config: Mapping[str, Any]) -> FocalTrace:
    """Trace `[focal_trace]` (p_easy, p_hard, gamma, alpha): exact values, rounded only for display.

    The easy pixel is background (y = 0, so alpha_t = 1 - alpha), the hard one foreground (alpha_t = alpha),
    matching the plan's "correctly classified background pixel" and "misclassified foreground pixel".
    """
    gamma, alpha = float(config["gamma"]), float(config["alpha"])
    easy = _pixel(float(config["p_easy"]), gamma, 1 - alpha)
    hard = _pixel(float(config["p_hard"]), gamma, alpha)
    ce_ratio = float(sp.N(sp.log(_exact(config["p_hard"])) / sp.log(_exact(config["p_easy"])), PRECISION))
    ratio = hard.loss / easy.loss if easy.loss > 0 else math.inf
    ratio_alpha = hard.loss_with_alpha / easy.loss_with_alpha if easy.loss_with_alpha > 0 else math.inf
    return FocalTrace(gamma, alpha, easy, hard, ratio, ratio_alpha, ce_ratio)


def focal_curves(alpha: float, gammas: tuple[float, ...], points: int = 200) -> dict[str, np.ndarray]:
    """Per-pixel focal loss against p_t for several gammas (what the sliders redraw).

    Returns {"p_t": [points], "gamma=<g>": loss with alpha set aside, "fg gamma=<g>" / "bg gamma=<g>":
    alpha_t-weighted loss for a foreground / background pixel}. p_t runs over (0, 1) exclusive.
    """
    p_t = np.linspace(0.0, 1.0, points + 2)[1:-1]
    ce = -np.log(p_t)
    out: dict[str, np.ndarray] = {"p_t": p_t}
    for gamma in gammas:
        base = (1.0 - p_t) ** gamma * ce
        out[f"gamma={gamma:g}"] = base
        out[f"fg gamma={gamma:g}"] = alpha * base
        out[f"bg gamma={gamma:g}"] = (1.0 - alpha) * base
    return out


def real_focal_on_pixels(config: Mapping[str, Any]) -> dict[str, float]:
    """Run sam_core.losses.focal_loss (the function training uses) on the two traced pixels alone.

    The logits are chosen so that sigmoid gives the traced probabilities: the easy pixel is background
    (target 0, foreground probability 1 - p_easy), the hard one foreground (target 1, probability p_hard).
    Returns {"easy": per-pixel loss, "hard": per-pixel loss, "ratio": hard / easy}.
    """
    import torch

    from sam_core import losses

    p_fg = torch.tensor([1.0 - float(config["p_easy"]), float(config["p_hard"])], dtype=torch.float64)
    logits = torch.log(p_fg) - torch.log1p(-p_fg)
    targets = torch.tensor([0.0, 1.0], dtype=torch.float64)
    per_pixel = []
    for i in range(2):
        value = losses.focal_loss(logits[i].reshape(1, 1, 1), targets[i].reshape(1, 1, 1),
                                  alpha=float(config["alpha"]), gamma=float(config["gamma"]))
        per_pixel.append(float(value.reshape(-1)[0]))
    easy, hard = per_pixel
    return {"easy": easy, "hard": hard, "ratio": hard / easy if easy > 0 else math.inf}
