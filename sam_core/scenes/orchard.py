"""Orchard scene: apple trees (trunk, foliage, leaves) with ripe red, unripe green and damaged
(brown-spotted) apples, plus a few fallen apples on the grass. The concept-prompt example."""

from __future__ import annotations

import math

import numpy as np

from .canvas import Canvas, blob_pts, darker, ellipse_pts, jitter
from .textures import COARSE, FBM, FINE, LEAFY, WOOD

RIPENESS = ("ripe", "unripe", "damaged")
RIPE = [(190, 30, 35), (170, 25, 40), (205, 55, 40), (150, 20, 30)]
UNRIPE = [(135, 185, 65), (115, 170, 55), (165, 195, 80)]
DAMAGED = [(170, 60, 40), (160, 150, 60), (185, 95, 50)]


def _apple(cv: Canvas, rng: np.random.Generator, x: float, y: float, r: float, kind: str, parent):
    if kind == "ripe":
        col, streak, cname = jitter(rng, RIPE[int(rng.integers(len(RIPE)))], 12), (30, 25, 5), "red"
    elif kind == "unripe":
        col, streak, cname = jitter(rng, UNRIPE[int(rng.integers(len(UNRIPE)))], 10), (12, 10, -5), "green"
    else:
        col, streak = jitter(rng, DAMAGED[int(rng.integers(len(DAMAGED)))], 12), (18, 15, 5)
        cname = "red" if col[0] > col[1] + 40 else "yellow"
    light = (x - r * 0.35, y - r * 0.4)
    skin = cv.material(col, tex=FBM, amp=streak, tex2=FINE, amp2=0.06, center=light, radius=r * 1.5,
                       radial=-0.45, grad=(0.0, 0.0))
    cv.ellipse(x, y, r, r * rng.uniform(0.9, 1.0), skin)
    labels = [skin]
    if kind == "damaged":
        spot_c = jitter(rng, (95, 60, 30), 12)
        for _ in range(int(rng.integers(1, 4))):
            a, d = rng.uniform(0, 2 * math.pi), rng.uniform(0, 0.55) * r
            sr = r * rng.uniform(0.18, 0.38)
            spot = cv.material(spot_c, tex=FINE, amp=10, amp2=0.2, center=(x + d * math.cos(a), y + d * math.sin(a)),
                               radius=sr * 1.2, radial=-0.4)
            cv.poly(blob_pts(rng, x + d * math.cos(a), y + d * math.sin(a), sr, sr * rng.uniform(0.7, 1.0), 0.25, 14),
                    spot)
            labels.append(spot)
    stem = cv.material(jitter(rng, (80, 55, 30), 8), tex=FINE, amp=3)
    cv.line([(x, y - r * 0.75), (x + rng.uniform(-2, 2), y - r * 1.15)], max(1.2, r * 0.14), stem)
    labels.append(stem)
    phrase = f"{kind} apple"
    return cv.obj("apple", phrase, "object", labels, parent=parent, ripeness=kind, color=cname)


def _leaf(cv: Canvas, rng: np.random.Generator, x, y, length, ang, col, parent) -> None:
    pts = []
    for t in np.linspace(0, 1, 9):
        w = length * 0.22 * math.sin(math.pi * t) ** 0.8
        pts.append((t * length, w))
    pts += [(p[0], -p[1]) for p in reversed(pts[1:-1])]
    c, s = math.cos(ang), math.sin(ang)
    pts = [(x + c * u - s * v, y + s * u + c * v) for u, v in pts]
    m = cv.material(jitter(rng, col, 12), tex=FINE, amp=6, amp2=0.08, center=(x, y), radius=length,
                    grad=(0.15 * c, 0.15 * s))
    cv.poly(pts, m)
    cv.obj("leaf", "green leaf", "part", [m], parent=parent)


def _kinds(rng: np.random.Generator, n: int) -> list[str]:
    ks = list(RIPENESS) + [RIPENESS[int(i)] for i in rng.choice(3, n - 3, p=[0.5, 0.3, 0.2])]
    return [ks[int(i)] for i in rng.permutation(len(ks))]


