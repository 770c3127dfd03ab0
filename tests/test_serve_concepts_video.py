"""The service's SAM 3 (/detect, /segment/text) and SAM 2 (/track/*) endpoints over HTTP.

The real server (uvicorn on 127.0.0.1) runs a tiny SAM 3 (``SAM3_CONFIGS["tiny"]``) and a SAM 2.1
hiera_tiny at 128 px, both with random weights saved to files (no hub, no embedded SAM 2 / SAM 3 yet);
every answer is compared with ``Sam3Processor`` / ``SAM2VideoPredictor`` run in this process on the
same weights, so the wire formats are checked against the library. The seed's pitfalls are tests here:
``max_frames=-1`` tracks every frame, points without ``obj_id`` belong to object 1, answers are JSON
(never ``str(result)``), masks are ``[N, H, W]`` (never ``[N, 1, H, W]``), a stopped session is 404,
another token's session 403.
"""

from __future__ import annotations

import io
import json
import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from sam_core.masks import tight_box
from sam_core.sam2.build import build_sam2_video_predictor
from sam_core.sam3 import Sam3Processor, build_sam3
from sam_core.scenes import render_scene
from sam_core.serve.client import SamServiceClient, ServiceError
from sam_core.serve.fields import decode_mask_png, masks_to_numpy
from sam_core.serve.local import LocalServer
from tests.serve_fixtures import VIDEO_SIZE, model_args, tiny_weights

TOKEN_A = "token-A-" + "a" * 24
TOKEN_B = "token-B-" + "b" * 24
FRAMES = 5
MAX_VIDEO_FRAMES = 8


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return tiny_weights(tmp_path_factory)


@pytest.fixture(scope="module")
def frames():
    """FRAMES frames 160 x 120 of an orchard scene whose camera pans (width != height)."""
    big = render_scene("orchard", 5, size=320).image
    return [np.ascontiguousarray(big[40:160, 8 * t:8 * t + 160]) for t in range(FRAMES)]


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def media_root(tmp_path_factory, frames):
    root = tmp_path_factory.mktemp("media")
    (root / "orchard").mkdir()
    for index, frame in enumerate(frames):
        (root / "orchard" / f"{index:05d}.png").write_bytes(png(frame))
    return root


@pytest.fixture(scope="module")
def server(weights, media_root):
    args = ["--model", "nano", "--token", TOKEN_A, "--token", TOKEN_B, "--media-root", str(media_root),
            *model_args(*weights), "--max-video-frames", str(MAX_VIDEO_FRAMES), "--max-session-frames", "20"]
    with LocalServer(args, nice=5, startup_timeout_s=120) as running:
        yield running


@pytest.fixture(scope="module")
def client_a(server):
    return SamServiceClient(server.url, token=TOKEN_A, timeout=120)


@pytest.fixture(scope="module")
def client_b(server):
    return SamServiceClient(server.url, token=TOKEN_B, timeout=120)


@pytest.fixture(scope="module")
def local_sam3(weights):
    return build_sam3("tiny", checkpoint=weights[0])


@pytest.fixture(scope="module")
def local_video(weights):
    return build_sam2_video_predictor("hiera_tiny", str(weights[1]), image_size=VIDEO_SIZE)


def local_detect(model, image: np.ndarray, text: str | None, confidence: float, box=None):
    processor = Sam3Processor(model, resolution=model.image_size, confidence_threshold=confidence)
    state = processor.set_image(image)
    if text is not None:
        state = processor.set_text_prompt(text, state)
    if box is not None:
        state = processor.add_geometric_prompt(box, True, state)
    scores = state["scores"].float().numpy()
    order = np.argsort(-scores, kind="stable")
    return masks_to_numpy(state["masks"])[order], state["boxes"].float().numpy()[order], scores[order]


