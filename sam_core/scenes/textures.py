"""Noise textures shared by every scene: one fixed bank per output size, computed once and cached.

The bank holds a few float32 fields of shape [2*size, 2*size] (twice the image, so a scene can crop
any size x size window at a random offset and the same bank serves every material with no repeats
visible). Wavelengths are given in "design pixels" (a 256-px image), so textures look the same at
every output size.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

# Field indices in the bank.
FBM = 0  # fractal value noise, wavelengths 64..8 design px, ~N(0, 0.5)
COARSE = 1  # large-scale blotches (lighting / dirt), ~N(0, 0.5)
FINE = 2  # high-frequency speckle (grass, fabric, skin pores), ~N(0, 0.5)
WOOD = 3  # horizontal streaks (wood grain, brushed metal), ~N(0, 0.5)
CLOUD = 4  # soft clouds in [0, 1] (0 = clear)
LEAFY = 5  # clumpy foliage, in [-1, 1]
GAUSS = 6  # per-pixel N(0, 1) sensor noise
N_FIELDS = 7


def _value_noise(rng: np.random.Generator, n: int, wavelength_y: float, wavelength_x: float) -> np.ndarray:
    """Random grid of roughly (2*256 / wavelength) cells per axis, bicubically upsampled to n x n."""
    cy = max(2, round(512 / wavelength_y))
    cx = max(2, round(512 / wavelength_x))
    grid = rng.random((cy, cx), dtype=np.float32)
    return np.asarray(Image.fromarray(grid, mode="F").resize((n, n), Image.BICUBIC), dtype=np.float32)


def _fbm(rng: np.random.Generator, n: int, wavelengths: list[float], aniso: float = 1.0) -> np.ndarray:
    out = np.zeros((n, n), np.float32)
    amp = 1.0
    for w in wavelengths:
        out += amp * _value_noise(rng, n, w, w * aniso)
        amp *= 0.55
    out -= out.mean()
    out *= 0.5 / (out.std() + 1e-6)
    return out


@lru_cache(maxsize=4)
def noise_bank(size: int) -> np.ndarray:
    """The texture bank for an output of size x size: float32 [N_FIELDS, 2*size, 2*size], read-only."""
    n = 2 * size
    rng = np.random.default_rng(20240607)
    bank = np.empty((N_FIELDS, n, n), np.float32)
    bank[FBM] = _fbm(rng, n, [64, 32, 16, 8])
    bank[COARSE] = _fbm(rng, n, [160, 80])
    bank[FINE] = _fbm(rng, n, [5, 2.5])
    wood = _fbm(rng, n, [40, 14, 6], aniso=14.0)
    wobble = _fbm(rng, n, [90])
    yy = np.arange(n, dtype=np.float32)[:, None] * (256.0 / size)
    wood += 0.5 * np.sin(yy * 0.9 + wobble * 6.0)
    bank[WOOD] = wood * (0.5 / wood.std())
    c = _fbm(rng, n, [120, 60, 30, 15, 7])
    bank[CLOUD] = np.clip((c + 0.05) * 1.6, 0.0, 1.0) ** 1.5
    leafy = _fbm(rng, n, [12, 6, 3])
    bank[LEAFY] = np.tanh(leafy * 2.5)
    bank[GAUSS] = rng.standard_normal((n, n), dtype=np.float32)
    bank.setflags(write=False)
    return bank


@lru_cache(maxsize=4)
def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flat per-pixel design coordinates x, y, x^2 + y^2 (float32) and the flat index of each pixel in a
    2*size-wide bank plane (intp)."""
    ys, xs = np.mgrid[0:size, 0:size]
    scale = 256.0 / size
    xd = (xs.ravel() + 0.5) * scale
    yd = (ys.ravel() + 0.5) * scale
    r2 = xd * xd + yd * yd
    idx2 = (ys.ravel() * (2 * size) + xs.ravel()).astype(np.intp)
    out = tuple(v.astype(np.float32) for v in (xd, yd, r2)) + (idx2,)
    for a in out:
        a.setflags(write=False)
    return out
