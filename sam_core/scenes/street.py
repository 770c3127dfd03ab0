"""Street scene: buildings, a pavement with trees, kerbs, a road and 2-5 cars of several colours that
may occlude one another (parts "window" and "wheel")."""

from __future__ import annotations

import numpy as np

from .canvas import Canvas, blob_pts, darker, jitter
from .textures import COARSE, FBM, FINE, LEAFY, WOOD

CARS = {"red": (185, 30, 35), "blue": (35, 70, 165), "white": (230, 230, 232), "black": (30, 30, 34),
        "silver": (165, 168, 175), "yellow": (230, 190, 40), "green": (40, 120, 70), "orange": (225, 110, 30)}
BUILDINGS = [(170, 150, 130), (200, 185, 160), (140, 110, 95), (180, 180, 185), (120, 120, 130)]


def _car(cv: Canvas, rng: np.random.Generator, x0: float, yb: float, length: float, road: int) -> int:
    """Draw a car standing on y = yb; returns the material id of its shadow (part of the road)."""
    cname = list(CARS)[int(rng.integers(len(CARS)))]
    col = jitter(rng, CARS[cname], 10)
    L = length
    facing = 1 if rng.random() < 0.5 else -1

    def P(u, v):  # car coords: u along the car (0 = rear, 1 = front), v up in units of L
        x = x0 + (u if facing > 0 else 1 - u) * L
        return (x, yb - v * L)

    shadow = cv.shadow_of(road, 0.5)
    cv.ellipse(x0 + L / 2, yb - 0.005 * L, L * 0.55, L * 0.05, shadow)
    wr = 0.105 * L
    body = cv.material(col, tex=FINE, amp=3, amp2=0.05, center=P(0.5, 0.35), radius=L * 0.5,
                       grad=(0, -0.45), radial=-0.1)
    cabin_h = rng.uniform(0.14, 0.2)
    roof0, roof1 = rng.uniform(0.26, 0.34), rng.uniform(0.62, 0.7)
    sill = 0.26
    cv.poly([P(0.0, 0.07), P(0.01, 0.2), P(0.05, sill), P(roof0 - 0.08, sill + 0.01), P(roof0, sill + cabin_h),
             P(roof1, sill + cabin_h), P(roof1 + 0.1, sill + 0.01), P(0.97, sill - 0.03), P(1.0, 0.16),
             P(0.99, 0.07)], body)
    glass = [(70, 90, 110), (40, 50, 60), (110, 130, 150)][int(rng.integers(3))]
    wins = []
    mid = (roof0 + roof1) / 2
    for a, b in ((roof0 - 0.05, mid - 0.01), (mid + 0.01, roof1 + 0.06)):
        wm = cv.material(jitter(rng, glass, 10), tex=COARSE, amp=(25, 25, 30), center=P(a, sill + cabin_h),
                         radius=L * 0.2, grad=(0.2, 0.3))
        ta, tb = max(a, roof0 + 0.015), min(b, roof1 - 0.015)
        cv.poly([P(a, sill + 0.02), P(b, sill + 0.02), P(tb, sill + cabin_h - 0.02), P(ta, sill + cabin_h - 0.02)],
                wm)
        wins.append(wm)
    trim = cv.material(darker(col, 0.55), tex=FINE, amp=2)
    cv.rect(min(P(0.02, 0)[0], P(0.98, 0)[0]), yb - 0.13 * L, max(P(0.02, 0)[0], P(0.98, 0)[0]), yb - 0.11 * L,
            trim)
    lamp_f = cv.material(jitter(rng, (240, 235, 200), 8), tex=FINE, amp=2)
    lamp_r = cv.material(jitter(rng, (200, 30, 30), 10), tex=FINE, amp=2)
    cv.ellipse(*P(0.97, 0.19), 0.025 * L, 0.018 * L, lamp_f)
    cv.ellipse(*P(0.02, 0.2), 0.015 * L, 0.02 * L, lamp_r)
    wheels = []
    for u in (0.2, 0.8):
        tyre = cv.material(jitter(rng, (28, 28, 30), 5), tex=FINE, amp=3)
        hub = cv.material(jitter(rng, (150, 150, 155), 10), tex=FINE, amp=4, center=P(u - 0.03, 0.135), radius=wr,
                          radial=-0.3)
        cx, cy = P(u, 0.105)
        cv.ellipse(cx, cy, wr, wr, tyre)
        cv.ellipse(cx, cy, wr * 0.55, wr * 0.55, hub)
        wheels.append((tyre, hub))
    car = cv.obj("car", f"{cname} car", "object", [body, trim, lamp_f, lamp_r], color=cname)
    for wm in wins:
        cv.obj("window", f"{cname} car window", "part", [wm], parent=car)
    for tyre, hub in wheels:
        cv.obj("wheel", "car wheel", "part", [tyre, hub], parent=car)
    return shadow


