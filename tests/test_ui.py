"""ui/ helpers: click mapping, mask drawing, and the per-session predictor over the shared model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ui import widgets


def test_click_maps_displayed_pixels_to_original():
    # A 1000 x 500 image shown 500 px wide: displayed (100, 50) is original (200, 100).
    click = widgets.event_to_click({"x": 100, "y": 50, "width": 500, "height": 250}, (500, 1000))
    assert click.kind == "point" and click.xy == (200.0, 100.0)
    # click_and_drag: a press and release at the same spot is a point, a drag is a box (any direction).
    same = widgets.event_to_click({"x1": 10, "y1": 10, "x2": 11, "y2": 10, "width": 500, "height": 250},
                                  (500, 1000))
    assert same.kind == "point"
    drag = widgets.event_to_click({"x1": 300, "y1": 200, "x2": 100, "y2": 20, "width": 500, "height": 250},
                                  (500, 1000))
    assert drag.kind == "box" and drag.box == (200.0, 40.0, 600.0, 400.0)
    # A release outside the image is clamped to the last pixel.
    outside = widgets.event_to_click({"x1": 10, "y1": 10, "x2": 900, "y2": -5, "width": 500, "height": 250},
                                     (500, 1000))
    assert outside.box == (20.0, 0.0, 999.0, 20.0)


def test_mask_overlay_blends_only_the_mask_and_keeps_the_input():
    image = np.full((40, 60, 3), 100, np.uint8)
    mask = np.zeros((40, 60), bool)
    mask[10:30, 20:40] = True
    out = widgets.mask_overlay(image, mask, color=(200, 0, 0), alpha=0.5, outline=False)
    assert np.all(image == 100)  # input untouched
    assert tuple(out[0, 0]) == (100, 100, 100)
    r, g, b = out[20, 30].astype(int)
    assert abs(r - 150) <= 1 and abs(g - 50) <= 1 and abs(b - 50) <= 1
    outlined = widgets.mask_overlay(image, mask, outline_color=(255, 255, 255))
    assert tuple(outlined[10, 30]) == (255, 255, 255) and tuple(outlined[20, 30]) != (255, 255, 255)
    with pytest.raises(ValueError):
        widgets.mask_overlay(image, np.zeros((10, 10), bool))


def test_mask_outline_is_the_boundary():
    mask = np.zeros((10, 10), bool)
    mask[2:8, 2:8] = True
    edge = widgets.mask_outline(mask)
    assert edge.sum() == 20 and edge[2, 2] and not edge[4, 4] and not edge[0, 0]


def test_draw_prompts_and_resize_mask():
    image = np.zeros((100, 200, 3), np.uint8)
    drawn = widgets.draw_prompts(image, [[50, 50], [150, 50]], [1, 0], box=(10, 10, 190, 90), scale=0.5)
    assert drawn.shape == image.shape and drawn.any() and not image.any()
    small = widgets.resize_mask(np.eye(4, dtype=bool), (2, 2))
    assert small.tolist() == [[True, False], [False, True]]


def test_downscale_for_display_memoises_read_only_images():
    image = np.zeros((1000, 2000, 3), np.uint8)
    image.flags.writeable = False
    first, scale = widgets.downscale_for_display(image, 800)
    again, _ = widgets.downscale_for_display(image, 800)
    assert first.shape == (400, 800, 3) and scale == 0.4 and again is first


def test_format_timings():
    text = widgets.format_timings({"image_encoder": 80.0, "mask_decoder": 5.25})
    assert text == "image encoder 80.0 ms (once per image) · mask decoder 5.2 ms"


PREDICTOR_SCRIPT = """
import numpy as np
import streamlit as st
from ui import session

first = np.zeros((64, 96, 3), np.uint8)
second = np.full((64, 96, 3), 200, np.uint8)
st.session_state["same_a"] = session.predictor_for(first) is session.predictor_for(first.copy())
st.session_state["other"] = session.predictor_for(second) is not session.predictor_for(first)
masks, scores, _ = session.predictor_for(first).predict(point_coords=np.array([[10.0, 20.0]]),
                                                        point_labels=np.array([1]))
