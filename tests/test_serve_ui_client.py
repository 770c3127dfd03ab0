"""The app's side of the model service (ui/model_server.py) against the real server on 127.0.0.1.

RemotePredictor must answer exactly what a local SamPredictor answers (it replaces it on the Segment
page), survive an expired image session, and the connection check must tell a student what is wrong:
server down, token missing or wrong, not a model server, or an address that is not http(s).
"""

from __future__ import annotations

import http.server
import threading
import time

import numpy as np
import pytest

from sam_core import SamPredictor, build_sam
from sam_core.scenes import render_scene
from sam_core.serve.client import SamServiceClient
from sam_core.serve.local import LocalServer, free_port
from ui import model_server

TOKEN = "ui-client-token-" + "u" * 16


@pytest.fixture(scope="module")
def server():
    with LocalServer(["--model", "nano", "--token", TOKEN], nice=5) as running:
        yield running


@pytest.fixture(scope="module")
def image():
    return np.ascontiguousarray(render_scene("desk", 7, size=320).image[:200])


def test_remote_predictor_equals_sam_predictor(server, image):
    local = SamPredictor(build_sam("nano"))
    local.set_image(image)
    remote = model_server.RemotePredictor(SamServiceClient(server.url, token=TOKEN), image)
    for prompt in (dict(point_coords=np.array([[150.0, 90.0]]), point_labels=np.array([1])),
                   dict(point_coords=np.array([[150.0, 90.0], [40.0, 30.0]]), point_labels=np.array([1, 0])),
                   dict(box=np.array([100.0, 50.0, 260.0, 180.0]))):
        for multimask in (True, False):
            masks, scores, logits = remote.predict(**prompt, multimask_output=multimask)
            expected_masks, expected_scores, _ = local.predict(**prompt, multimask_output=multimask)
            assert logits is None and masks.shape == expected_masks.shape == ((3 if multimask else 1), 200, 320)
            assert (masks != expected_masks).mean() < 1e-3  # box corners pass through [cx, cy, w, h] floats
            np.testing.assert_allclose(scores, expected_scores, atol=1e-4)
    assert set(remote.last_timings_ms) == {"server_round_trip"}
    remote.stop()


def test_expired_image_session_is_reopened(server, image):
    remote = model_server.RemotePredictor(SamServiceClient(server.url, token=TOKEN), image)
    first, _, _ = remote.predict(point_coords=np.array([[150.0, 90.0]]), point_labels=np.array([1]))
    SamServiceClient(server.url, token=TOKEN).stop_image(remote.session_id)  # as the server's lifetime would
    old = remote.session_id
    again, _, _ = remote.predict(point_coords=np.array([[150.0, 90.0]]), point_labels=np.array([1]))
    assert remote.session_id != old and np.array_equal(first, again)
    remote.stop()
    assert SamServiceClient(server.url, token=TOKEN).sessions() == []


def test_connection_check_says_what_is_wrong(server):
    assert model_server._check(server.url, TOKEN).state == "up"
    assert model_server._check(server.url, TOKEN).health["model"] == "nano"
    missing = model_server._check(server.url, "")
    assert missing.state == "down" and "paste the one your instructor gave" in missing.message
    wrong = model_server._check(server.url, "not-the-token-" + "x" * 10)
    assert wrong.state == "down" and "not accepted" in wrong.message
    down = model_server._check(f"http://127.0.0.1:{free_port()}", TOKEN)
    assert down.state == "down" and "not reachable" in down.message


def test_another_web_server_is_not_taken_for_a_model_server():
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            body = b"<html>a blog</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        result = model_server._check(f"http://127.0.0.1:{httpd.server_address[1]}", "")
    finally:
        httpd.shutdown()
    assert result.state == "down" and "not as a SAM Lesson model server" in result.message


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://host/x", "http://", "javascript:alert(1)",
                                 "127.0.0.1:8001", "http://user@host:8001", "http://host:8001/?x=1", ""])
def test_only_http_addresses_are_asked(url):
    result = model_server._check(url, "")
    assert result.state == "down" and "the address must" in result.message


def test_idle_session_expires_over_http_and_the_app_reopens_it(image):
    with LocalServer(["--model", "nano", "--session-ttl-s", "1"], nice=5) as short_lived:
        service = SamServiceClient(short_lived.url)
        remote = model_server.RemotePredictor(service, image)
        first, _, _ = remote.predict(point_coords=np.array([[150.0, 90.0]]), point_labels=np.array([1]))
        expired = remote.session_id
        time.sleep(1.5)  # idle longer than the lifetime
        status, _, _ = service.request("POST", "/predict/mask", {"session_id": expired, "points": [[1, 1]]})
        assert status == 404 and service.sessions() == []
        again, _, _ = remote.predict(point_coords=np.array([[150.0, 90.0]]), point_labels=np.array([1]))
        assert remote.session_id != expired and np.array_equal(first, again)
