"""The savanna video (the lesson's Check 2): elephants walking, one of them behind an acacia thicket.

Layout as the still savanna (sky, hills, grass, sometimes a far acacia), 2-4 elephants that walk in the
direction they face at their own speed, and in front of the first elephant (track "elephant" number 0,
the target) a near acacia tree with a thorn bush at its foot, wide enough (2.1-2.4 body lengths) to hide
it completely for a few frames mid-video: the elephant is fully visible, then partly, then hidden, then
partly again and fully visible on the other side. Every elephant covers 100-170 design px over the
video whatever its length, so short training clips and long app clips show the same event.
"""

from __future__ import annotations

import math

import numpy as np

from .canvas import Canvas, blob_pts, jitter
from .savanna import GRASS, _acacia, _elephant
from .textures import COARSE, FBM, FINE, LEAFY, WOOD


def _facing(seed: int) -> int:
    """The direction `_elephant` will pick from a generator with this seed (its first draw)."""
    return 1 if np.random.default_rng(seed).random() < 0.5 else -1


def _thicket(cv: Canvas, rng: np.random.Generator, x: float, yb: float, width: float, height: float) -> None:
    """A near acacia (trunk + flat canopy) with a dense thorn bush at its foot, hiding what is behind."""
    bark = cv.material(jitter(rng, (70, 55, 40), 10), tex=WOOD, amp=(8, 6, 4))
    h = height * 2.0
    cv.line([(x, yb), (x + rng.uniform(-5, 5), yb - h * 0.8)], max(3.0, width * 0.08), bark)
    canopy = cv.material(jitter(rng, (75, 90, 45), 10), tex=LEAFY, amp=(20, 22, 12), amp2=0.1,
                         center=(x, yb - h), radius=h, grad=(0, 0.3))
    cv.poly(blob_pts(rng, x, yb - h * 0.85, width * 0.8, h * 0.12, 0.2, 28), canopy)
    bush = cv.material(jitter(rng, (95, 105, 55), 10), tex=LEAFY, amp=(26, 28, 14), amp2=0.15,
                       center=(x, yb - height), radius=width, grad=(0, 0.25))
    cv.poly(blob_pts(rng, x, yb - height * 0.5, width * 0.5, height * 0.58, 0.08, 30), bush)
    cv.rect(x - width * 0.45, yb - height * 0.5, x + width * 0.45, yb + 2, bush)
    tree = cv.obj("tree", "acacia tree", "object", [canopy])
    cv.obj("trunk", "tree trunk", "part", [bark], parent=tree)
    cv.obj("bush", "thorn bush", "object", [bush])


def draw_savanna_walk(cv: Canvas, rng: np.random.Generator, t: int, num_frames: int, motion_seed: list) -> None:
    """Frame t of the savanna video; `rng` is re-seeded identically for every frame."""
    cv.set_view(rng, 1.2, 0.5)
    hy = rng.uniform(80, 105)
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
    if rng.random() < 0.5:
        _acacia(cv, rng, rng.uniform(20, 236), hy + rng.uniform(2, 10), rng.uniform(30, 45))
    u = t / max(num_frames - 1, 1)
    # the target: mid-depth, walking past the thicket, hidden around the middle of the video
    n = int(rng.integers(2, 5))
    depth = rng.uniform(0, 1, n)
    depth[0] = rng.uniform(0.3, 0.6)
    seeds = rng.integers(1 << 30, size=n)
    travel = rng.uniform(100, 170, n)
    start = rng.uniform(30, 226, n)
    bush_x = rng.uniform(95, 161)
    bush_w_factor = rng.uniform(2.1, 2.4)
    yf0 = hy + 20 + depth[0] * (235 - hy - 20)
    L0 = 35 + 75 * ((yf0 - hy) / (256 - hy))
    f0 = _facing(int(seeds[0]))
    start[0] = bush_x - f0 * travel[0] / 2 + rng.uniform(-0.15, 0.15) * L0
    order = np.argsort(depth)  # far to near
    thicket_drawn = False
    for k in order:
        yf = hy + 20 + depth[k] * (235 - hy - 20)
        L = 35 + 75 * ((yf - hy) / (256 - hy))
        if not thicket_drawn and depth[k] > depth[0]:
            _thicket(cv, rng, bush_x, yf0 + 6, L0 * bush_w_factor, L0 * 1.15)
            thicket_drawn = True
        x = start[k] + _facing(int(seeds[k])) * travel[k] * u
        _elephant(cv, np.random.default_rng(int(seeds[k])), float(x), float(yf), L, grass)
        if k == 0:
            cv.objs[-3]["attributes"]["role"] = "walks behind the acacia"  # -3: the elephant, then ear, trunk
    if not thicket_drawn:
        _thicket(cv, rng, bush_x, yf0 + 6, L0 * bush_w_factor, L0 * 1.15)
