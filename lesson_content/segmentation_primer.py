"""Classification vs detection vs segmentation on one generated scene.

The three answers, and where each comes from (honestly):
  - label: the scene generator's own name for the object under the click ("orange coffee mug"). SAM has
    no labels and this app has no classifier; the generator knows what it drew.
  - box: the extent of SAM's predicted mask (what a detector would output: a rectangle).
  - mask: SAM's live prediction for one click on the object.
Plus what makes the mask richer: how much of the box is background, and the IoU with the true mask.
Imports no Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=8)
def scene(kind: str, seed: int, size: int):
    """The generated scene (image + ground-truth objects); cached, treat as read-only."""
    from sam_core.scenes import render_scene

    rendered = render_scene(kind, seed, size=size)
    rendered.image.flags.writeable = False
    return rendered


def target_at(scene_, x: int, y: int, level: str = "object"):
    """The object under (x, y) at `level` ("object" beats "part" and "group"), else the smallest hit, else None."""
    hits = scene_.targets_at(int(x), int(y))
    for obj in hits:
        if obj.level == level:
            return obj
    return hits[0] if hits else None


def largest_object(scene_):
    objects = [o for o in scene_.objects if o.level == "object"] or list(scene_.objects)
    return max(objects, key=lambda o: o.area) if objects else None


def interior_point(mask: np.ndarray) -> tuple[int, int]:
    """(x, y) of a pixel deep inside `mask`: erode until one more step would empty it."""
    current = np.asarray(mask, dtype=bool)
    if not current.any():
        raise ValueError("empty mask")
    while True:
        eroded = current.copy()
        eroded[1:, :] &= current[:-1, :]
        eroded[:-1, :] &= current[1:, :]
        eroded[:, 1:] &= current[:, :-1]
        eroded[:, :-1] &= current[:, 1:]
        if not eroded.any():
            break
        current = eroded
    ys, xs = np.nonzero(current)
    i = len(xs) // 2
    return int(xs[i]), int(ys[i])


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) inclusive-exclusive extent of a boolean mask, None if empty."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


@dataclass(frozen=True)
class PrimerResult:
    click: tuple[int, int]  # where SAM was prompted (x, y), image pixels
    label: str  # the generator's phrase for the object (NOT from SAM)
    label_name: str  # the generator's short class name
    target_level: str
    mask: np.ndarray  # bool [H, W], SAM's chosen mask (highest predicted IoU)
    score: float  # SAM's predicted IoU for it
    box: tuple[int, int, int, int]  # extent of that mask
    true_mask_iou: float  # IoU of SAM's mask with the generator's mask of the target
    box_area: int
    mask_area: int
    scores: tuple[float, ...]  # all candidate scores

    @property
    def background_in_box(self) -> float:
        """Fraction of the box that is NOT the mask: what a box includes and a mask does not."""
        return 1.0 - self.mask_area / max(self.box_area, 1)


def run_primer(predictor, scene_, click: tuple[int, int] | None = None) -> PrimerResult | None:
    """Prompt SAM once on the scene's object under `click` (default: deep inside the largest object).

    The predictor must already hold scene_.image. Returns None when the scene has no objects.
    """
    target = target_at(scene_, *click) if click is not None else None
    if target is None:
        target = largest_object(scene_)
        if target is None:
            return None
        click = interior_point(target.mask)
    masks, scores, _ = predictor.predict(point_coords=np.array([click], dtype=float), point_labels=np.array([1]),
                                         multimask_output=True)
    best = int(np.argmax(scores))
    mask = np.asarray(masks[best], dtype=bool)
    box = mask_box(mask) or (click[0], click[1], click[0] + 1, click[1] + 1)
    box_area = (box[2] - box[0]) * (box[3] - box[1])
    return PrimerResult(
        click=(int(click[0]), int(click[1])), label=target.phrase, label_name=target.name,
        target_level=target.level, mask=mask, score=float(scores[best]), box=box,
        true_mask_iou=iou(mask, target.mask), box_area=int(box_area), mask_area=int(mask.sum()),
        scores=tuple(float(s) for s in scores),
    )


def true_box_background(obj) -> float:
    """Background fraction inside the true object's own bounding box (independent of the model)."""
    x0, y0, x1, y1 = obj.bbox
    return 1.0 - obj.area / max((x1 - x0) * (y1 - y0), 1)


def object_clicks(scene_, n: int) -> list[tuple[int, int]]:
    """n clicks deep inside different objects of the scene (objects first, then parts, then groups).

    Cycles through them if the scene has fewer than n objects; empty list for a scene without objects.
    """
    order = {"object": 0, "part": 1, "group": 2}
    objects = sorted(scene_.objects, key=lambda o: (order.get(o.level, 3), -o.area))
    points = [interior_point(o.mask) for o in objects if o.area > 0]
    if not points:
        return []
    return [points[i % len(points)] for i in range(n)]
