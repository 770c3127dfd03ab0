"""Computations behind pages 05-08 (no Streamlit): clicks on scenes, the loss on real masks, the
training log, the min-loss demonstration, Check 1's counting, the decoder's traced shapes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lesson_content import scene_targets as targets
from lesson_content.examples import default_examples
from sam_core.masks import interior_point, mask_iou


@pytest.fixture(scope="module")
def random_nano():
    from sam_core.sam1.build import sam_model_registry

    torch.manual_seed(0)
    return sam_model_registry["nano"]().eval()


def test_interior_and_boundary_points():
    mask = np.zeros((40, 40), dtype=bool)
    mask[10:30, 5:25] = True
    x, y = interior_point(mask)
    assert mask[y, x] and 12 <= x <= 18 and 16 <= y <= 23  # deep inside, near the centre
    # the farthest pixel from the boundary: 10 pixels from the nearest edge, the most any pixel has
    assert min(x - 5, 24 - x, y - 10, 29 - y) + 1 == 10
    other = np.zeros_like(mask)
    other[10:30, 25:35] = True  # touches mask along x = 24 | 25
    bx, by = targets.boundary_point(mask, other)
    assert mask[by, bx] and bx == 24
    assert targets.boundary_point(mask, np.zeros_like(mask)) is None
    assert mask_iou(mask, mask) == 1.0 and mask_iou(mask, other) == 0.0
    table = targets.iou_table(np.stack([mask, other]), [SimpleNamespace(mask=other)])
    assert table.tolist() == [[0.0], [1.0]]


def test_scene_clicks_from_config_hit_their_objects():
    ex = default_examples()
    for section in ("multimask_example",):
        cfg = ex[section]
        scene = targets.load_scene(cfg["kind"], cfg["seed"])
        obj = targets.first(scene, cfg["target"])
        assert obj is not None, section
        x, y = interior_point(obj.mask)
        assert scene.targets_at(x, y)[0] is obj  # the click's smallest segment is the named object


def test_gt_fraction_on_grid_sums_to_the_area():
    mask = np.zeros((512, 512), dtype=bool)
    mask[:256, :256] = True
    frac = targets.gt_fraction_on_grid(mask, (256, 256), 256, 64)
    assert frac.shape == (64, 64)
    assert frac.sum() == pytest.approx(64 * 64 / 4, rel=1e-3)


def test_boundary_click_scores_both_objects_and_their_group(random_nano):
    from lesson_content import check1

    cfg = default_examples()["boundary_click"]
    scene = targets.load_scene(cfg["kind"], cfg["seed"])
    result = check1.boundary_click(random_nano, scene, cfg["object_a"], cfg["object_b"])
    assert result is not None
    assert [s.name for s in result.segments] == [cfg["object_a"], cfg["object_b"], "mug_saucer"]
    assert result.iou.shape == (3, 3)


def test_encoder_runs_once_for_n_clicks(random_nano):
    from lesson_content import check1

    scene = targets.load_scene("desk", 0)
    photo = check1.photo_from_scene(scene.image, 400, 300)
    points = check1.click_points(scene, 3, photo.shape[:2])
    count = check1.count_encoder_runs(random_nano, photo, points)
    assert count.encoder_runs == 1 and count.clicks == 3 and len(count.decoder_ms) == 3
    assert max(count.input_size) == random_nano.image_encoder.img_size
    assert check1.tiles((3000, 4000), 1024) == 12


def test_loss_on_real_masks_uses_sam_core_losses(random_nano):
    from lesson_content import loss_view as lv
    from lesson_content.live_trace import traced_predict
    from sam_core import losses
    from sam_core.sam1.predictor import SamPredictor

    ex = default_examples()
    scene = targets.load_scene("desk", 0)
    handle = targets.first(scene, "handle")
    run = traced_predict(SamPredictor(random_nano), points=[interior_point(handle.mask)], labels=[1],
                         image=scene.image)
    gt = lv.gt_low_res(handle.mask, run)
    assert gt.shape == run.low_res.shape[-2:] and 0 < gt.sum() < gt.size
    scores, best = lv.score_masks(run, gt, ex)
    totals = [s.total for s in scores]
    assert best == int(np.argmin(totals))
    logits = torch.from_numpy(run.low_res[best])
    expected = float(losses.mask_loss(logits[None, None], torch.from_numpy(gt)[None, None])[0, 0])
    assert scores[best].total == pytest.approx(expected, rel=1e-5)
    table, winners = lv.loss_table(run, scene.targets_at(*interior_point(handle.mask)), ex)
    assert table.shape == (3, 3) and winners[0] == best


def test_training_log_reader(tmp_path):
    from lesson_content import loss_view as lv

    path = tmp_path / "training_log.csv"
    path.write_text("step,focal,dice,iou_group\n2,0.12,0.89,0.19\n4,0.08,0.93,\n", encoding="utf-8")
    log = lv.training_log([path])
    assert log["step"].tolist() == [2.0, 4.0]
    assert np.isnan(log["iou_group"][1])  # a blank cell is missing, not zero
    assert lv.training_log([tmp_path / "missing.csv"]) is None


def test_aux_summary_reads_the_dense_loss_or_says_there_is_none():
    from lesson_content import loss_view as lv

    log = {"step": np.arange(1.0, 7.0), "aux": np.array([4.0, 2.0, 1.0, 0.8, 0.6, 0.4]),
           "aux_iou": np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])}
    summary = lv.aux_summary(log, window=2)
    assert summary == pytest.approx({"aux_first": 4.0, "aux_last": 0.5, "aux_iou_first": 0.1, "aux_iou_last": 0.55})
    assert lv.aux_summary({**log, "aux": np.zeros(6)}, 2) is None  # a run with --aux-weight 0
    assert lv.aux_summary({"step": log["step"]}, 2) is None  # a log from before the column existed


def test_dense_phase_is_the_rows_before_the_first_decoder_loss():
    from lesson_content import loss_view as lv

    nan = float("nan")
    log = {"step": np.array([10.0, 20.0, 30.0, 40.0]), "wall_s": np.array([3.0, 6.0, 90.0, 120.0]),
           "focal": np.array([nan, nan, 0.05, 0.04]), "aux_iou": np.array([0.2, 0.3, 0.31, 0.35])}
    assert lv.dense_phase(log) == pytest.approx({"dense_steps": 20.0, "dense_minutes": 0.1, "dense_aux_iou": 0.3})
    assert lv.dense_phase({**log, "focal": np.array([0.1, 0.09, 0.05, 0.04])}) is None  # no such phase
    assert lv.dense_phase({"step": log["step"]}) is None  # a log without the columns


def test_min_loss_keeps_the_specialised_masks_and_average_collapses_them():
    from lesson_content import minloss_demo as demo

    scene = targets.load_scene("desk", 0)
    segments = scene.targets_at(*interior_point(targets.first(scene, "handle").mask))
    average = demo.run_demo([s.mask for s in segments], "average", steps=60)
    minimum = demo.run_demo([s.mask for s in segments], "minimum", steps=60)
    assert average.agreement > 0.95  # the three masks became the same mask
    assert np.allclose(np.diag(minimum.iou), 1.0, atol=0.05)  # mask k still equals segment k
    assert minimum.agreement < 0.6


def test_decoder_trace_shapes_and_token_layout(random_nano):
    from lesson_content import decoder_view as dv
    from lesson_content.live_trace import traced_predict
    from sam_core.sam1.predictor import SamPredictor

    scene = targets.load_scene("desk", 0)
    run = traced_predict(SamPredictor(random_nano), points=[(100, 300)], labels=[1], image=scene.image)
    layout = dv.token_layout(run)
    assert [t.kind for t in layout.tokens] == ["iou"] + ["mask"] * 4 + ["prompt"] * 2
    maps = dv.prompt_attention(run, layout.prompt_index)
    grid = random_nano.prompt_encoder.image_embedding_size[0]
    for weights in maps.values():
        assert weights.shape == (4, grid, grid)
        assert weights.sum(axis=(1, 2)) == pytest.approx(np.ones(4), abs=1e-4)  # softmax rows
    assert dv.grid_to_image(maps["layer 0"].mean(0), run).shape == scene.image.shape[:2]
    dims = dv.decoder_dims(run, random_nano)
    assert (dims.width, dims.heads, dims.cross_width, dims.tokens, dims.positions) == (128, 4, 64, 7, grid * grid)
    forming = dv.masks_forming(run)
    full = run.records["decoder.low_res_logits_all"][0]
    assert forming[1].logits == pytest.approx(dv.low_res_valid(run, full[1]), abs=1e-4)  # w . F is the mask
    token_masks = dv.all_token_masks(run)
    assert np.array_equal(token_masks[1:], run.masks)  # multimask returns tokens 1-3
    ref_run, ref_model = dv.reference_decoder_run()
    ref = dv.decoder_dims(ref_run, ref_model)
    assert (ref.width, ref.heads, ref.cross_width, ref.upscaled_channels) == (256, 8, 128, 32)


def test_without_tracing_folds_record_calls_and_nothing_else():
    from lesson_content import decoder_view as dv

    source = "def f(x):\n    y = x + 1\n    record(\"a\", y)\n    record(\n        \"b\", y,\n    )\n    return y\n"
    clean, folded = dv.without_tracing(source)
    assert folded == 2 and clean == "def f(x):\n    y = x + 1\n    return y\n"
    real, n = dv.without_tracing(dv.real_source()["MaskDecoder.predict_masks"])
    assert n >= 1 and "record(" not in real and "return" in real


def test_attention_layer_diagram_names_the_three_operations_per_layer():
    from lesson_content import decoder_view as dv

    dot = dv.attention_layer_dot(2, 7, 1024)
    for i in range(2):
        assert f"sa{i}" in dot and f"t2i{i}" in dot and f"i2t{i}" in dot
    assert dot.count("self-attention") == 2 and "final token → image" in dot


def test_smooth_is_the_trailing_mean_of_the_finite_values():
    from lesson_content.loss_view import smooth

    rng = np.random.default_rng(0)
    values = rng.normal(size=300)
    values[rng.random(300) < 0.2] = np.nan
    values[:5] = np.nan
    for window in (1, 4, 50):
        expected = []
        for i in range(len(values)):
            chunk = values[max(0, i - window + 1): i + 1]
            chunk = chunk[np.isfinite(chunk)]
            expected.append(chunk.mean() if chunk.size else np.nan)
        np.testing.assert_allclose(smooth(values, window), expected, equal_nan=True)


def test_figure_png_is_drawn_once_per_arguments_and_closed():
    import matplotlib.pyplot as plt

    from lesson_content import plots

    calls = []

    def builder(x, *, dark):
        calls.append(dark)
        return plots.line_plot(x, {"y": x ** 2}, xlabel="x", ylabel="y", dark=dark)

    x = np.linspace(0, 1, 20)
    first = plots.png(builder, x, dark=False)
    again = plots.png(builder, x.copy(), dark=False)  # equal content, another array
    other = plots.png(builder, x, dark=True)
    assert first == again and first != other and calls == [False, True]
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.get_fignums()  # every figure closed