# ---- health and schema ------------------------------------------------------------------------
def test_health_lists_every_served_model(server):
    health = SamServiceClient(server.url).health()
    assert health["models"] == {"sam1": "nano", "sam3": "tiny", "sam2": "hiera_tiny"}
    assert health["capabilities"] == ["predict_mask", "image_sessions", "export", "detect", "segment_text", "track"]


def test_openapi_schema_documents_the_seed_fields(client_a):
    status, _, body = client_a.request("GET", "/openapi.json")
    schema = json.loads(body)
    assert status == 200
    assert {"/detect", "/segment/text", "/track/start", "/track/prompt", "/track/propagate", "/track/stop",
            "/track/export"} <= set(schema["paths"])
    bodies = schema["components"]["schemas"]
    detect_fields = bodies["Body_detect_detect_post"]["properties"]
    assert {"image", "text", "confidence", "boxes", "box_labels", "image_path"} == set(detect_fields)
    propagate = bodies["Body_track_propagate_track_propagate_post"]["properties"]
    assert propagate["direction"]["enum"] == ["forward", "backward", "both"]
    assert {"session_id", "start_frame", "max_frames"} <= set(propagate)


def test_answers_have_exactly_the_documented_fields(client_a, frames):
    from sam_core.serve import schemas

    def fields(model) -> set[str]:
        return set(model.model_fields)

    def post(path, fields_, files=None):
        status, _, body = client_a.request("POST", path, fields_, files)
        assert status == 200, body[:300]
        return json.loads(body)

    detect = post("/detect", {"text": "apple", "confidence": "0"}, {"image": png(frames[0])})
    assert set(detect) == fields(schemas.DetectAnswer) and set(detect["objects"][0]) == fields(schemas.DetectedObject)
    started = post("/track/start", {}, [("frames", png(f)) for f in frames[:2]])
    assert set(started) == fields(schemas.TrackStartAnswer)
    sid = started["session_id"]
    assert set(post("/track/prompt", {"session_id": sid, "points": [[9, 9]]})) == fields(schemas.TrackPromptAnswer)
    propagated = post("/track/propagate", {"session_id": sid})
    assert set(propagated) == fields(schemas.TrackPropagateAnswer)
    assert set(propagated["frames"][0]) == fields(schemas.TrackedFrame)
    assert set(post("/track/stop", {"session_id": sid})) == fields(schemas.StoppedAnswer)
    status, _, body = client_a.request("GET", "/openapi.json")
    documented = json.loads(body)["paths"]["/track/propagate"]["post"]["responses"]["200"]["content"]
    assert documented["application/json"]["schema"] == {"$ref": "#/components/schemas/TrackPropagateAnswer"}


# ---- /detect and /segment/text ----------------------------------------------------------------
def test_detect_equals_sam3_processor(client_a, frames, local_sam3):
    image = frames[0]
    detections, answer = client_a.detect(png(image), text="ripe apple", confidence=0.0)
    masks, boxes, scores = local_detect(local_sam3, image, "ripe apple", 0.0)
    assert answer["count"] == len(detections) == len(masks) == 10  # every query of the tiny model
    assert answer["shape"] == [10, 120, 160]  # [N, H, W], not [N, 1, H, W]
    assert np.array_equal(np.stack([d.mask for d in detections]), masks)
    np.testing.assert_allclose([d.bbox for d in detections], boxes, atol=0.01)
    np.testing.assert_allclose([d.score for d in detections], scores, atol=1e-6)
    assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)
    assert {d.label for d in detections} == {"ripe apple"}
    processor = Sam3Processor(local_sam3, resolution=112, confidence_threshold=0.0)
    out = processor.set_text_prompt("ripe apple", processor.set_image(image))["outputs"]
    presence = float(out["presence_logit_dec"].sigmoid())
    assert answer["presence"] == pytest.approx(presence, abs=1e-6)
    expected = np.sort((out["pred_logits"].sigmoid().reshape(-1) * presence).numpy())[::-1]
    np.testing.assert_allclose(answer["query_scores"], expected, atol=1e-6)


