"""Why the lesson plan's deterministic 2^k bands fail: exact sympy values vs its float32 pseudocode.

For a click p = x / S the plan's bands are sin/cos(2^k pi p), k = 0 .. L-1. Exactly, every band from
k = log2(S) on is sin = 0, cos = +-1 for every pixel (no information). In float32 the angle 2^k pi p
cannot even be stored once the spacing of float32 numbers near it passes a radian (k around 23), and
sin/cos become noise. SAM's random Gaussian frequencies never get there. Imports no Streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
import torch

EXACT_DIGITS = 30  # significant digits sympy evaluates exact values to


@dataclass(frozen=True)
class Float32Breakdown:
    """Band-by-band comparison for one coordinate p: float32 (the plan's pseudocode) vs exact sympy."""

    p: sp.Rational
    bands: np.ndarray  # k = 0 .. L-1
    angle_exact: np.ndarray  # 2^k pi p as float64 (display only)
    angle_error: np.ndarray  # |float32 angle - exact angle| in radians, computed exactly
    angle_ulp: np.ndarray  # spacing of float32 numbers at that angle
    sin_f32: np.ndarray
    sin_exact: np.ndarray
    cos_f32: np.ndarray
    cos_exact: np.ndarray
    k_ulp_ge_one: int | None  # first k whose float32 angle cannot even be written to within 1 rad
    k_meaningless: int | None  # first k where float32 sin or cos is off by more than `tolerance`
    k_exact_constant: int | None  # first k from which the exact terms are sin = 0, cos = +-1
    tolerance: float

    @property
    def max_error(self) -> np.ndarray:
        return np.maximum(np.abs(self.sin_f32 - self.sin_exact), np.abs(self.cos_f32 - self.cos_exact))


@lru_cache(maxsize=32)
def float32_breakdown(p: sp.Rational, bands: int = 128, tolerance: float = 0.1) -> Float32Breakdown:
    """Compare the plan's float32 bands with exact values for k = 0 .. bands-1 (p a sympy Rational)."""
    ks = np.arange(bands)
    p32 = torch.tensor(float(p), dtype=torch.float32)
    freqs = 2.0 ** torch.arange(bands, dtype=torch.float32)
    angles32 = p32 * freqs * math.pi  # [bands], exactly as the plan's pseudocode
    sin32, cos32 = angles32.sin().numpy().astype(np.float64), angles32.cos().numpy().astype(np.float64)
    angle_exact = np.empty(bands)
    angle_error = np.empty(bands)
    sin_exact = np.empty(bands)
    cos_exact = np.empty(bands)
    k_constant = None
    for k in ks:
        exact_angle = sp.Integer(2) ** int(k) * sp.pi * p
        angle_exact[k] = float(sp.N(exact_angle, EXACT_DIGITS))
        a32 = float(angles32[k])
        if math.isfinite(a32):
            # the float32 angle is an exact binary fraction: subtract in high precision
            angle_error[k] = float(abs(sp.N(sp.Rational(a32) - exact_angle, EXACT_DIGITS + 40)))
        else:
            angle_error[k] = math.inf
        s, c = sp.sin(exact_angle), sp.cos(exact_angle)
        sin_exact[k], cos_exact[k] = float(sp.N(s, EXACT_DIGITS)), float(sp.N(c, EXACT_DIGITS))
        if k_constant is None and s == 0:
            k_constant = int(k)
    ulp = np.spacing(np.abs(angles32.numpy())).astype(np.float64)
    err = np.maximum(np.abs(sin32 - sin_exact), np.abs(cos32 - cos_exact))
    err = np.where(np.isfinite(err), err, np.inf)
    k_ulp = next((int(k) for k in ks if ulp[k] >= 1.0), None)
    k_bad = next((int(k) for k in ks if err[k] > tolerance), None)
    if k_constant is not None and any(sp.sin(sp.Integer(2) ** int(k) * sp.pi * p) != 0 for k in ks[k_constant:]):
        k_constant = None  # a lone zero, not the start of a constant tail
    return Float32Breakdown(p, ks, angle_exact, angle_error, ulp, sin32, sin_exact, cos32, cos_exact,
                            k_ulp, k_bad, k_constant, tolerance)


def grid_constant_band(image_size: int) -> int | None:
    """First band k from which sin(2^k pi x / S) = 0 for EVERY pixel x (S a power of two), else None."""
    if image_size > 0 and image_size & (image_size - 1) == 0:
        return image_size.bit_length() - 1
    return None