def _tree(cv: Canvas, rng: np.random.Generator, x: float, yb: float, h: float) -> None:
    bark = cv.material(jitter(rng, (85, 60, 40), 12), tex=WOOD, amp=(10, 8, 6), amp2=0.15, center=(x - 3, yb),
                       radius=6, grad=(0.1, 0))
    w = h * rng.uniform(0.05, 0.08)
    cv.poly([(x - w, yb), (x + w, yb), (x + w * 0.6, yb - h * 0.7), (x - w * 0.6, yb - h * 0.7)], bark)
    leaf = cv.material(jitter(rng, (60, 110, 50), 15), tex=LEAFY, amp=(22, 30, 15), amp2=0.1,
                       center=(x - h * 0.2, yb - h * 0.9), radius=h * 0.5, radial=-0.3)
    cv.poly(blob_pts(rng, x, yb - h * 0.78, h * rng.uniform(0.3, 0.42), h * rng.uniform(0.28, 0.36), 0.2), leaf)
    tree = cv.obj("tree", "tree", "object", [leaf])
    cv.obj("trunk", "tree trunk", "part", [bark], parent=tree)


def draw_street(cv: Canvas, rng: np.random.Generator) -> None:
    cv.set_view(rng, 1.3, 1.0)
    sky = cv.material(jitter(rng, (140, 180, 225), 15), tex=COARSE, amp=(20, 20, 15), grad=(0, 0.3))
    cv.fill(sky)
    hy = rng.uniform(70, 105)  # bottom of the buildings / far pavement top
    x = -10.0
    while x < 260:
        w = rng.uniform(35, 80)
        top = rng.uniform(5, hy - 25)
        bcol = jitter(rng, BUILDINGS[int(rng.integers(len(BUILDINGS)))], 12)
        bm = cv.material(bcol, tex=FBM, amp=6, amp2=0.1, center=(x, top), radius=w, grad=(0.2, 0.1))
        cv.rect(x, top, x + w, hy + 2, bm)
        wm = cv.material(darker(bcol, 0.55), tex=COARSE, amp=(20, 20, 25))
        for wy in np.arange(top + 6, hy - 10, 14):
            for wx in np.arange(x + 5, x + w - 10, 12):
                cv.rect(wx, wy, wx + 6, wy + 8, wm)
        x += w
    pave_c = jitter(rng, (170, 165, 155), 12)
    pave = cv.material(pave_c, tex=FINE, amp=6, amp2=0.1)
    road_top = hy + rng.uniform(18, 30)
    road_bot = rng.uniform(208, 232)
    cv.rect(-2, hy, 260, road_top, pave)
    kerb_c = jitter(rng, (195, 192, 185), 10)
    kerb_far = cv.material(kerb_c, tex=FINE, amp=5)
    kerb_near = cv.material(darker(kerb_c, 1.05), tex=FINE, amp=5)
    road_m = cv.material(jitter(rng, (80, 80, 84), 12), tex=FINE, amp=6, amp2=0.15, grad=(0, 0.15))
    cv.rect(-2, road_top, 260, road_bot, road_m)
    cv.rect(-2, road_top - 3, 260, road_top, kerb_far)
    cv.rect(-2, road_bot, 260, road_bot + 5, kerb_near)
    cv.rect(-2, road_bot + 5, 260, 260, cv.material(pave_c, tex=FINE, amp=6, amp2=0.1, grad=(0, 0.1)))
    mark = cv.material(jitter(rng, (230, 228, 215), 8), tex=FINE, amp=5)
    my = road_top + (road_bot - road_top) * 0.45
    off = rng.uniform(0, 30)
    for mx in np.arange(-30 + off, 260, 30):
        cv.rect(mx, my - 1.2, mx + 16, my + 1.2, mark)
    road = cv.obj("road", "road", "object", [road_m, mark])
    cv.obj("kerb", "far kerb", "object", [kerb_far])
    cv.obj("kerb", "near kerb", "object", [kerb_near])
    for _ in range(int(rng.integers(1, 4))):
        _tree(cv, rng, rng.uniform(10, 246), road_top - 4, rng.uniform(50, 80))
    n = int(rng.integers(2, 6))
    lanes = sorted((int(rng.integers(2)) for _ in range(n)))
    shadows = []
    for lane in lanes:
        if lane == 0:
            yb, L = road_top + (road_bot - road_top) * rng.uniform(0.32, 0.42), rng.uniform(55, 75)
        else:
            yb, L = road_bot - rng.uniform(2, 8), rng.uniform(75, 105)
        shadows.append(_car(cv, rng, rng.uniform(-L * 0.3, 256 - L * 0.7), yb, L, road_m))
    cv.objs[road]["labels"] |= set(shadows)  # car shadows lie on the road: they belong to it