def test_confidence_defaults_to_half(client_a, frames, local_sam3):
    detections, answer = client_a.detect(png(frames[1]), text="apple")
    expected = local_detect(local_sam3, frames[1], "apple", 0.5)[2]
    assert answer["confidence"] == 0.5 and len(detections) == len(expected)
    assert all(d.score > 0.5 for d in detections)
    strict, _ = client_a.detect(png(frames[1]), text="apple", confidence=0.999999)
    assert len(strict) <= len(detections)


def test_exemplar_box_alone_is_a_visual_prompt(client_a, frames, local_sam3):
    box = [0.5, 0.5, 0.4, 0.3]
    detections, answer = client_a.detect(png(frames[2]), boxes_cxcywh=box, confidence=0.0)
    masks, _, scores = local_detect(local_sam3, frames[2], None, 0.0, box=box)
    assert answer["text"] is None and {d.label for d in detections} == {"visual exemplar"}
    assert np.array_equal(np.stack([d.mask for d in detections]), masks)
    np.testing.assert_allclose([d.score for d in detections], scores, atol=1e-6)


def test_segment_text_is_every_instance_merged(client_a, frames):
    detections, _ = client_a.detect(png(frames[0]), text="ripe apple", confidence=0.0)
    merged, count = client_a.segment_text(png(frames[0]), text="ripe apple", confidence=0.0)
    assert count == len(detections) and merged.shape == (120, 160)
    assert np.array_equal(merged, np.any([d.mask for d in detections], axis=0))
    nothing, none_found = client_a.segment_text(png(frames[0]), text="ripe apple", confidence=1.0)
    assert none_found == 0 and nothing.shape == (120, 160) and not nothing.any()


@pytest.mark.parametrize("text", ["🍎 ripe apple", "pomme mûre", "リンゴ", "a" * 200, "apple apple " * 16])
def test_any_printable_phrase_is_answered(client_a, frames, text):
    detections, answer = client_a.detect(png(frames[0]), text=text, confidence=0.0)
    assert answer["text"] == text.strip() and {d.label for d in detections} == {text.strip()}


def test_image_path_and_upload_share_one_backbone_pass(client_a, frames):
    def concept_cache():
        return json.loads(client_a.request("GET", "/stats")[2])["concept_cache"]

    before = concept_cache()
    by_path, answer = client_a.detect(image_path="orchard/00003.png", text="unripe apple", confidence=0.0)
    uploaded, _ = client_a.detect(png(frames[3]), text="unripe apple", confidence=0.0)  # the same bytes
    after = concept_cache()
    assert answer["sha256"] and np.array_equal([d.mask for d in by_path], [d.mask for d in uploaded])
    assert (after["misses"] - before["misses"], after["hits"] - before["hits"]) == (1, 1)


def test_detect_answer_is_structured_json(client_a, frames):
    status, headers, body = client_a.request("POST", "/detect", {"text": "apple", "confidence": "0"},
                                             {"image": png(frames[0])})
    answer = json.loads(body)
    assert status == 200 and headers["content-type"] == "application/json"
    assert isinstance(answer["objects"], list) and isinstance(answer["objects"][0], dict)
    assert set(answer["objects"][0]) == {"mask", "bbox", "score", "label"}


