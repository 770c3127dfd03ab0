"""--sky-frac: prompts on sky scenes train the IoU head to predict 0 and give the masks no loss."""

from __future__ import annotations

import csv

import numpy as np
import torch

from sam_core.sam1.build import sam_model_registry
from sam_core.training.data import NO_OBJECT, random_prompts, sample_batch, sample_no_object_batch
from sam_core.training.episode import interactive_loss
from sam_core.training.log import TrainLog
from sam_core.training.loop import main

SIZE = 256


def _model():
    torch.manual_seed(0)
    model = sam_model_registry["nano"]()
    model.train()
    return model


def test_no_object_batch_is_sky_with_empty_targets_and_deterministic():
    a = sample_no_object_batch(np.random.default_rng(5), 2, 3, SIZE)
    b = sample_no_object_batch(np.random.default_rng(5), 2, 3, SIZE)
    assert a.images.shape == (2, 3, SIZE, SIZE) and torch.equal(a.images, b.images)
    assert a.targets.shape == (6, 1, SIZE, SIZE) and not a.targets.any()
    assert a.image_index.tolist() == [0, 0, 0, 1, 1, 1]
    assert a.levels == [NO_OBJECT] * 6
    assert all(m.shape == (0, SIZE, SIZE) for m in a.object_masks)
    assert a.images.std() > 1.0  # a rendered sky, not a blank image


def test_random_prompts_lie_in_the_image_and_boxes_are_ordered():
    points, boxes = random_prompts(200, SIZE, torch.Generator().manual_seed(1))
    assert points.shape == (200, 2) and boxes.shape == (200, 4)
    assert points.min() >= 0 and points.max() <= SIZE - 1
    assert boxes.min() >= 0 and boxes.max() <= SIZE - 1
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert len({tuple(p) for p in points.round().tolist()}) > 150  # spread out, not one fixed click


def test_sky_prompts_train_only_the_iou_prediction_towards_zero():
    model = _model()
    with torch.no_grad():  # an IoU head that starts out confident: every mask predicted at IoU ~0.8
        model.mask_decoder.iou_prediction_head.layers[-1].bias.fill_(0.8)
    batch = sample_no_object_batch(np.random.default_rng(0), 1, 4, SIZE)
    loss, stats = interactive_loss(model, batch, torch.Generator().manual_seed(0), rounds=2)
    assert stats["iou_first"] is None and stats["focal"] is None and stats["level_iou"]["part"] == []
    assert isinstance(stats["sky_pred_iou"], float)
    loss.backward()
    decoder = model.mask_decoder
    # Masks get no loss: the parts that only shape masks get exactly zero gradient ...
    mask_only = list(decoder.output_hypernetworks_mlps.parameters()) + list(decoder.output_upscaling.parameters())
    assert all(p.grad is None or not p.grad.any() for p in mask_only)
    # ... while the IoU head is pulled towards predicting 0 for every mask.
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in decoder.iou_prediction_head.parameters())
    iou_before = stats["sky_pred_iou"]
    assert iou_before > 0.5
    opt = torch.optim.SGD(decoder.iou_prediction_head.parameters(), lr=0.05)
    for _ in range(5):
        opt.zero_grad()
        loss, stats = interactive_loss(model, batch, torch.Generator().manual_seed(0), rounds=2)
        loss.backward()
        opt.step()
    assert abs(stats["sky_pred_iou"]) < 0.7 * iou_before


def test_object_batches_are_unchanged_by_the_no_object_path():
    model = _model()
    batch = sample_batch(np.random.default_rng(2), 1, 4, SIZE)
    loss, stats = interactive_loss(model, batch, torch.Generator().manual_seed(0), rounds=2)
    assert stats["sky_pred_iou"] is None
    assert 0.0 <= stats["iou_first"] <= 1.0 and stats["focal"] > 0
    assert sum(len(v) for v in stats["level_iou"].values()) == 4


def test_log_rows_average_each_stat_over_the_steps_that_have_it(tmp_path):
    log = TrainLog(tmp_path / "log.csv")
    object_step = {"focal": 1.0, "n_focal": 1, "total": 2.0, "n_total": 1}
    sky_step = {"sky_pred_iou": 0.2, "n_sky_pred_iou": 1, "total": 4.0, "n_total": 1}
    log.write(10, 1.0, 1e-3, 2.0, 0.5, [(object_step, 1), (sky_step, 1)])
    log.close()
    row = next(csv.DictReader((tmp_path / "log.csv").open()))
    assert float(row["focal"]) == 1.0 and float(row["sky_pred_iou"]) == 0.2 and float(row["total"]) == 3.0
    assert row["dice"] == "" and row["iou_part"] == ""


def test_a_run_with_sky_steps_logs_the_sky_prediction(tmp_path):
    args = ["--smoke", "--steps", "6", "--prompts", "2", "--threads", "1", "--log-every", "1", "--fused", "off",
            "--sky-frac", "0.5", "--seed", "1"]
    assert main(["--out", str(tmp_path), *args]) == 0
    rows = list(csv.DictReader((tmp_path / "train_log.csv").open()))
    sky_rows = [r for r in rows if r["sky_pred_iou"] != ""]
    assert 0 < len(sky_rows) < len(rows)  # some steps were sky, some were objects
    assert all(r["iou_first"] == "" for r in sky_rows)
    assert all(np.isfinite(float(r["total"])) for r in rows)


def test_loss_view_reads_the_sky_negatives_from_a_log():
    from lesson_content.loss_view import sky_negatives

    nan = float("nan")
    assert sky_negatives({"step": np.arange(3.0)}) is None  # an older log: no such column
    assert sky_negatives({"sky_pred_iou": np.array([nan, nan])}) is None  # a run without sky steps
    log = {"sky_pred_iou": np.array([0.4, nan, 0.6, 0.2, nan, 0.0, 0.1])}
    got = sky_negatives(log, window=2)
    assert got["sky_rows"] == 5
    assert abs(got["sky_pred_last"] - 0.05) < 1e-12  # mean of the last 2 logged values (0.0, 0.1)