def draw_orchard(cv: Canvas, rng: np.random.Generator) -> None:
    cv.set_view(rng, 1.3, 0.8)
    sky = cv.material(jitter(rng, (150, 190, 230), 15), tex=COARSE, amp=(20, 20, 10), grad=(0, 0.3))
    cv.fill(sky)
    gy = rng.uniform(150, 190)
    hills = cv.material(jitter(rng, (70, 105, 70), 12), tex=LEAFY, amp=(12, 15, 10), amp2=0.1)
    cv.poly([(-5, gy)] + [(x, gy - 18 - 10 * math.sin(x / 37 + rng.uniform(0, 3))) for x in range(-5, 265, 15)]
            + [(265, gy)], hills)
    grass_c = jitter(rng, (95, 140, 60), 12)
    grass = cv.material(grass_c, tex=FINE, amp=(18, 22, 10), amp2=0.15, grad=(0, 0.2))
    cv.rect(-2, gy, 260, 260, grass)
    n_trees = 1 if rng.random() < 0.6 else 2
    centers = [rng.uniform(100, 156)] if n_trees == 1 else [rng.uniform(55, 95), rng.uniform(165, 205)]
    leaf_c = jitter(rng, (70, 120, 45), 12)
    n_apples = int(rng.integers(7, 13))
    kinds = _kinds(rng, n_apples)
    per_tree = np.array_split(np.arange(n_apples), n_trees)
    for t, tx in enumerate(centers):
        R = rng.uniform(62, 85) if n_trees == 1 else rng.uniform(45, 60)
        cy = gy - R * rng.uniform(1.0, 1.4) - 10
        base = gy + rng.uniform(2, 12)
        bark = cv.material(jitter(rng, (95, 70, 45), 12), tex=WOOD, amp=(12, 9, 6), amp2=0.2, center=(tx - 5, base),
                           radius=12, grad=(0.15, 0))
        tw = R * rng.uniform(0.1, 0.14)
        cv.ellipse(tx + 6, base, tw * 2.8, 4, cv.shadow_of(grass, 0.65))
        cv.poly([(tx - tw * 1.4, base), (tx + tw * 1.4, base), (tx + tw * 0.8, cy + R * 0.3), (tx + tw * 1.6, cy),
                 (tx - tw * 1.5, cy), (tx - tw * 0.7, cy + R * 0.3)], bark)
        foliage = cv.material(darker(leaf_c, rng.uniform(0.8, 1.0)), tex=LEAFY, amp=(28, 36, 16), amp2=0.15,
                              center=(tx - R * 0.3, cy - R * 0.5), radius=R * 1.3, radial=-0.35)
        for _ in range(int(rng.integers(4, 7))):
            a, d = rng.uniform(0, 2 * math.pi), rng.uniform(0.2, 0.55) * R
            cv.poly(blob_pts(rng, tx + d * math.cos(a), cy + d * math.sin(a) * 0.8, R * 0.55, R * 0.48, 0.2), foliage)
        cv.poly(blob_pts(rng, tx, cy, R * 0.75, R * 0.62, 0.15), foliage)
        tree = cv.obj("tree", "apple tree", "group", [foliage])
        cv.obj("trunk", "tree trunk", "part", [bark], parent=tree)
        idx = per_tree[t]
        r_app = rng.uniform(6.5, 10.5) * (1 if n_trees == 1 else 0.9)
        apples_xy = []
        for k in idx:
            for _ in range(20):  # rejection sampling: inside the canopy, not on top of another apple
                a, d = rng.uniform(0, 2 * math.pi), math.sqrt(rng.uniform(0.0, 1.0)) * R * 0.75
                ax, ay = tx + d * math.cos(a), cy + d * math.sin(a) * 0.8
                if all((ax - bx) ** 2 + (ay - by) ** 2 > (1.6 * r_app) ** 2 for bx, by in apples_xy):
                    break
            apples_xy.append((ax, ay))
            r = r_app * rng.uniform(0.85, 1.15)
            # fallen apples: a few land on the grass in front of the tree
            if kinds[k] == "damaged" and rng.random() < 0.3:
                ax, ay = tx + rng.uniform(-R, R), rng.uniform(gy + 15, 245)
                cv.ellipse(ax + 2, ay + r * 0.8, r * 1.1, r * 0.35, cv.shadow_of(grass, 0.6))
                _apple(cv, rng, ax, ay, r, kinds[k], None)
                continue
            _apple(cv, rng, ax, ay, r, kinds[k], tree)
            if rng.random() < 0.35:
                _leaf(cv, rng, ax + rng.uniform(-r, r), ay - r * 0.6, rng.uniform(10, 16),
                      rng.uniform(-math.pi, math.pi), leaf_c, tree)
        for _ in range(int(rng.integers(1, 4))):  # leaves hanging at the edge of the canopy
            a = rng.uniform(0, 2 * math.pi)
            ex, ey = ellipse_pts(tx, cy, R * 0.6, R * 0.48, n=3, a0=a, a1=a + 0.01)[0]
            _leaf(cv, rng, ex, ey, rng.uniform(11, 17), a + rng.uniform(-0.5, 0.5), darker(leaf_c, 1.2), tree)