def test_detect_under_bfloat16_autocast(local_sam3, frames):
    """The seed's pitfall for real: under bf16 autocast (as on a GPU) SAM 3's scores are bfloat16, which
    numpy cannot hold; the engine hands back float32 scores and boxes and bool masks [N, H, W]."""
    from sam_core.serve.engine_sam3 import ConceptEngine

    engine = ConceptEngine(local_sam3, "tiny", cache_size=1, max_pixels=10**6, min_side=16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        image = engine.encode(png(frames[0]))
        state = Sam3Processor(local_sam3, resolution=112, confidence_threshold=0.0).set_text_prompt(
            "apple", {"backbone_out": dict(image.backbone_out), "original_height": 120, "original_width": 160})
        assert state["scores"].dtype == torch.bfloat16 and state["masks"].shape[1] == 1
        with pytest.raises(TypeError):
            state["scores"].numpy()
        found = engine.detect(image, "apple", [], 0.0)
    assert found.masks.shape == (10, 120, 160) and found.masks.dtype == bool
    assert found.scores.dtype == found.boxes.dtype == np.float32


def test_masks_to_numpy_handles_bfloat16_and_n1hw():
    probabilities = torch.tensor([[[[0.2, 0.7], [0.9, 0.1]]]], dtype=torch.bfloat16)  # [1, 1, 2, 2]
    assert masks_to_numpy(probabilities).tolist() == [[[False, True], [True, False]]]
    assert masks_to_numpy(torch.zeros(3, 4, 5, dtype=torch.bool)).shape == (3, 4, 5)
    with pytest.raises(ValueError):
        masks_to_numpy(torch.zeros(2, 3, 4, 5))


# ---- /track/* ---------------------------------------------------------------------------------
@pytest.fixture
def tracked(client_a, frames):
    started = client_a.track_start([png(f) for f in frames])
    yield started
    try:
        client_a.track_stop(started["session_id"])
    except ServiceError:
        pass  # the test stopped it


def local_track(predictor, frames, point, **propagate):
    state = predictor.init_state(frames, offload_video_to_cpu=True)
    _, _, logits = predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[point], labels=[1])
    first = masks_to_numpy(logits > 0)
    return first, {f: masks_to_numpy(m > 0) for f, _, m in predictor.propagate_in_video(state, **propagate)}


def test_track_session_equals_sam2_video_predictor(client_a, tracked, frames, local_video):
    assert tracked["num_frames"] == FRAMES and (tracked["width"], tracked["height"]) == (160, 120)
    sid = tracked["session_id"]
    clicked = client_a.track_prompt(sid, frame_idx=0, points=[[80, 60]])  # no obj_id
    assert clicked.object_ids == [1] and clicked.masks.shape == (1, 120, 160)
    first, propagated = local_track(local_video, frames, [80, 60])
    assert np.array_equal(clicked.masks, first)
    results = client_a.track_propagate(sid, max_frames=-1)
    assert [r.frame_idx for r in results] == list(range(FRAMES))  # -1: every frame, not none
    for result in results:
        assert result.masks.shape == (1, 120, 160)
        assert np.array_equal(result.masks, propagated[result.frame_idx])


def test_track_answers_are_json_with_object_ids(client_a, tracked):
    sid = tracked["session_id"]
    status, _, body = client_a.request("POST", "/track/prompt", {"session_id": sid, "points": [[10, 10]],
                                                                 "obj_id": "7", "frame_idx": "1"})
    answer = json.loads(body)
    assert status == 200 and answer["object_ids"] == [7] and answer["num_objects"] == 1
    assert answer["shape"] == [1, 120, 160] and answer["frame_idx"] == 1 and len(answer["masks"]) == 1


def test_propagate_directions_start_frame_and_max_frames(client_a, tracked):
    sid = tracked["session_id"]
    client_a.track_prompt(sid, frame_idx=2, points=[[80, 60]])
    client_a.track_prompt(sid, frame_idx=2, obj_id=2, box_cxcywh=[0.25, 0.25, 0.3, 0.3])

    def frames_of(**kwargs):
        return [r.frame_idx for r in client_a.track_propagate(sid, **kwargs)]

    assert frames_of() == [2, 3, 4]  # forward from the prompted frame
    assert frames_of(direction="backward") == [0, 1, 2]
    assert frames_of(direction="both") == [0, 1, 2, 3, 4]
    assert frames_of(start_frame=3, max_frames=0) == [3]  # start_frame is honoured (the seed's key mismatch)
    assert frames_of(direction="backward", start_frame=4, max_frames=2) == [2, 3, 4]
    results = client_a.track_propagate(sid, direction="both")
    assert all(r.object_ids == [1, 2] and r.masks.shape == (2, 120, 160) for r in results)


