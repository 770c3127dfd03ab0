"""The Try it pages with the sidebar's "Model server" on (AppTest), against the real server: Segment gives the
same masks as the local model; Video and Concepts run on the server's SAM 2 / SAM 3 (tiny random weights
here) without any local SAM 2 / SAM 3; a clear state when the server is down or lacks a model."""

from __future__ import annotations

import pytest

from lesson_content.page_table import page
from sam_core.serve.local import LocalServer, free_port
from tests.serve_fixtures import model_args, tiny_weights
from tests.test_app_pages import REPO, run_page

SEGMENT = page("segment").file
# What ui.click_log sends for one click at displayed (100, 80) on a 451 px wide image.
CLICK = {"log_id": "t", "events": [{"x1": 100, "y1": 80, "x2": 100, "y2": 80, "width": 451, "height": 300,
                                    "unix_time": 1, "seq": 1}]}


@pytest.fixture(scope="module")
def random_server(random_nano_checkpoint, tmp_path_factory):
    """The server on the app's `with_model` weights (the same random nano file), plus tiny SAM 3 and SAM 2."""
    args = ["--model", "nano", "--checkpoint", str(random_nano_checkpoint), *model_args(*tiny_weights(tmp_path_factory))]
    with LocalServer(args, nice=5, startup_timeout_s=120) as running:
        yield running


def run_try_it(name: str, state: dict):
    """A Try it page on its own (AppTest.from_file: no router, so no sidebar; the choice is in session_state)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "lesson_pages" / "try_it" / f"{name}.py"), default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


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


def test_concepts_page_runs_on_the_servers_sam3(random_server, with_model):
    from sam_core.serve.client import SamServiceClient

    on = {"model_server_on": True, "model_server_url": random_server.url}
    at = run_try_it("concepts", {**on, "tryconcepts_threshold": 0.0})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]  # no "embedded SAM 3 weights are not in this copy"
    table = at.dataframe[0].value
    assert len(table) == 10  # every query of the tiny model is kept at threshold 0
    assert any("on tiny on the model server" in m.value for m in at.markdown)
    image = at.session_state["tryconcepts_image_state"][0][2]
    assert image[:2] == (256, 256)
    presence = float(at.metric[0].value)
    from sam_core.scenes import render_scene

    _, answer = SamServiceClient(random_server.url).detect(render_scene("street", 0, size=256).image,
                                                           text="red car", confidence=0.0)
    assert presence == pytest.approx(answer["presence"], abs=1e-3)


def test_video_tracking_session_on_the_server_equals_the_local_predictor(random_server, tmp_path_factory):
    """Try it: Video's computation (lesson_content.video_tracking.TrackingSession) on the server's SAM 2
    through RemoteVideoPredictor gives the masks it gives on a local SAM2VideoPredictor with the same weights."""
    import numpy as np

    from lesson_content.video_tracking import TrackingSession
    from sam_core.sam2.build import build_sam2_video_predictor
    from sam_core.scenes import render_scene
    from sam_core.serve.client import SamServiceClient
    from tests.serve_fixtures import VIDEO_SIZE
    from ui.model_server import RemoteVideoPredictor

    big = render_scene("savanna", 2, size=320).image
    frames = [np.ascontiguousarray(big[40:160, 12 * t:12 * t + 160]) for t in range(4)]
    local_predictor = build_sam2_video_predictor("hiera_tiny", str(tiny_weights(tmp_path_factory)[1]),
                                                 image_size=VIDEO_SIZE)
    sessions = [TrackingSession(predictor, frames)
                for predictor in (local_predictor, RemoteVideoPredictor(SamServiceClient(random_server.url)))]
    for tracking in sessions:
        tracking.click(1, 1, 80, 60, True)
        tracking.click(1, 1, 20, 20, False)
        tracking.click(2, 2, 120, 90, True)
        for _ in tracking.propagate("both"):
            pass
    local, remote = sessions
    assert sorted(remote.masks) == sorted(local.masks) == list(range(4))
    for frame in range(4):
        assert sorted(remote.masks[frame]) == [1, 2]
        for obj in (1, 2):
            assert np.array_equal(remote.masks[frame][obj], local.masks[frame][obj]), (frame, obj)
    SamServiceClient(random_server.url).track_stop(remote.state["session_id"])


def test_a_server_without_sam3_says_so(with_model, random_nano_checkpoint):
    with LocalServer(["--model", "nano", "--checkpoint", str(random_nano_checkpoint)], nice=5) as sam1_only:
        at = run_try_it("concepts", {"model_server_on": True, "model_server_url": sam1_only.url})
    assert not at.exception
    assert any("has no SAM 3 concept model" in w.value for w in at.warning)