st.session_state["shapes"] = (masks.shape, scores.shape)
"""


def test_predictor_for_encodes_once_per_image_and_never_touches_the_model(monkeypatch, tmp_path):
    import torch
    from safetensors.torch import save_file
    from streamlit.testing.v1 import AppTest

    from sam_core.sam1.build import sam_model_registry
    from sam_core.sam1.predictor import SamPredictor

    torch.manual_seed(0)
    path = tmp_path / "random_nano.safetensors"
    save_file({k: v.contiguous() for k, v in sam_model_registry["nano"]().state_dict().items()}, str(path))
    monkeypatch.setenv("SAM_CHECKPOINT", str(path))
    monkeypatch.setenv("SAM_MODEL_TYPE", "nano")
    encoded = []
    original_set_image = SamPredictor.set_image

    def counting_set_image(self, image, *args, **kwargs):
        encoded.append(image.shape)
        return original_set_image(self, image, *args, **kwargs)

    monkeypatch.setattr(SamPredictor, "set_image", counting_set_image)

    at = AppTest.from_string(PREDICTOR_SCRIPT, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["same_a"] and at.session_state["other"]
    assert at.session_state["shapes"] == ((3, 64, 96), (3,))
    assert len(encoded) == 2  # two different images, each encoded once
    at.run()  # a rerun (a click) encodes nothing
    assert len(encoded) == 2

    from ui import session

    model = session._load_model("nano", str(path), "cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    other = AppTest.from_string(PREDICTOR_SCRIPT, default_timeout=120).run()  # another student
    assert not other.exception
    assert len(encoded) == 2  # the same images: the embeddings are shared (ui.model_queue), not redone
    assert other.session_state["shapes"] == ((3, 64, 96), (3,))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(p.requires_grad for p in model.parameters())


def test_torch_threads_policy(monkeypatch):
    from ui import session

    monkeypatch.setenv("SAM_LESSON_TORCH_THREADS", "3")
    assert session.torch_threads() == 3
    monkeypatch.delenv("SAM_LESSON_TORCH_THREADS")
    monkeypatch.setattr(session.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert session.torch_threads() == 1
    monkeypatch.setattr(session.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert session.torch_threads() == 8


# ---- class mode: no file oracle, checks before any model is built, failures cached (issue 23) ----------

def test_class_mode_path_box_reveals_nothing(monkeypatch, tmp_path):
    from ui import session

    monkeypatch.setenv(session.CLASS_MODE_ENV, "1")
    monkeypatch.delenv(session.CHECKPOINT_DIR_ENV, raising=False)
    assert not session.local_paths_allowed()  # no folder configured: no local option at all
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "mine.pth").write_bytes(b"PK\x03\x04" + bytes(100))
    (folder / "notes.txt").write_text("not a checkpoint")
    monkeypatch.setenv(session.CHECKPOINT_DIR_ENV, str(folder))
    assert session.local_checkpoints() == ["mine.pth"]
    messages = {path: session._local_file_info({"name": "vit_h", "path": path}, "cpu")
                for path in ("/etc/passwd", "/no/such/file", "../checkpoints/mine.pth", str(folder / "mine.pth"))}
    assert {info.status for info in messages.values()} == {"error"}
    assert len({info.message for info in messages.values()}) == 1  # the same words whatever exists
    assert all("passwd" not in info.message and "bytes" not in info.message for info in messages.values())
    assert session._local_file_info({"name": "vit_h", "path": "mine.pth"}, "cpu").ready


def test_local_file_checked_before_building(monkeypatch, tmp_path):
    import os
    import time

    from ui import session

    monkeypatch.delenv(session.CLASS_MODE_ENV, raising=False)
    fifo = tmp_path / "weights.pth"
    os.mkfifo(fifo)
    text = tmp_path / "passwd.pth"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    started = time.perf_counter()
    for path, words in ((fifo, "regular file"), ("/dev/zero", "regular file"), ("/etc/passwd", "only"),
                        (text, "not a PyTorch")):
        info = session._local_file_info({"name": "vit_h", "path": str(path)}, "cpu")
        assert info.status == "error" and words in info.message, info.message
    assert time.perf_counter() - started < 2.0  # nothing blocked on the FIFO, nothing read from /dev/zero


def test_failed_load_is_cached(monkeypatch, tmp_path):
    from ui import session

    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x80\x04" + bytes(200))  # looks like a pickle, is not a checkpoint
    info = session.ModelInfo("bad.pth", "path", "vit_h", str(bad), "cpu", "ready")
    calls = []

    def failing_load(model_type, checkpoint, device):
        calls.append(checkpoint)
        raise ValueError(f"broken file at {checkpoint}")

    monkeypatch.setattr(session, "model_info", lambda: info)
    monkeypatch.setattr(session, "_load_model", failing_load)
    monkeypatch.setattr(session, "st", type("FakeSt", (), {"session_state": {}})())
    monkeypatch.setattr(session, "_FAILED_LOADS", {})
    for _ in range(3):
        model, result = session.resolve_model()
        assert model is None and result.status == "error"
    assert len(calls) == 1  # built and read once, not on every rerun
    monkeypatch.setenv(session.CLASS_MODE_ENV, "1")
    monkeypatch.setattr(session, "_FAILED_LOADS", {})
    _, result = session.resolve_model()
    assert str(tmp_path) not in result.message  # class mode: no server path in the message


def test_streamlit_config_hides_error_details_and_keeps_xsrf():
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"  # no traceback or server path in the browser
    assert config["server"]["enableXsrfProtection"] is True
    from ui.images import MAX_UPLOAD_BYTES

    assert config["server"]["maxUploadSize"] * 2**20 == MAX_UPLOAD_BYTES


def test_class_mode_sidebar_has_no_path_box(with_model, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui import sidebar

    app = str(Path(__file__).resolve().parents[1] / "app.py")
    monkeypatch.setenv("SAM_LESSON_CLASS_MODE", "1")
    monkeypatch.delenv("SAM_LESSON_CHECKPOINT_DIR", raising=False)
    at = AppTest.from_file(app, default_timeout=120).run()
    assert not at.exception
    assert sidebar.LOCAL_FILE not in at.sidebar.selectbox(key="app_model_select").options
    assert not [t for t in at.sidebar.text_input if t.key == "app_model_path"]
    monkeypatch.delenv("SAM_LESSON_CLASS_MODE")
    at = AppTest.from_file(app, default_timeout=120).run()
    assert sidebar.LOCAL_FILE in at.sidebar.selectbox(key="app_model_select").options