def test_track_export_is_the_tracked_masks_and_a_manifest(client_a, tracked):
    sid = tracked["session_id"]
    client_a.track_prompt(sid, frame_idx=1, points=[[80, 60]])
    client_a.track_prompt(sid, frame_idx=1, obj_id=3, box_cxcywh=[0.3, 0.4, 0.3, 0.4])
    results = client_a.track_propagate(sid, direction="both")
    with zipfile.ZipFile(io.BytesIO(client_a.track_export(sid))) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["format"] == "sam-lesson-tracking" and manifest["video"] == {
            "num_frames": FRAMES, "width": 160, "height": 120}
        assert [f["frame_idx"] for f in manifest["frames"]] == list(range(FRAMES))
        for frame, result in zip(manifest["frames"], results, strict=True):
            assert [o["obj_id"] for o in frame["objects"]] == result.object_ids == [1, 3]
            for entry, mask in zip(frame["objects"], result.masks, strict=True):
                exported = decode_mask_png(archive.read(entry["file"]))
                assert np.array_equal(exported, mask) and entry["area"] == int(mask.sum())
                assert entry["bbox"] == (list(tight_box(mask)) if mask.any() else None)


def test_clicks_of_others_are_served_between_propagated_frames(client_a, client_b, frames):
    """A propagation runs one frame per model call: while it runs, the same session refuses a prompt (409)
    and a click on another student's session is answered before the propagation ends."""
    import threading

    sid = client_a.track_start([png(frames[t % FRAMES]) for t in range(MAX_VIDEO_FRAMES)])["session_id"]
    client_a.track_prompt(sid, frame_idx=4, points=[[80, 60]])
    other = client_b.track_start([png(f) for f in frames[:2]])["session_id"]
    client_b.track_prompt(other, points=[[80, 60]])
    finished = {}

    def propagate() -> None:
        client_a.track_propagate(sid, direction="both")
        finished["at"] = time.perf_counter()

    worker = threading.Thread(target=propagate)
    worker.start()
    refused = None
    while refused is None and worker.is_alive():  # poll until the propagation is seen running
        status, _, body = client_a.request("POST", "/track/prompt", {"session_id": sid, "points": [[5, 5]]})
        if status == 409:
            refused = json.loads(body)["detail"]
    client_b.track_prompt(other, points=[[40, 30]])
    clicked_at = time.perf_counter()
    worker.join()
    for session_id, owner in ((sid, client_a), (other, client_b)):
        owner.track_stop(session_id)
    assert refused is not None and "propagating" in refused
    assert clicked_at < finished["at"]


def test_stopped_session_is_404_and_another_tokens_is_403(client_a, client_b, frames):
    sid = client_a.track_start([png(f) for f in frames[:2]])["session_id"]
    with pytest.raises(ServiceError) as foreign:
        client_b.track_prompt(sid, points=[[5, 5]])
    assert foreign.value.status == 403
    with pytest.raises(ServiceError) as foreign_stop:
        client_b.track_stop(sid)
    assert foreign_stop.value.status == 403
    client_a.track_stop(sid)
    for call in (lambda: client_a.track_prompt(sid, points=[[5, 5]]),
                 lambda: client_a.track_propagate(sid), lambda: client_a.track_export(sid),
                 lambda: client_a.track_stop(sid)):
        with pytest.raises(ServiceError) as gone:
            call()
        assert gone.value.status == 404
    assert client_a.sessions() == []


def test_frame_budget_is_429_until_a_session_stops(client_a, client_b, frames):
    eight = [png(frames[t % FRAMES]) for t in range(MAX_VIDEO_FRAMES)]
    first = client_a.track_start(eight)["session_id"]
    second = client_b.track_start(eight)["session_id"]  # the budget is the server's, over every token
    with pytest.raises(ServiceError) as full:
        client_a.track_start(eight)
    assert full.value.status == 429 and "frames" in full.value.message
    client_b.track_stop(second)
    third = client_a.track_start(eight)["session_id"]
    for sid in (first, third):
        client_a.track_stop(sid)


