"""Part 2's computations on tiny random SAM 2 / SAM 3 models (the real classes, random weights): the
memory trace of a clip, interactive tracking and its export, phrase detection and its export, video
uploads (hostile ones included), the SAM 2 -> SAM 3 gap counted from the builders."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from lesson_content import concepts_view as cv
from lesson_content import memory_view as mv
from lesson_content import video_tracking as vt


@pytest.fixture(scope="module")
def sam2_tiny():
    from sam_core.sam2.build import build_sam2_video_predictor

    torch.manual_seed(0)
    return build_sam2_video_predictor("hiera_tiny", image_size=128)


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(5)]


def test_memory_trace_of_a_clip(sam2_tiny, frames):
    run = mv.track_clip(sam2_tiny, frames, 2, [(40, 40)], [1])
    assert [f.frame for f in run.frames] == [0, 1, 2, 3, 4]
    assert run.memory_shape == (64, 8, 8) and run.grid == (8, 8)
    prompted = run.frame(2)
    assert prompted.prompted and not prompted.bank  # the prompted frame reads no memory
    later = run.frame(4)
    assert later.bank[0] == (2, "prompted") and {t for t, kind in later.bank if kind == "recent"} == {3}
    mass = sum(float(a.sum()) for a in later.attention.values()) + later.pointer_share
    assert mass == pytest.approx(1.0, abs=1e-4)  # each query's attention is a distribution
    assert all(a.shape == (8, 8) for a in later.attention.values())
    assert np.isfinite(run.object_scores).all()


def test_traced_clip_and_tracking_session_reuse_encoded_frames(sam2_tiny, frames):
    """The pages' shared store of encoder outputs (ui.part2_models.frame_features) changes no mask or score."""
    store = sam2_tiny.encode_frames(sam2_tiny.init_state(frames), {})
    plain, cached = mv.track_clip(sam2_tiny, frames, 2, [(40, 40)], [1]), \
        mv.track_clip(sam2_tiny, frames, 2, [(40, 40)], [1], frame_features=store)
    assert np.array_equal(plain.object_scores, cached.object_scores)
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(plain.frames, cached.frames, strict=True))
    session = vt.TrackingSession(sam2_tiny, frames, frame_features=store)
    session.click(0, 1, 30, 30, True)
    list(session.propagate("forward"))
    assert session.state["frame_features"] is store and set(session.masks) == set(range(5))


def test_real_shapes_of_sam2_1():
    ref = mv.reference_shapes()
    assert (ref.image_size, ref.d_model, ref.grid, ref.mem_dim, ref.num_maskmem, ref.pointer_tokens) == (
        1024, 256, 64, 64, 7, 4)
    assert ref.attention_layers == 4 and ref.rope
    assert len(mv.plan_shapes()) == len(ref.rows())


