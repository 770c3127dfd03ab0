"""Binary-mask helpers with ONE convention, used by training, evaluation, the lesson pages and the app.

Masks are numpy bool (or 0/1) arrays [H, W]; points are (x, y) pixel indices (column, row); boxes are
(x0, y0, x1, y1) with the max corner INCLUSIVE, as Meta's `batched_mask_to_box` returns them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def mask_iou(pred: np.ndarray, target: np.ndarray) -> float:
    """|pred ∩ target| / |pred ∪ target| of two masks of the same shape.

    Both empty -> 1.0 (nothing to find, nothing found), as `sam_core.losses.actual_iou` on tensors.
    """
    pred, target = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
    union = np.logical_or(pred, target).sum()
    return float(np.logical_and(pred, target).sum() / union) if union else 1.0


def iou_matrix(masks: np.ndarray, targets: list[np.ndarray]) -> np.ndarray:
    """IoU of every mask [C, H, W] against every target mask: [C, len(targets)] float64."""
    return np.array([[mask_iou(m, t) for t in targets] for m in masks], dtype=np.float64).reshape(
        len(masks), len(targets))


def interior_point(mask: np.ndarray) -> tuple[int, int]:
    """(x, y) of the mask pixel farthest from its boundary (the image border counts as boundary).

    A click there is unambiguous about which segment it hits. Ties go to the first pixel in raster order.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("empty mask: no pixel to click")
    dist = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), mask.shape)
    return int(x), int(y)


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the mask's extent, max corner inclusive (Meta's convention)."""
    mask = np.asarray(mask, dtype=bool)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        raise ValueError("empty mask: no box")
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])