def test_video_path_under_media_root_only(client_a, media_root, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes((media_root / "orchard" / "00000.png").read_bytes())
    (media_root / "linked").mkdir()
    (media_root / "linked" / "00000.png").symlink_to(secret)  # a link in a frame folder pointing out
    started = client_a.track_start(video_path="orchard")
    assert started["num_frames"] == FRAMES
    client_a.track_stop(started["session_id"])
    for path, status in (("../orchard", 403), ("/etc", 403), ("nowhere", 404), ("orchard/../../x", 403),
                         ("linked", 403), ("orchard/00000.png", 422)):
        with pytest.raises(ServiceError) as refused:
            client_a.track_start(video_path=path)
        assert refused.value.status == status


@pytest.mark.parametrize("fields, status, words", [
    ({"text": "apple"}, 422, "SAM 3 video model"),
    ({"points": [[5, 5]], "frame_idx": "99"}, 422, "outside the video"),
    ({"points": [[500, 5]]}, 422, "outside the 160 x 120"),
    ({"points": [[5, 5]], "obj_id": "0"}, 422, "obj_id"),
    ({"labels": [1]}, 422, "without 'points'"),
    ({}, 422, "give 'points'"),
])
def test_bad_prompts_are_4xx(client_a, tracked, fields, status, words):
    code, _, body = client_a.request("POST", "/track/prompt", {"session_id": tracked["session_id"], **fields})
    assert code == status and words in json.loads(body)["detail"]


def test_start_limits_and_refusals(client_a, frames):
    too_long = [png(frames[0])] * (MAX_VIDEO_FRAMES + 1)
    for files, fields, status in (
        ([("frames", f) for f in too_long], {}, 413),
        ([("frames", png(frames[0])), ("frames", png(frames[0][:60]))], {}, 422),  # frames of two sizes
        ([("frames", png(frames[0]))], {"session_id": "my-own-id"}, 422),  # ids are the server's
        (None, {}, 422),
    ):
        code, _, body = client_a.request("POST", "/track/start", fields, files)
        assert code == status and json.loads(body)["detail"]
    sid = client_a.track_start([png(frames[0])])["session_id"]
    code, _, body = client_a.request("POST", "/track/propagate", {"session_id": sid})
    assert code == 409 and "no prompt yet" in json.loads(body)["detail"]
    client_a.track_prompt(sid, points=[[5, 5]])
    code, _, body = client_a.request("POST", "/track/propagate", {"session_id": sid, "max_frames": "-2"})
    assert code == 422 and "max_frames" in json.loads(body)["detail"]
    client_a.track_stop(sid)


def test_stopping_a_tracking_session_frees_its_tensors(local_video, frames):
    """In process: once the store closes a session, nothing holds its frames or memory bank any more."""
    import gc
    import weakref

    from sam_core.serve.engine_video import VideoEngine
    from sam_core.serve.sessions import SessionStore

    engine = VideoEngine(local_video, "hiera_tiny", max_pixels=10**6, min_side=16, max_frames=8,
                         max_file_bytes=2**20, max_video_pixels=10**7)
    store = SessionStore(max_sessions=2, max_per_owner=2, max_frames=16, ttl_s=60)
    tracked = engine.start(frames[:3])
    session = store.create("owner", "video", tracked, frames=3, on_close=engine.close_payload)
    engine.add_prompt(tracked, 0, 1, np.array([[80.0, 60.0]]), np.array([1]), None)
    list(engine.propagation(tracked, "forward", None, None))
    images = weakref.ref(tracked.state["images"])
    memory = weakref.ref(tracked.state["output_dict_per_obj"][0]["cond_frame_outputs"][0]["maskmem_features"])
    store.close(session.session_id, "owner")
    assert tracked.closed and session.payload is None
    del tracked, session
    gc.collect()
    assert images() is None and memory() is None
