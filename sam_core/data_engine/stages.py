"""SA-1B's three annotation stages on one scene, measured against the scene's exact ground truth.

Each stage returns its counts and "mask_list", the masks it adds to the data (bool [H, W] each).

- assisted-manual: the annotator labels every object with the model's help (clicks per object);
- semi-automatic: the generator's confident masks are pre-filled; objects they already cover
  (IoU >= target) cost nothing, the annotator labels the rest;
- fully automatic: the generator alone; precision and recall at IoU thresholds, by object size.
"""

from __future__ import annotations

import numpy as np

from sam_core.automatic_mask_generator import SamAutomaticMaskGenerator
from sam_core.data_engine.annotator import TARGET_IOU, annotate_object
from sam_core.masks import iou_matrix
from sam_core.sam1.predictor import SamPredictor
from sam_core.scenes import Scene

# Object size by area as a fraction of the image (stated with every result).
SIZE_BOUNDS = {"small": (0.0, 0.01), "medium": (0.01, 0.1), "large": (0.1, 1.0)}


def size_of(area: int, image_area: int) -> str:
    """The SIZE_BOUNDS bin of an area: lo <= area / image_area < hi ("large" includes 1.0)."""
    fraction = area / image_area
    return next((name for name, (lo, hi) in SIZE_BOUNDS.items() if lo <= fraction < hi), "large")


def assisted_manual(predictor: SamPredictor, scene: Scene) -> dict:
    """Every ground-truth object annotated by clicks; returns masks, clicks and reached counts."""
    predictor.set_image(scene.image)
    annotations = [annotate_object(predictor, obj.mask) for obj in scene.objects]
    return {"objects": len(annotations), "masks": sum(a.reached for a in annotations),
            "clicks": sum(a.clicks for a in annotations),
            "first_click_iou": [a.iou_per_click[0] for a in annotations if a.iou_per_click],
            "mask_list": [a.mask for a in annotations if a.reached]}


def semi_automatic(predictor: SamPredictor, generator: SamAutomaticMaskGenerator, scene: Scene) -> dict:
    """Pre-filled confident masks; the annotator clicks only the objects none of them covers."""
    prefilled = [r["segmentation"] for r in generator.generate(scene.image)]
    truths = [obj.mask for obj in scene.objects]
    covered = (iou_matrix(np.stack(prefilled), truths).max(0) >= TARGET_IOU) if prefilled else np.zeros(len(truths), bool)
    predictor.set_image(scene.image)
    annotations = [annotate_object(predictor, t) for t, done in zip(truths, covered, strict=True) if not done]
    return {"objects": len(truths), "prefilled": len(prefilled), "prefilled_correct": int(covered.sum()),
            "masks": len(prefilled) + sum(a.reached for a in annotations), "clicks": sum(a.clicks for a in annotations),
            "mask_list": prefilled + [a.mask for a in annotations if a.reached]}


def fully_automatic(generator: SamAutomaticMaskGenerator, scene: Scene, thresholds=(0.5, 0.75)) -> dict:
    """Matches (one-to-one, greedy by IoU) of generated masks to objects, per threshold and size."""
    return match_masks([r["segmentation"] for r in generator.generate(scene.image)], scene, thresholds)


def match_masks(predicted: list[np.ndarray], scene: Scene, thresholds=(0.5, 0.75)) -> dict:
    """Generated masks (bool [H, W] each) against the scene's objects, one-to-one, greedy by IoU."""
    truths = [obj.mask for obj in scene.objects]
    image_area = scene.image.shape[0] * scene.image.shape[1]
    ious = iou_matrix(np.stack(predicted), truths) if predicted else np.zeros((0, len(truths)))
    out = {"predicted": len(predicted), "objects": len(truths), "mask_list": predicted}
    for t in thresholds:
        pred_hit, true_hit = np.zeros(len(predicted), bool), np.zeros(len(truths), bool)
        for flat in np.argsort(-ious, axis=None):
            i, j = np.unravel_index(flat, ious.shape)
            if ious[i, j] < t:
                break
            if not pred_hit[i] and not true_hit[j]:
                pred_hit[i] = true_hit[j] = True
        by_size = {}
        for name in SIZE_BOUNDS:
            p = [k for k, m in enumerate(predicted) if size_of(int(m.sum()), image_area) == name]
            g = [k for k, o in enumerate(scene.objects) if size_of(o.area, image_area) == name]
            by_size[name] = {"predicted": len(p), "matched_predicted": int(pred_hit[p].sum()),
                             "objects": len(g), "matched_objects": int(true_hit[g].sum())}
        out[f"iou_{t}"] = {"matched_predicted": int(pred_hit.sum()), "matched_objects": int(true_hit.sum()),
                           "by_size": by_size}
    return out
