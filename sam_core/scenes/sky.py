"""Sky scene: soft gradients and clouds, no objects — the negative example (no object boundaries)."""

from __future__ import annotations

import numpy as np

from .canvas import Canvas, jitter
from .textures import CLOUD, COARSE

# (zenith colour, cloud tint)
PALETTES = [((70, 130, 205), (255, 255, 255)), ((110, 160, 220), (245, 245, 250)),
            ((150, 165, 185), (225, 225, 230)), ((60, 90, 160), (250, 200, 170)),
            ((120, 175, 230), (255, 250, 240))]


def draw_sky(cv: Canvas, rng: np.random.Generator) -> None:
    top, cloud = PALETTES[int(rng.integers(len(PALETTES)))]
    top = jitter(rng, top, 12)
    amount = rng.uniform(0.2, 1.0)
    amp = tuple((c - t) * amount for c, t in zip(cloud, top, strict=True))
    sun = (rng.uniform(0, 256), rng.uniform(-40, 200))
    sky = cv.material(top, tex=CLOUD, amp=amp, tex2=COARSE, amp2=0.05, center=sun, radius=rng.uniform(180, 320),
                      grad=(rng.uniform(-0.1, 0.1), rng.uniform(0.05, 0.25)), radial=rng.uniform(-0.15, 0.0))
    cv.fill(sky)
