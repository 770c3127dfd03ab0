"""What moves in a procedural video: the camera and the occluder that passes in front of the scene.

Camera: the still scene's view (zoom z0, offset o0) times an extra zoom zc(t) about the frame centre,
plus a pan p(t) (design px), clamped so the view never leaves the drawn design frame:
    zoom(t) = z0 * zc(t),  o(t) = (o0 - 128) * zc(t) + 128 + p(t)
zc(t) starts at 1.1-1.3 (room to pan) and drifts by up to +-12% (scale change); p(t) is a sine of
amplitude up to 50 px (objects near an edge leave the view and come back).

Occluders (drawn last, so they hide whatever they pass; one per kind, absent in 15% of videos):
street "bus", desk "hand", orchard "branch", person "pillar"; each crosses the frame along a straight
path over the video. The savanna's occluder is a static acacia thicket (video_savanna).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .canvas import Canvas, blob_pts, darker, jitter
from .textures import COARSE, FBM, FINE, LEAFY, WOOD

DESIGN_MARGIN = 2.0  # the still scenes paint the design frame [-2, 258]


@dataclass(frozen=True)
class Camera:
    """Per-frame extra zoom [T] and pan [T, 2] (design px) applied to a still scene's view."""

    zoom: np.ndarray
    pan: np.ndarray

    @staticmethod
    def sample(rng: np.random.Generator, num_frames: int, kind: str) -> Camera:
        u = np.linspace(0.0, 1.0, num_frames)
        z_start = rng.uniform(1.1, 1.3)
        zoom = z_start * (1.0 + rng.uniform(-0.12, 0.12) * u)
        amp = rng.uniform(0.0, 50.0) * (1.4 if kind == "orchard" else 1.0)  # the orchard clip is a pan
        cycles = rng.uniform(0.3, 1.0)
        phase = rng.uniform(0, 2 * math.pi)
        angle = rng.uniform(-0.3, 0.3)  # mostly horizontal
        wave = np.sin(phase + 2 * math.pi * cycles * u) - math.sin(phase)
        pan = np.stack([amp * math.cos(angle) * wave, amp * math.sin(angle) * wave], 1)
        return Camera(zoom=zoom, pan=pan)

    def view(self, t: int, z0: float, ox0: float, oy0: float) -> tuple[float, float, float]:
        """(zoom, ox, oy) at frame t from the still's view; clamped to stay inside the design frame."""
        zc = float(self.zoom[t])
        zoom = z0 * zc
        lo, hi = 256.0 - (256.0 + DESIGN_MARGIN) * zoom, DESIGN_MARGIN * zoom
        ox = min(max((ox0 - 128.0) * zc + 128.0 + float(self.pan[t, 0]), lo), hi)
        oy = min(max((oy0 - 128.0) * zc + 128.0 + float(self.pan[t, 1]), lo), hi)
        return zoom, ox, oy


@dataclass(frozen=True)
class OccluderPath:
    """The occluder's centre per frame (design px, [T, 2]), its scale, or None when there is none."""

    centre: np.ndarray | None
    scale: float
    colour_seed: int


def occluder_path(kind: str, rng: np.random.Generator, num_frames: int) -> OccluderPath:
    """A straight crossing, sometimes starting inside the frame; mirrored half of the time."""
    if rng.random() < 0.15:
        return OccluderPath(None, 1.0, 0)
    u = np.linspace(0.0, 1.0, num_frames)
    x0 = rng.uniform(-110.0, 90.0)
    x1 = x0 + rng.uniform(170.0, 330.0)
    if rng.random() < 0.5:
        x0, x1 = 256.0 - x0, 256.0 - x1
    y = {"street": rng.uniform(238, 252), "desk": rng.uniform(140, 220), "orchard": rng.uniform(60, 170),
         "person": rng.uniform(250, 262)}[kind]
    dy = rng.uniform(-15, 15)
    centre = np.stack([x0 + (x1 - x0) * u, y + dy * u], 1)
    return OccluderPath(centre, float(rng.uniform(0.8, 1.2)), int(rng.integers(1 << 30)))


def draw_occluder(cv: Canvas, kind: str, path: OccluderPath, t: int) -> None:
    """Draw the occluder of `kind` at frame t (an object named after it, attribute occluder=True)."""
    if path.centre is None:
        return
    rng = np.random.default_rng(path.colour_seed)  # the same colours every frame
    x, y = (float(v) for v in path.centre[t])
    {"street": _bus, "desk": _hand, "orchard": _branch, "person": _pillar}[kind](cv, rng, x, y, path.scale)


