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

import numpy as np

from lesson_content.scene_targets import largest_object
from sam_core.masks import interior_point, mask_iou, tight_box


def target_at(scene_, x: int, y: int, level: str = "object"):
    """The object under (x, y) at `level` ("object" beats "part" and "group"), else the smallest hit, else None."""
    hits = scene_.targets_at(int(x), int(y))
    for obj in hits:
        if obj.level == level:
            return obj
    return hits[0] if hits else None


@dataclass(frozen=True)
class PrimerResult:
    click: tuple[int, int]  # where SAM was prompted (x, y), image pixels
    label: str  # the generator's phrase for the object (NOT from SAM)
    label_name: str  # the generator's short class name
    target_level: str
    mask: np.ndarray  # bool [H, W], SAM's chosen mask (highest predicted IoU)
    score: float  # SAM's predicted IoU for it
    box: tuple[int, int, int, int]  # extent of that mask, (x0, y0, x1, y1) max corner inclusive
    true_mask_iou: float  # IoU of SAM's mask with the generator's mask of the target
    box_area: int
    mask_area: int
    scores: tuple[float, ...]  # all candidate scores

    @property
    def background_in_box(self) -> float:
        """Fraction of the box that is NOT the mask: what a box includes and a mask does not."""
        return 1.0 - self.mask_area / max(self.box_area, 1)


def box_area(box: tuple[int, int, int, int]) -> int:
    """Pixels in an (x0, y0, x1, y1) box whose max corner is inclusive."""
    return (box[2] - box[0] + 1) * (box[3] - box[1] + 1)


def primer_prompt(scene_, click: tuple[int, int] | None = None):
    """(target, click): the object under `click`, else the largest object clicked deep inside it.

    None when the scene has no objects."""
    target = target_at(scene_, *click) if click is not None else None
    if target is None:
        target = largest_object(scene_)
        if target is None:
            return None
        click = interior_point(target.mask)
    return target, (int(click[0]), int(click[1]))


def agreement_words(iou: float) -> str:
    """How well SAM's mask matches the true outline, in words that follow the IoU."""
    if iou >= 0.85:
        return "the two outlines agree closely"
    if iou >= 0.6:
        return "the two outlines agree in the main, with visible differences at the edges"
    return "SAM's mask and the true outline disagree: compare the two panels to see where"


def primer_result(target, click: tuple[int, int], masks: np.ndarray, scores: np.ndarray) -> PrimerResult | None:
    """The three answers from SAM's masks [C, H, W] and scores [C] for `click` on `target` (None: no target)."""
    if target is None:
        return None
    best = int(np.argmax(scores))
    mask = np.asarray(masks[best], dtype=bool)
    box = tight_box(mask) if mask.any() else (click[0], click[1], click[0], click[1])
    return PrimerResult(
        click=click, label=target.phrase, label_name=target.name,
        target_level=target.level, mask=mask, score=float(scores[best]), box=box,
        true_mask_iou=mask_iou(mask, target.mask), box_area=box_area(box), mask_area=int(mask.sum()),
        scores=tuple(float(s) for s in scores),
    )


def true_box_background(obj) -> float:
    """Background fraction inside the true object's own bounding box (independent of the model)."""
    return 1.0 - obj.area / box_area(tight_box(obj.mask))


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
