"""The model service over HTTP: the real server (uvicorn on 127.0.0.1, embedded nano model), every endpoint.

Each answer is compared with what ``SamPredictor`` gives in this process on the same image and prompt,
so the wire formats (points in pixels, boxes [cx, cy, w, h] normalised, masks [N, H, W]) are checked
against the library, not against themselves.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import json
import threading
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from sam_core import SamPredictor, build_sam
from sam_core.masks import interior_point, tight_box
from sam_core.scenes import render_scene
from sam_core.serve.client import SamServiceClient, ServiceError, ServiceUnavailable, box_xyxy_to_cxcywh
from sam_core.serve.config import ServerConfig
from sam_core.serve.engine import ModelWorker, Sam1Engine
from sam_core.serve.errors import ApiError
from sam_core.serve.fields import decode_mask_png
from sam_core.serve.local import LocalServer, free_port

TOKEN_A = "token-A-" + "a" * 24
TOKEN_B = "token-B-" + "b" * 24


@pytest.fixture(scope="module")
def scene():
    """A 320 x 240 desk (width != height, so a swapped axis shows), and the mug's mask."""
    rendered = render_scene("desk", 3, size=320)
    image = np.ascontiguousarray(rendered.image[:240])
    mug = next(o for o in rendered.objects if o.name == "mug").mask[:240]
    return image, mug


@pytest.fixture(scope="module")
def png_bytes(scene):
    buffer = io.BytesIO()
    Image.fromarray(scene[0]).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def local_predictor(scene):
    predictor = SamPredictor(build_sam("nano"))
    predictor.set_image(scene[0])
    return predictor


@pytest.fixture(scope="module")
def media_root(tmp_path_factory, png_bytes):
    root = tmp_path_factory.mktemp("media")
    (root / "class").mkdir()
    (root / "class" / "desk.png").write_bytes(png_bytes)
    (root.parent / "outside.png").write_bytes(png_bytes)
    return root


@pytest.fixture(scope="module")
def server(media_root):
    with LocalServer(["--model", "nano", "--token", TOKEN_A, "--token", TOKEN_B, "--media-root", str(media_root)],
                     nice=5) as running:
        yield running


@pytest.fixture(scope="module")
def client_a(server):
    return SamServiceClient(server.url, token=TOKEN_A)


@pytest.fixture(scope="module")
def client_b(server):
    return SamServiceClient(server.url, token=TOKEN_B)


# ---- health, auth, schema ---------------------------------------------------------------------
def test_health_is_open_and_json(server):
    health = SamServiceClient(server.url).health()
    assert health == {"status": "running", "model_loaded": True, "processor_ready": True, "model": "nano",
                      "family": "sam1", "device": "cpu", "capabilities": ["predict_mask", "image_sessions", "export"],
                      "auth_required": True, "models": {"sam1": "nano"}}


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/sessions", "/stats"])
def test_everything_but_health_needs_a_token(server, path):
    status, headers, body = SamServiceClient(server.url).request("GET", path)
    assert status == 401 and headers.get("www-authenticate", headers.get("WWW-Authenticate")) == "Bearer"
    assert "token" in json.loads(body)["detail"]
    status, _, body = SamServiceClient(server.url, token="wrong-" + "x" * 20).request("GET", path)
    assert status == 401 and json.loads(body)["detail"] == "the access token was not accepted"


def test_openapi_schema_lists_the_served_endpoints_only(client_a):
    status, _, body = client_a.request("GET", "/openapi.json")
    paths = json.loads(body)["paths"]
    assert status == 200
    assert {"/health", "/predict/mask", "/image/start", "/image/stop", "/export", "/sessions", "/stats"} <= set(paths)
    assert not {"/detect", "/segment/text", "/track/start"} & set(paths)  # started without SAM 3 / SAM 2
    fields = paths["/predict/mask"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert fields["$ref"].endswith("Body_predict_mask_predict_mask_post")


def test_refuses_to_start_on_a_network_address_without_token():
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "sam_core.serve", "--host", "0.0.0.0", "--port", str(free_port())],
                         capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 2 and "without an access token" in run.stderr


def test_down_server_is_a_clear_error():
    with pytest.raises(ServiceUnavailable, match="not reachable"):
        SamServiceClient(f"http://127.0.0.1:{free_port()}", timeout=2).health()


# ---- /predict/mask ----------------------------------------------------------------------------
def test_single_mask_is_a_png_of_the_image_size(client_a, png_bytes, scene, local_predictor):
    x, y = interior_point(scene[1])
    status, headers, body = client_a.request("POST", "/predict/mask", {"points": [[x, y]]}, {"image": png_bytes})
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 200 and headers["content-type"] == "image/png"
    mask = decode_mask_png(body)
    expected, scores, _ = local_predictor.predict(np.array([[x, y]]), np.array([1]), multimask_output=False)
    assert mask.shape == (240, 320) and (mask == expected[0]).all()
    assert float(headers["x-mask-score"]) == pytest.approx(float(scores[0]), abs=1e-5)


