"""The Segment page with the sidebar's "Model server" on (AppTest): the same masks as the local model,
answered by the real server; a clear state when the server is down; the local model when it is off."""

from __future__ import annotations

import pytest

from lesson_content.page_table import page
from sam_core.serve.local import LocalServer, free_port
from tests.test_app_pages import run_page

SEGMENT = page("segment").file
CLICK = {"x1": 100, "y1": 80, "x2": 100, "y2": 80, "width": 451, "height": 300, "unix_time": 1}


@pytest.fixture(scope="module")
def random_server(random_nano_checkpoint):
    """The server on the app's `with_model` weights (the same random nano file)."""
    with LocalServer(["--model", "nano", "--checkpoint", str(random_nano_checkpoint)], nice=5) as running:
        yield running


def scores(at) -> list[str]:
    return [m.value.split("IoU score ")[1] for m in at.markdown if "IoU score" in m.value]


def test_segment_page_through_the_server_equals_the_local_model(random_server, with_model):
    server = random_server
    local = run_page(SEGMENT, {"segment_canvas": CLICK})
    remote = run_page(SEGMENT, {"segment_canvas": CLICK, "model_server_on": True, "model_server_url": server.url})
    assert not remote.exception, [e.value for e in remote.exception]
    assert any("Connected" in s.value for s in remote.sidebar.success)
    assert len(scores(remote)) == 3 and scores(remote) == scores(local)
    assert any("server round trip" in c.value for c in remote.caption)
    assert "POST /image/start" in server.log() and "POST /predict/mask" in server.log()


def test_segment_page_says_when_the_server_is_down(with_model):
    at = run_page(SEGMENT, {"segment_canvas": CLICK, "model_server_on": True,
                            "model_server_url": f"http://127.0.0.1:{free_port()}"})
    assert not at.exception, [e.value for e in at.exception]
    assert any("Model server unavailable" in e.value and "not reachable" in e.value for e in at.sidebar.error)
    assert any("Switch **Model server** off" in e.value for e in at.main.error)
    assert scores(at) == []


def test_a_file_url_is_never_fetched(with_model):
    at = run_page(SEGMENT, {"model_server_on": True, "model_server_url": "file:///etc/passwd"})
    assert not at.exception
    assert any("http or https only" in e.value for e in at.sidebar.error)


def test_an_instructor_can_lock_the_address(random_server, with_model, monkeypatch):
    """SAM_SERVER_URL_LOCKED=1: the class's server is used whatever address the session holds."""
    monkeypatch.setenv("SAM_SERVER_URL", random_server.url)
    monkeypatch.setenv("SAM_SERVER_URL_LOCKED", "1")
    at = run_page(SEGMENT, {"segment_canvas": CLICK, "model_server_on": True,
                            "model_server_url": "http://192.0.2.1:9"})  # what a student typed
    assert not at.exception, [e.value for e in at.exception]
    address = at.sidebar.text_input(key="model_server_url")
    assert address.disabled and address.value == random_server.url
    assert any("Connected" in s.value for s in at.sidebar.success) and len(scores(at)) == 3
