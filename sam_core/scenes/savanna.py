"""Savanna scene: 2-4 grey elephants (parts "ear" and "trunk") on dry grass under a wide sky, sometimes
an acacia tree on the horizon; nearer elephants are larger and may overlap farther ones."""

from __future__ import annotations

import math

import numpy as np

from .canvas import Canvas, blob_pts, darker, jitter
from .textures import COARSE, FBM, FINE, LEAFY, WOOD

GRASS = [(185, 160, 95), (160, 150, 85), (140, 140, 80), (200, 175, 110)]
SKIN = [(128, 124, 120), (140, 130, 120), (112, 110, 108), (150, 135, 118)]


def _elephant(cv: Canvas, rng: np.random.Generator, x: float, yf: float, L: float, grass: int) -> None:
    f = 1 if rng.random() < 0.5 else -1
    col = jitter(rng, SKIN[int(rng.integers(len(SKIN)))], 8)

    def P(u, v):  # elephant coords in units of L: u forward from the body centre, v down from the back
        return (x + f * u * L, yf - L * 0.95 + v * L)

    cv.ellipse(x + f * 0.1 * L, yf, L * 0.6, L * 0.06, cv.shadow_of(grass, 0.6))
    mat = dict(tex=FBM, amp=9, tex2=FINE, amp2=0.12)
    far = cv.material(darker(col, 0.8), **mat, center=P(0, 0.5), radius=L * 0.6, grad=(0, 0.2))
    skin = cv.material(col, **mat, center=P(-0.1, 0.1), radius=L * 0.7, grad=(0, 0.25), radial=-0.15)
    head_m = cv.material(col, **mat, center=P(0.45, 0.1), radius=L * 0.35, radial=-0.2)
    ear_m = cv.material(darker(col, rng.uniform(0.85, 0.95)), **mat, center=P(0.35, 0.2), radius=L * 0.3,
                        radial=-0.3, grad=(-0.2 * f, 0))
    trunk_m = cv.material(darker(col, 0.95), **mat, center=P(0.7, 0.3), radius=L * 0.4, grad=(0, 0.2))
    tusk_m = cv.material(jitter(rng, (225, 215, 190), 8), tex=FINE, amp=4)
    eye_m = cv.material((30, 28, 26), tex=FINE, amp=2)
    leg_w = 0.085
    step = rng.uniform(-0.06, 0.06)
    for u in (-0.3 + step, 0.22 - step):  # far-side legs
        cv.poly([P(u - leg_w, 0.45), P(u + leg_w, 0.45), P(u + leg_w * 0.9, 0.95), P(u - leg_w * 0.9, 0.95)], far)
    cv.line([P(-0.48, 0.28), P(-0.56, 0.6)], max(1.2, L * 0.02), skin)
    cv.ellipse(*P(-0.02, 0.35), L * 0.5, L * 0.28, skin)
    for u in (-0.36 - step, 0.28 + step):
        cv.poly([P(u - leg_w, 0.4), P(u + leg_w, 0.4), P(u + leg_w, 0.97), P(u - leg_w, 0.97)], skin)
    cv.ellipse(*P(0.47, 0.26), L * 0.2, L * 0.2, head_m)
    # trunk: a tapering curve down from the head, sometimes curled forward
    curl = rng.uniform(-0.1, 0.15)
    pts = [P(0.6, 0.3), P(0.68, 0.5), P(0.7, 0.7), P(0.68 + curl, 0.88)]
    widths = [0.12, 0.095, 0.075]
    for (a, b), w in zip(zip(pts[:-1], pts[1:], strict=True), widths, strict=True):
        cv.line([a, b], L * w, trunk_m)
    cv.poly([P(0.55, 0.42), P(0.6, 0.46), P(0.74, 0.52), P(0.6, 0.49)], tusk_m)
    cv.poly(blob_pts(rng, *P(0.3, 0.3), L * 0.15, L * 0.21, 0.12, 18), ear_m)
    cv.ellipse(*P(0.55, 0.22), max(0.8, L * 0.014), max(0.8, L * 0.014), eye_m)
    size = "baby elephant" if L < 55 else "grey elephant"
    el = cv.obj("elephant", size, "object", [far, skin, head_m, tusk_m, eye_m])
    cv.obj("ear", "elephant ear", "part", [ear_m], parent=el)
    cv.obj("trunk", "elephant trunk", "part", [trunk_m], parent=el)


def _acacia(cv: Canvas, rng: np.random.Generator, x: float, yb: float, h: float) -> None:
    bark = cv.material(jitter(rng, (70, 55, 40), 10), tex=WOOD, amp=(8, 6, 4))
    top = yb - h
    cv.line([(x, yb), (x + rng.uniform(-4, 4), top + h * 0.2)], max(1.5, h * 0.06), bark)
    for dx in (-0.35, 0.3):
        cv.line([(x, yb - h * 0.45), (x + dx * h, top + h * 0.12)], max(1.0, h * 0.035), bark)
    canopy = cv.material(jitter(rng, (75, 90, 45), 10), tex=LEAFY, amp=(20, 22, 12), amp2=0.1,
                         center=(x, top), radius=h, grad=(0, 0.3))
    cv.poly(blob_pts(rng, x, top + h * 0.08, h * rng.uniform(0.6, 0.8), h * 0.13, 0.2, 28), canopy)
    tree = cv.obj("tree", "acacia tree", "object", [canopy])
    cv.obj("trunk", "tree trunk", "part", [bark], parent=tree)


def draw_savanna(cv: Canvas, rng: np.random.Generator) -> None:
    cv.set_view(rng, 1.35, 0.8)
    hy = rng.uniform(85, 125)
    sky = cv.material(jitter(rng, (120, 165, 215), 15), tex=COARSE, amp=(25, 20, 10),
                      center=(128, hy), radius=hy, grad=(0, -0.25))
    cv.fill(sky)
    hills = cv.material(jitter(rng, (135, 145, 150), 12), tex=FBM, amp=6)
    ph = rng.uniform(0, 6)
    cv.poly([(-5, hy + 2)] + [(x, hy - 6 - 5 * math.sin(x / 23 + ph) - 3 * math.sin(x / 9 + ph))
                              for x in range(-5, 266, 10)] + [(265, hy + 2)], hills)
    gcol = jitter(rng, GRASS[int(rng.integers(len(GRASS)))], 12)
    grass = cv.material(gcol, tex=FINE, amp=(22, 20, 12), tex2=COARSE, amp2=0.15, center=(128, hy),
                        radius=256 - hy, grad=(0, 0.15))
    cv.rect(-2, hy, 260, 260, grass)
    if rng.random() < 0.6:
        _acacia(cv, rng, rng.uniform(20, 236), hy + rng.uniform(2, 10), rng.uniform(35, 60))
    n = int(rng.integers(2, 5))
    depth = np.sort(rng.uniform(0, 1, n))
    xs = rng.uniform(40, 216, n)
    for t, x in zip(depth, xs, strict=True):
        yf = hy + 20 + t * (235 - hy - 20)
        L = 35 + 75 * ((yf - hy) / (256 - hy))
        _elephant(cv, rng, float(x), float(yf), L, grass)
