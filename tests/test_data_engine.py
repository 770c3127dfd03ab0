"""The data engine's simulated annotator."""

from __future__ import annotations

import numpy as np

from sam_core import SamPredictor, build_sam
from sam_core.data_engine.annotator import annotate_object
from sam_core.masks import mask_iou
from sam_core.prompts import FOREGROUND
from sam_core.scenes import render_scene


def test_annotator_reaches_target_on_a_large_object():
    scene = render_scene("savanna", 1_000_000, 256)
    target = max(scene.objects, key=lambda o: o.area).mask
    predictor = SamPredictor(build_sam("nano"))
    predictor.set_image(scene.image)
    annotation = annotate_object(predictor, target, target_iou=0.8, max_clicks=10)
    assert annotation.iou >= 0.8
    assert annotation.iou == mask_iou(annotation.mask, target)
    assert annotation.labels[0] == FOREGROUND and 1 <= annotation.clicks <= 10
    assert len(annotation.iou_per_click) == annotation.clicks


def test_annotator_stops_at_the_budget():
    scene = render_scene("street", 1_000_001, 256)
    predictor = SamPredictor(build_sam("nano"))
    predictor.set_image(scene.image)
    target = np.zeros((256, 256), dtype=bool)
    target[::7, ::7] = True  # a dot pattern no mask can match
    annotation = annotate_object(predictor, target, max_clicks=3)
    assert annotation.clicks == 3 and not annotation.reached


def test_stages_are_consistent():
    from sam_core.automatic_mask_generator import SamAutomaticMaskGenerator
    from sam_core.data_engine.stages import assisted_manual, fully_automatic, semi_automatic

    model = build_sam("nano")
    scene = render_scene("desk", 1_000_002, 256)
    predictor = SamPredictor(model)
    generator = SamAutomaticMaskGenerator(model, points_per_side=8, pred_iou_thresh=0.5, stability_score_thresh=0.5)
    manual = assisted_manual(predictor, scene)
    semi = semi_automatic(predictor, generator, scene)
    auto = fully_automatic(generator, scene)
    assert manual["objects"] == semi["objects"] == auto["objects"] == len(scene.objects)
    assert semi["clicks"] <= manual["clicks"]  # pre-filled objects cost no clicks, the rest the same
    assert 0 <= semi["prefilled_correct"] <= min(semi["prefilled"], semi["objects"])
    for t in ("iou_0.5", "iou_0.75"):
        sizes = auto[t]["by_size"].values()
        assert sum(s["objects"] for s in sizes) == auto["objects"]
        assert sum(s["matched_objects"] for s in sizes) == auto[t]["matched_objects"] <= auto["predicted"]
    assert auto["iou_0.75"]["matched_objects"] <= auto["iou_0.5"]["matched_objects"]
