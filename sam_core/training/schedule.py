"""The run's schedules, as functions of progress (0 at the start, 1 at the end of the run or its phase).

Progress is max(step / steps, elapsed / budget) with `--minutes` (the run then ends on time on a shared
machine), step / steps without. An optional encoder-only phase (`--dense-frac`) comes first; each phase
has its own warm-up, cosine decay and focal ramp.
"""

from __future__ import annotations

import math


def phase_progress(progress: float, dense_frac: float) -> tuple[bool, float]:
    """(dense phase?, progress within the phase, 0..1): the first `dense_frac` of the run is the
    encoder-only phase, the rest the interactive phase, each with its own warm-up and cosine decay."""
    if progress < dense_frac:
        return True, progress / dense_frac
    return False, (progress - dense_frac) / (1.0 - dense_frac)  # the config keeps dense_frac < 1


def focal_weight_at(progress: float, start: float, end: float, ramp: tuple[float, float]) -> float:
    """Focal weight: `start` until progress ramp[0], geometric ramp to `end` (SAM's 20) at ramp[1], then `end`.

    From random weights, 20 focal : 1 dice drives the decoder to empty masks before it has learned to use
    the prompt (SAM itself starts from an MAE-pretrained encoder); a dice-heavy start avoids that, and the
    run ends with SAM's ratio."""
    lo, hi = ramp
    if progress <= lo or hi <= lo:
        return start if progress <= lo else end
    if progress >= hi:
        return end
    return start * (end / start) ** ((progress - lo) / (hi - lo))


def lr_at(step: int, progress: float, base_lr: float, warmup: int, final_frac: float = 0.02) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay from base_lr to final_frac * base_lr."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    p = min(max(progress, 0.0), 1.0)
    return base_lr * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * p)))