def test_tracking_session_objects_and_export(sam2_tiny, frames):
    session = vt.TrackingSession(sam2_tiny, frames)
    session.click(1, 1, 30, 30, True)
    session.click(1, 2, 70, 60, True)
    session.click(1, 1, 50, 50, False)
    session.click(3, 3, 20, 70, True)
    with pytest.raises(ValueError, match="at most"):
        session.click(0, 4, 5, 5, True)
    progress = list(session.propagate("both"))
    assert progress[-1][0] == progress[-1][1] == 4 + 2  # forward from frame 1 (4 frames), back to 0 (2)
    assert set(session.masks) == set(range(5)) and all(set(session.masks[t]) == {1, 2, 3} for t in range(5))
    archive = zipfile.ZipFile(io.BytesIO(session.export_zip("clip", "tiny")))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["frames"] == 5 and manifest["objects"] == [1, 2, 3]
    assert {e["frame"] for e in manifest["masks"]} == set(range(5)) and len(manifest["masks"]) == 15
    assert all(e["mask"] in archive.namelist() for e in manifest["masks"])
    assert manifest["prompts"][0] == {"frame": 1, "obj_id": 1, "points": [[30.0, 30.0], [50.0, 50.0]], "labels": [1, 0]}
    # remove object 2 (SAM 2's remove_object): the others keep masks, a re-propagation tracks only them
    assert session.can_edit_objects
    before = {t: {o: m.copy() for o, m in session.masks[t].items()} for t in session.masks}
    session.remove_object(2)
    assert session.objects == [1, 3] and all(set(session.masks[t]) == {1, 3} for t in range(5))
    assert all(np.array_equal(session.masks[t][1], before[t][1]) for t in range(5))
    list(session.propagate("forward"))
    assert all(set(session.masks[t]) == {1, 3} for t in range(1, 5))
    session.click(2, 2, 40, 40, True)  # the freed slot takes a new object again
    assert session.objects == [1, 2, 3]
    session.reset()  # SAM 2's reset_state: nothing left, the video stays
    assert session.objects == [] and session.masks == {} and session.state["obj_ids"] == []
    session.click(0, 1, 30, 30, True)
    assert session.masks[0][1].shape == frames[0].shape[:2]


def test_learning_curves_join_the_stages(tmp_path):
    fields = "step,wall_s,lr,loss,j_visible,j_first,score_acc,hidden_recall,s_per_step"
    one, two = tmp_path / "stage1.csv", tmp_path / "stage2.csv"
    one.write_text(fields + "\n10,5,1e-3,1.5,0.10,0.60,0.8,0,0.5\n20,10,1e-3,1.4,0.20,0.70,0.8,0,0.5\n")
    two.write_text(fields.replace("j_first", "j_tracked,j_first") +
                   "\n10,5,1e-3,1.0,0.50,0.40,0.90,0.9,0,0.5\n")
    curves = mv.learning_curves((one, two))
    assert curves.clips.tolist() == [10, 20, 30] and curves.stage.tolist() == [1, 1, 2]
    summary = curves.summary(window=2)
    assert summary["clips"] == 30 and summary["stages"] == 2
    assert summary["visible_start"] == pytest.approx(0.15) and summary["visible_end"] == pytest.approx(0.35)
    assert summary["first_end"] == pytest.approx(0.8)
    series = curves.series(window=1)
    assert series["J on tracked frames"][-1] == pytest.approx(0.4) and np.isnan(series["J on tracked frames"][0])
    assert mv.learning_curves((tmp_path / "missing.csv",)) is None


@pytest.fixture(scope="module")
def sam3_tiny():
    from sam_core.sam3.build import SAM3_CONFIGS, build_sam3_from_config
    from sam_core.sam3.processor import Sam3Processor

    torch.manual_seed(0)
    model = build_sam3_from_config(SAM3_CONFIGS["tiny"]).eval()
    return Sam3Processor(model, resolution=112, confidence_threshold=0.5)


def test_detect_keeps_what_passes_the_threshold(sam3_tiny):
    image = np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    low = cv.detect(sam3_tiny, image, "red car", threshold=0.0)
    assert len(low.instances) == len(low.query_scores) == 10  # every query passes 0
    mid = cv.detect(sam3_tiny, image, "red car", threshold=float(np.median(low.query_scores)))
    assert 0 < len(mid.instances) < 10
    assert all(inst.score > mid.threshold for inst in mid.instances)
    assert [i.score for i in mid.instances] == sorted((i.score for i in mid.instances), reverse=True)
    assert low.instances[0].mask.shape == (96, 128)
    boxed = cv.detect_with_boxes(sam3_tiny, image, "", [([10, 10, 60, 50], True)], 0.0,
                                 sam3_tiny.set_image(image))
    assert len(boxed.instances) == 10
    archive = zipfile.ZipFile(io.BytesIO(cv.export_zip(mid, "img", "tiny")))
    data = json.loads(archive.read("detections.json"))
    assert len(data["detections"]) == len(mid.instances) and "merged.png" in archive.namelist()
    merged = np.asarray(Image.open(io.BytesIO(archive.read("merged.png")))) > 0
    assert (merged == cv.merged_mask(mid, (96, 128))).all()


