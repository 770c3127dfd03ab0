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


def test_engine_scenes_are_unseen_and_disjoint():
    from sam_core.data_engine.engine import ENGINE_SEED, EngineConfig, engine_scenes, eval_scenes
    from sam_core.scenes.splits import HELD_OUT_SEED

    cfg = EngineConfig(images_per_stage=2, eval_images=3)
    stages = engine_scenes(cfg)
    seeds = [s.seed for scenes in stages.values() for s in scenes]
    assert len(set(seeds)) == len(seeds) == 6 and min(seeds) >= ENGINE_SEED > HELD_OUT_SEED
    assert all(HELD_OUT_SEED <= s.seed < ENGINE_SEED for s in eval_scenes(cfg))


def test_finetune_changes_a_copy_and_logs_its_curve():
    import torch

    from sam_core.data_engine.engine import EngineConfig, finetune

    model = build_sam("nano")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scene = render_scene("desk", 3_000_000, 256)
    tuned, curve = finetune(model, [(scene, [o.mask for o in scene.objects])], EngineConfig(finetune_steps=2))
    assert [c["step"] for c in curve] == [1, 2] and all(np.isfinite(c["loss"]) for c in curve)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the original is untouched
    assert any(not torch.equal(before[k], v) for k, v in tuned.state_dict().items())


def test_committed_run_and_page_values():
    from lesson_content import data_engine_view as view
    from lesson_content.prose import render

    run = view.load_run()
    assert run is not None, "assets/data_engine/run.json is missing: python -m sam_core.data_engine"
    table = view.run_table(run)
    assert [r["stage"] for r in table] == ["Assisted-manual", "Semi-automatic", "Fully automatic"]
    auto = run["stages"][2]
    assert auto["clicks"] == 0 and 0 <= auto["iou_0.75"]["recall"] <= auto["iou_0.5"]["recall"] <= 1
    for name in ("data_engine.measured", "data_engine.loop"):
        assert render(name, **view.run_values(run))
    ratios = view.ratios()
    assert round(ratios["masks_vs_open_images"], -1) == 410 and round(ratios["masks_vs_coco"]) == 1279
    assert render("data_engine.paper", **view.paper_values())


def test_filter_rows_and_export_zip():
    import io
    import json
    import zipfile

    from lesson_content.data_engine_view import filter_rows
    from ui.segment_everything import export_zip

    rows = filter_rows({"grid_points": 64, "predicted": 192, "pred_iou": 50, "stability": 40, "crop_edge": 40,
                        "box_nms": 9})
    assert [r["removed"] for r in rows] == [None, None, 142, 10, 0, 31]
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:4, 3:6] = True
    record = {"segmentation": mask, "area": 6, "bbox": [3, 2, 2, 1], "predicted_iou": 0.9, "stability_score": 0.95,
              "point_coords": [[4.0, 3.0]], "crop_box": [0, 0, 8, 8]}
    archive = zipfile.ZipFile(io.BytesIO(export_zip([record], "img", {"points_per_side": 8})))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["masks"][0]["file"] == "img_mask1.png" and manifest["masks"][0]["area"] == 6
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(io.BytesIO(archive.read("img_mask1.png")))) > 0, mask)