def test_multimask_json_masks_are_n_h_w(client_a, png_bytes, scene, local_predictor):
    x, y = interior_point(scene[1])
    result = client_a.predict_mask(png_bytes, points=[[x, y]], multimask=True)
    expected, scores, _ = local_predictor.predict(np.array([[x, y]]), np.array([1]), multimask_output=True)
    assert result.masks.shape == (3, 240, 320) and result.masks.dtype == bool
    assert (result.masks == expected).all()
    np.testing.assert_allclose(result.scores, scores, atol=1e-5)
    assert result.best == int(np.argmax(scores)) and (result.width, result.height) == (320, 240)


def test_json_answer_is_structured_not_a_string(client_a, png_bytes):
    status, headers, body = client_a.request(
        "POST", "/predict/mask", {"points": [[10, 10]], "response_format": "json"}, {"image": png_bytes})
    answer = json.loads(body)
    assert status == 200 and isinstance(answer, dict)
    assert answer["shape"] == [1, 240, 320] and len(answer["masks"]) == 1 and isinstance(answer["scores"][0], float)
    assert answer["multimask"] is False and answer["session_id"] is None


def test_box_is_cx_cy_w_h_normalised(client_a, png_bytes, scene, local_predictor):
    x0, y0, x1, y1 = tight_box(scene[1])
    box = box_xyxy_to_cxcywh((x0, y0, x1, y1), 320, 240)
    result = client_a.predict_mask(png_bytes, box_cxcywh=box)
    expected, scores, _ = local_predictor.predict(box=np.array([x0, y0, x1, y1]), multimask_output=False)
    assert (result.masks[0] == expected[0]).all()
    np.testing.assert_allclose(result.scores, scores, atol=1e-5)


def test_labels_default_to_foreground_and_background_points_count(client_a, png_bytes, local_predictor):
    points = [[150, 120], [40, 30]]
    default = client_a.predict_mask(png_bytes, points=points)
    explicit = client_a.predict_mask(png_bytes, points=points, labels=[1, 1])
    negative = client_a.predict_mask(png_bytes, points=points, labels=[1, 0])
    expected, _, _ = local_predictor.predict(np.array(points), np.array([1, 0]), multimask_output=False)
    assert (default.masks == explicit.masks).all()
    assert (negative.masks[0] == expected[0]).all()


def test_same_image_is_encoded_once(client_a):
    image = (np.random.default_rng(7).random((64, 96, 3)) * 255).astype(np.uint8)
    before = json.loads(client_a.request("GET", "/stats")[2])["embedding_cache"]
    for _ in range(4):
        client_a.predict_mask(image, points=[[5, 5]])
    after = json.loads(client_a.request("GET", "/stats")[2])["embedding_cache"]
    assert after["misses"] - before["misses"] == 1 and after["hits"] - before["hits"] == 3


# ---- image sessions and tokens ----------------------------------------------------------------
def test_image_session_equals_upload_and_stop_frees_it(client_a, png_bytes):
    session = client_a.start_image(png_bytes)
    assert len(session.session_id) >= 32 and (session.width, session.height) == (320, 240)
    assert session.session_id in [s["session_id"] for s in client_a.sessions()]
    by_session = client_a.predict_mask(session_id=session.session_id, points=[[100, 100]], multimask=True)
    by_upload = client_a.predict_mask(png_bytes, points=[[100, 100]], multimask=True)
    assert (by_session.masks == by_upload.masks).all() and by_session.session_id == session.session_id
    client_a.stop_image(session.session_id)
    with pytest.raises(ServiceError) as caught:
        client_a.predict_mask(session_id=session.session_id, points=[[100, 100]])
    assert caught.value.status == 404
    with pytest.raises(ServiceError) as caught:
        client_a.stop_image(session.session_id)
    assert caught.value.status == 404


def test_session_of_token_a_is_forbidden_to_token_b(client_a, client_b, png_bytes):
    session = client_a.start_image(png_bytes)
    for call in (lambda: client_b.predict_mask(session_id=session.session_id, points=[[5, 5]]),
                 lambda: client_b.stop_image(session.session_id),
                 lambda: client_b.export(session_id=session.session_id, objects=[{"points": [[5, 5]]}])):
        with pytest.raises(ServiceError) as caught:
            call()
        assert caught.value.status == 403 and "another access token" in caught.value.message
    assert session.session_id not in [s["session_id"] for s in client_b.sessions()]
    client_a.predict_mask(session_id=session.session_id, points=[[5, 5]])  # still A's, still open
    client_a.stop_image(session.session_id)


def test_session_limit_per_token_is_429_and_stop_frees_a_slot(client_b, png_bytes):
    sessions = [client_b.start_image(png_bytes) for _ in range(ServerConfig().max_sessions_per_token)]
    with pytest.raises(ServiceError) as caught:
        client_b.start_image(png_bytes)
    assert caught.value.status == 429 and "stop one first" in caught.value.message
    client_b.stop_image(sessions.pop().session_id)
    sessions.append(client_b.start_image(png_bytes))
    for session in sessions:
        client_b.stop_image(session.session_id)
    assert client_b.sessions() == []