def test_score_against_matches_one_to_one():
    truth = [np.zeros((10, 10), bool) for _ in range(2)]
    truth[0][:5, :5] = True
    truth[1][5:, 5:] = True
    dets = [cv.Instance(truth[1].copy(), (5, 5, 9, 9), 0.9), cv.Instance(truth[1].copy(), (5, 5, 9, 9), 0.8)]
    result = cv.ConceptResult("x", 0.9, dets, np.array([0.9, 0.8]), 0.5)
    match = cv.score_against(result, truth)
    assert (match.truth, match.found, match.false) == (2, 1, 1)


def test_gap_table_counts_the_real_configs():
    counts = cv.parameter_counts()
    assert counts["sam2.1_hiera_large"] == 224_446_642 and counts["sam2.1_hiera_tiny"] == 38_962_498
    assert 840e6 < counts["sam3"] < 841e6 and counts["sam3.text"] + counts["sam3.vision"] < counts["sam3"]
    rows = {r[""]: r for r in cv.gap_rows(counts)}
    assert "224.4 M" in rows["parameters"]["SAM 2"] and "840.5 M" in rows["parameters"]["SAM 3"]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _png(side: int, value: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((side, side, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_video_upload_zip_of_frames_and_hostile_inputs():
    from ui import video_upload as vu

    frames, note = vu.load_video_upload(_zip({f"{i:03d}.png": _png(64 + i, i) for i in range(3)}), "clip.zip")
    assert len(frames) == 3 and all(f.shape == (64, 64, 3) for f in frames) and note == ""
    many, note = vu.load_video_upload(_zip({f"{i:03d}.png": _png(16) for i in range(vu.MAX_FRAMES + 5)}), "c.zip")
    assert len(many) == vu.MAX_FRAMES and str(vu.MAX_FRAMES) in note
    for data, name in ((b"", "a.zip"), (b"not a zip", "a.zip"), (_zip({"a.txt": b"x"}), "a.zip"),
                       (_zip({"0.png": _png(16)}), "a.zip"), (_zip({"0.png": b"garbage", "1.png": b"x"}), "a.zip"),
                       (b"x" * 10, "a.exe")):
        out, message = vu.load_video_upload(data, name)
        assert out is None and message


def test_background_frame_encoding_fills_a_private_store(sam2_tiny, frames):
    import time

    from ui import part2_models

    assert part2_models.private_frame_features(object(), frames) is None  # the model server's predictor
    stores = [part2_models.private_frame_features(sam2_tiny, frames) for _ in range(2)]
    assert stores[0] is not stores[1]  # one student's, shared with no one
    deadline = time.monotonic() + 60
    while any(len(s) < len(frames) for s in stores) and time.monotonic() < deadline:
        time.sleep(0.05)  # (also: no encoding thread is left running when the tests end)
    assert all(sorted(s) == list(range(len(frames))) for s in stores)


def test_click_candidates_are_the_decoders_three_masks_and_a_mask_prompt_tracks(sam2_tiny, frames):
    truth = np.zeros((96, 96), bool)
    truth[20:60, 20:60] = True
    cands = mv.click_candidates(sam2_tiny, frames, 1, [(40, 40)], [1], truth=truth)
    assert [c.token for c in cands] == [1, 2, 3] and sum(c.kept for c in cands) == 1
    assert max(cands, key=lambda c: c.predicted_iou).kept
    for c in cands:
        assert c.mask.shape == (96, 96) and 0.0 <= c.actual_iou <= 1.0
        union = (c.mask | truth).sum()
        assert c.actual_iou == pytest.approx((c.mask & truth).sum() / union if union else 1.0)
    run = mv.track_clip(sam2_tiny, frames, 1, [(40, 40)], [1], mask=truth)
    prompted = run.frame(1)
    assert prompted.prompted and (prompted.mask & truth).sum() / (prompted.mask | truth).sum() > 0.8


def test_memory_encoder_parts_are_read_from_the_model():
    """SAM 2.1's mask downsampler: four stride-2 convs (16x, 1024 px mask -> 64 x 64 grid); two fuser blocks;
    256 -> 64 channels. The page's loop section names these, and the real functions it shows exist."""
    from lesson_content.memory_loop import PLAN_LOOP_PSEUDOCODE, memory_encoder_parts, real_loop_source
    from sam_core.sam2.build import HIERA_SIZES, build_sam2_model

    with torch.device("meta"):
        model = build_sam2_model(HIERA_SIZES["hiera_base_plus"])
    parts = memory_encoder_parts(model)
    assert (parts.mask_downsample, parts.downsample_convs, parts.feature_channels, parts.fuser_blocks,
            parts.memory_channels) == (16, 4, 256, 2, 64)
    assert model.image_size // parts.mask_downsample == model.sam_image_embedding_size
    sources = real_loop_source()
    assert all(f"def {name.split('.')[-1]}(" in src for name, src in sources.items())
    compile(PLAN_LOOP_PSEUDOCODE, "plan_loop", "exec")  # the pseudocode is at least valid Python


def test_composition_truth_comes_from_the_scene_attributes():
    """seed 003's phrases: "ripe red apples" and "healthy ... but not green" have exact answers on an orchard;
    "near the tree trunk" does not. The rows ask the real processor (here the nano weights, or none: skip)."""
    from lesson_content.compositions import COMPOSITIONS, composition_rows
    from sam_core.scenes import render_scene

    scene = render_scene("orchard", 1_000_000)
    ripe_red, healthy, near = COMPOSITIONS
    apples = [o for o in scene.objects if o.name == "apple" and o.mask.any()]
    assert sum(map(ripe_red.answer, apples)) == sum(o.attributes["ripeness"] == "ripe" for o in apples) > 0
    assert all(not healthy.answer(o) for o in apples if o.attributes["ripeness"] == "damaged")
    assert near.answer is None
    from sam_core.sam3.nano import NANO_SAM3_WEIGHTS, build_sam3_nano
    from sam_core.sam3.processor import Sam3Processor

    if not NANO_SAM3_WEIGHTS.is_file():
        pytest.skip("embedded SAM 3 weights missing")
    rows = composition_rows(Sam3Processor(build_sam3_nano(), resolution=256), scene, threshold=0.5)
    assert [r["phrase"] for r in rows] == [c.phrase for c in COMPOSITIONS]
    assert rows[0]["truth (scene)"] == str(sum(map(ripe_red.answer, apples)))
    assert rows[2]["truth (scene)"] == "not defined by the scene"
    assert all(0.0 <= r["presence"] <= 1.0 for r in rows)


def test_plan_claims_are_quoted_beside_counted_figures():
    from lesson_content import concepts_view as cv

    counts = {"sam3": 840_000_000}
    rows = {r[""]: r for r in cv.plan_claim_rows(counts)}
    assert rows["size"]["here"].endswith("in float32 (4 bytes each) 3.36 GB")
    assert "840 M parameters" in rows["size"]["the plan says"]
    assert rows["quality"]["here"].startswith("press the button")
    measured = {"seen": {"cgF1": 35.9, "pmF1": 0.5, "IL_MCC": 0.718}, "held_out": {"cgF1": 2.2},
                "config": {"scenes": 7}}
    quality = {r[""]: r for r in cv.plan_claim_rows(counts, measured)}["quality"]["here"]
    assert "7 held-out procedural scenes" in quality and "cgF1 35.9" in quality and "2.2 on held-out" in quality