def _bus(cv: Canvas, rng: np.random.Generator, x: float, yb: float, k: float) -> None:
    length, height = 120 * k, 52 * k
    col = jitter(rng, [(200, 40, 40), (230, 190, 40), (40, 90, 170), (235, 235, 230)][int(rng.integers(4))], 10)
    body = cv.material(col, tex=FINE, amp=3, amp2=0.05, center=(x, yb - height), radius=height, grad=(0, -0.3))
    x0, x1, top = x - length / 2, x + length / 2, yb - height
    cv.poly([(x0, yb - 0.12 * height), (x0 + 4, top), (x1 - 4, top), (x1, yb - 0.12 * height)], body)
    glass = cv.material(jitter(rng, (60, 80, 100), 8), tex=COARSE, amp=(20, 20, 25), center=(x, top), radius=height)
    windows = []
    n = 5
    for i in range(n):
        wx = x0 + 10 + i * (length - 20) / n
        cv.rect(wx, top + 8 * k, wx + (length - 20) / n - 5, top + 0.45 * height, glass)
    windows.append(glass)
    tyre = cv.material((25, 25, 28), tex=FINE, amp=3)
    hub = cv.material((150, 150, 155), tex=FINE, amp=3)
    for u in (0.18, 0.8):
        cv.ellipse(x0 + u * length, yb - 0.12 * height, 0.13 * height, 0.13 * height, tyre)
        cv.ellipse(x0 + u * length, yb - 0.12 * height, 0.06 * height, 0.06 * height, hub)
    bus = cv.obj("bus", "passing bus", "object", [body], occluder=True)
    cv.obj("window", "bus windows", "part", windows, parent=bus)
    cv.obj("wheel", "bus wheels", "part", [tyre, hub], parent=bus)


def _hand(cv: Canvas, rng: np.random.Generator, x: float, y: float, k: float) -> None:
    k *= 1.6  # a hand about as wide as the mug
    skin = jitter(rng, [(225, 185, 160), (190, 140, 105), (140, 95, 70), (240, 205, 185)][int(rng.integers(4))], 8)
    palm = cv.material(skin, tex=FBM, amp=5, center=(x, y), radius=30 * k, radial=-0.2)
    sleeve = cv.material(jitter(rng, (60, 70, 110), 25), tex=FBM, amp=7, center=(x, 260), radius=80)
    cv.line([(x + 6 * k, y + 20 * k), (x + 30 * k, 265)], 34 * k, sleeve)
    cv.poly(blob_pts(rng, x, y, 24 * k, 20 * k, 0.1, 20), palm)
    for i, a in enumerate(np.linspace(-2.3, -0.9, 4)):
        r = (36 - 4 * abs(i - 1.5)) * k
        cv.line([(x, y), (x + r * math.cos(a), y + r * math.sin(a))], 8.5 * k, palm)
    cv.line([(x - 8 * k, y + 6 * k), (x - 32 * k, y - 2 * k)], 9 * k, palm)  # thumb
    arm = cv.obj("arm", "arm in a sleeve", "group", [sleeve], occluder=True)
    cv.obj("hand", "hand", "object", [palm], parent=arm, occluder=True)


def _branch(cv: Canvas, rng: np.random.Generator, x: float, y: float, k: float) -> None:
    bark = cv.material(jitter(rng, (80, 60, 40), 10), tex=WOOD, amp=(10, 8, 6))
    leaves = cv.material(jitter(rng, (50, 95, 40), 12), tex=LEAFY, amp=(25, 30, 14), amp2=0.15, center=(x, y),
                         radius=60 * k, radial=-0.3)
    cv.line([(x - 90 * k, y - 70 * k), (x, y), (x + 25 * k, y + 30 * k)], 7 * k, bark)
    for dx, dy, r in ((0, 0, 42), (-38, -22, 30), (28, 24, 28), (-10, 34, 24)):
        cv.poly(blob_pts(rng, x + dx * k, y + dy * k, r * k, r * 0.8 * k, 0.25, 24), leaves)
    branch = cv.obj("branch", "leafy branch", "object", [leaves], occluder=True)
    cv.obj("twig", "twig", "part", [bark], parent=branch, occluder=True)


def _pillar(cv: Canvas, rng: np.random.Generator, x: float, yb: float, k: float) -> None:
    col = jitter(rng, [(200, 195, 185), (150, 120, 100), (120, 125, 135)][int(rng.integers(3))], 10)
    stone = cv.material(col, tex=FBM, amp=6, amp2=0.1, center=(x - 20, 128), radius=40 * k, grad=(0.5, 0))
    w = 46 * k
    cv.rect(x - w / 2, -4, x + w / 2, yb + 4, stone)
    cap = cv.material(darker(col, 0.8), tex=COARSE, amp=(8, 8, 8))
    cv.rect(x - w / 2 - 4, 40, x + w / 2 + 4, 48, cap)
    cv.obj("pillar", "stone pillar", "object", [stone, cap], occluder=True)


__all__ = ["Camera", "OccluderPath", "draw_occluder", "occluder_path"]