def test_image_path_under_media_root_only(client_a, png_bytes):
    by_path = client_a.predict_mask(image_path="class/desk.png", points=[[100, 100]])
    by_upload = client_a.predict_mask(png_bytes, points=[[100, 100]])
    assert (by_path.masks == by_upload.masks).all()
    for path, status in (("../outside.png", 403), ("/etc/passwd", 403), ("class/none.png", 404)):
        with pytest.raises(ServiceError) as caught:
            client_a.predict_mask(image_path=path, points=[[1, 1]])
        assert caught.value.status == status


# ---- /export ----------------------------------------------------------------------------------
def test_export_zip_has_masks_and_manifest(client_a, png_bytes, scene, local_predictor):
    x, y = interior_point(scene[1])
    x0, y0, x1, y1 = tight_box(scene[1])
    objects = [{"name": "mug click", "points": [[x, y]]},  # no obj_id: gets the smallest free id
               {"obj_id": 1, "name": "mug box", "box": box_xyxy_to_cxcywh((x0, y0, x1, y1), 320, 240)}]
    archive = zipfile.ZipFile(io.BytesIO(client_a.export(png_bytes, objects=objects)))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["image"]["width"] == 320 and manifest["image"]["height"] == 240
    assert [o["obj_id"] for o in manifest["objects"]] == [2, 1]
    click = manifest["objects"][0]
    mask = decode_mask_png(archive.read(click["file"]))
    expected, scores, _ = local_predictor.predict(np.array([[x, y]]), np.array([1]), multimask_output=False)
    assert mask.shape == (240, 320) and (mask == expected[0]).all()
    assert click["area"] == int(mask.sum()) and click["bbox"] == list(tight_box(mask))
    assert click["score"] == pytest.approx(float(scores[0]), abs=1e-5)
    assert sorted(archive.namelist()) == ["manifest.json", "masks/obj_001.png", "masks/obj_002.png"]


# ---- in-process checks: the worker queue and the last-resort error handler --------------------
def _run_in_fresh_loop(coro):
    """asyncio.run on a thread of its own: another test (Playwright's sync API) may leave this thread's
    event loop running, and asyncio.run refuses to start inside one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_worker_runs_one_call_at_a_time_and_bounds_the_queue():
    worker = ModelWorker(max_queued=40)
    running, peak = [0], [0]
    lock = threading.Lock()

    def model_call(index: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.005)
        with lock:
            running[0] -= 1
        return index

    async def thirty_at_once():
        return await asyncio.gather(*(worker.run(model_call, i) for i in range(30)))

    assert _run_in_fresh_loop(thirty_at_once()) == list(range(30)) and peak[0] == 1

    small = ModelWorker(max_queued=2)

    async def overflow():
        return await asyncio.gather(*(small.run(time.sleep, 0.05) for _ in range(3)), return_exceptions=True)

    outcomes = _run_in_fresh_loop(overflow())
    assert [isinstance(o, ApiError) and o.status == 503 for o in outcomes] == [False, False, True]
    worker.shutdown()
    small.shutdown()


@contextlib.contextmanager
def thread_server(config: ServerConfig, engine: Sam1Engine):
    """create_app(config, engine) under uvicorn on a free loopback port, in a thread; yields its URL."""
    import uvicorn

    from sam_core.serve.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config, engine), host="127.0.0.1", port=port,
                                           log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def nano_engine(engine_class: type[Sam1Engine] = Sam1Engine) -> Sam1Engine:
    return engine_class(build_sam("nano"), "nano", cache_size=2, max_pixels=10**6, min_side=16)


class ExplodingEngine(Sam1Engine):
    """The real nano engine whose decoder raises, as a bug would (to test the last-resort handler)."""

    @staticmethod
    def predict(*_args, **_kwargs):
        raise RuntimeError("secret detail at /root/private/path.py line 42")


def test_unexpected_error_is_a_generic_500_without_traceback(png_bytes):
    with thread_server(ServerConfig(), nano_engine(ExplodingEngine)) as url:
        status, _, body = SamServiceClient(url).request("POST", "/predict/mask", {"points": [[5, 5]]},
                                                        {"image": png_bytes})
    assert status == 500 and json.loads(body) == {"detail": "internal server error (logged on the server)"}
    assert b"secret" not in body and b"Traceback" not in body


def test_cors_is_off_by_default_and_explicit_origins_only(server):
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    _, headers, _ = SamServiceClient(server.url).request("OPTIONS", "/predict/mask", headers=preflight)
    assert not any(k.lower().startswith("access-control-") for k in headers)  # off: browsers refuse the call
    allowed = "http://class.example:8501"
    with thread_server(ServerConfig(cors_origins=(allowed,)), nano_engine()) as url:
        status, headers, _ = SamServiceClient(url).request("OPTIONS", "/predict/mask",
                                                           headers={**preflight, "Origin": allowed})
        assert status == 200 and headers["access-control-allow-origin"] == allowed
        status, headers, _ = SamServiceClient(url).request("OPTIONS", "/predict/mask", headers=preflight)
        assert status == 400 and "access-control-allow-origin" not in headers
