"""A simulated annotator, as in SAM's interactive training: click where the mask is most wrong.

Click 1 is at the most interior pixel of the object (the error region of an empty mask); the annotator
keeps the best of the model's 3 masks (it sees the ground truth). Each further click is at the most
interior pixel of the error region (false negatives and false positives together): foreground if that
pixel belongs to the object, background if not; the previous low-res logits go back in as the mask
prompt, one mask out. Stop at IoU >= target_iou or after max_clicks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sam_core.masks import interior_point, mask_iou
from sam_core.prompts import BACKGROUND, FOREGROUND
from sam_core.sam1.predictor import SamPredictor

TARGET_IOU = 0.9  # the (and a careful annotator's) "good enough"
MAX_CLICKS = 10  # the budget per object before the annotator gives up


@dataclass
class Annotation:
    """One object's annotation: the final mask [H, W] bool, its IoU with the truth, the clicks made."""

    mask: np.ndarray
    iou: float
    points: list[tuple[int, int]] = field(default_factory=list)  # (x, y) per click
    labels: list[int] = field(default_factory=list)  # FOREGROUND / BACKGROUND per click
    iou_per_click: list[float] = field(default_factory=list)

    @property
    def clicks(self) -> int:
        return len(self.points)

    @property
    def reached(self) -> bool:
        return self.iou >= TARGET_IOU


def annotate_object(
    predictor: SamPredictor, target: np.ndarray, target_iou: float = TARGET_IOU, max_clicks: int = MAX_CLICKS
) -> Annotation:
    """Annotate the object `target` (bool [H, W]) on the image already set in `predictor`."""
    target = np.asarray(target, dtype=bool)
    mask = np.zeros_like(target)
    annotation = Annotation(mask=mask, iou=mask_iou(mask, target))
    low_res = None
    while annotation.clicks < max_clicks and annotation.iou < target_iou:
        x, y = interior_point(mask ^ target)
        annotation.points.append((x, y))
        annotation.labels.append(FOREGROUND if target[y, x] else BACKGROUND)
        first = low_res is None
        masks, _, logits = predictor.predict(
            point_coords=np.array(annotation.points), point_labels=np.array(annotation.labels),
            mask_input=None if first else low_res, multimask_output=first,
        )
        best = int(np.argmax([mask_iou(m, target) for m in masks]))
        mask, low_res = masks[best], logits[best][None]  # [H, W], [1, h, w]
        annotation.mask, annotation.iou = mask, mask_iou(mask, target)
        annotation.iou_per_click.append(annotation.iou)
    return annotation
