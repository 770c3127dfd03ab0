"""ui.work_store (a student's work across reloads and restarts) and ui.click_log's event log."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from ui import click_log, work_store
from ui.session import image_hash


@pytest.fixture
def store(tmp_path):
    return work_store.WorkStore(tmp_path / "work", max_image_bytes=200_000, ttl_s=3600)


def test_state_round_trip_per_token_and_page(store):
    alice, bob = work_store.new_token(), work_store.new_token()
    assert alice != bob and work_store.valid_token(alice)
    store.save_page(alice, "segment", {"points": [[1.0, 2.0]], "labels": [1]})
    store.save_page(alice, "check1", {"answer": 2})
    assert store.load_page(alice, "segment") == {"points": [[1.0, 2.0]], "labels": [1]}
    assert store.load_page(alice, "check1") == {"answer": 2}
    assert store.load_page(bob, "segment") == {}  # nothing of one student in another's session
    store.clear(alice, "segment")
    assert store.load_page(alice, "segment") == {} and store.load_page(alice, "check1") == {"answer": 2}
    store.clear(alice)
    assert store.load(alice) == {}


@pytest.mark.parametrize("token", ["", "short", "../../etc/passwd", "a" * 100, "x/" * 12, None, 123])
def test_bad_tokens_touch_no_file(store, token):
    assert not work_store.valid_token(token)
    assert store.load(token) == {} if isinstance(token, str) else True
    if isinstance(token, str):
        with pytest.raises(ValueError):
            store._state_path(token)


def test_oversized_corrupt_and_expired_states(store):
    token = work_store.new_token()
    assert not store.save_page(token, "segment", {"blob": "x" * (work_store.MAX_STATE_BYTES + 1)})
    path = store._state_path(token)
    path.write_text("{not json")
    assert store.load(token) == {}
    store.save_page(token, "segment", {"a": 1})
    old = time.time() - 7200
    os.utime(path, (old, old))
    assert store.load(token) == {}  # expired
    store.prune()
    assert not path.exists()


def test_images_by_hash_are_bounded(store):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (100, 100, 3), np.uint8) for _ in range(10)]  # ~30 KB each as PNG
    for index, image in enumerate(images):
        assert store.put_image(image, image_hash(image))
        os.utime(store.root / "images" / f"{image_hash(image)}.png", (time.time() - 100 + index,) * 2)
    kept = store.get_image(image_hash(images[-1]))
    assert kept is not None and np.array_equal(kept, images[-1]) and not kept.flags.writeable
    total = sum(p.stat().st_size for p in (store.root / "images").glob("*.png"))
    assert total <= store.max_image_bytes
    assert store.get_image(image_hash(images[0])) is None  # the oldest went first
    assert store.get_image("../../etc/passwd") is None


def _event(seq, x=10, y=20):
    return {"seq": seq, "x": x, "y": y, "width": 100, "height": 100, "unix_time": 1000 + seq}


def test_click_log_applies_every_new_event_once_in_order():
    store = {}
    store["canvas"] = {"log_id": "A", "events": [_event(1), _event(2, 30), _event(3, 40)]}
    clicks = click_log.pending_clicks("canvas", (100, 100), store)
    assert [c.x0 for c in clicks] == [10.0, 30.0, 40.0]
    assert click_log.pending_clicks("canvas", (100, 100), store) == []  # a rerun applies nothing again
    # The browser dropped the applied ones and sent the next two (out of order in the list).
    store["canvas"] = {"log_id": "A", "events": [_event(5, 60), _event(4, 50)]}
    assert [c.x0 for c in click_log.pending_clicks("canvas", (100, 100), store)] == [50.0, 60.0]
    # A new iframe (reload, restart) starts its own log: all of it is new.
    store["canvas"] = {"log_id": "B", "events": [_event(1, 70)]}
    assert [c.x0 for c in click_log.pending_clicks("canvas", (100, 100), store)] == [70.0]
    # The watchdog's copy of the same log after a restart: merged, nothing twice.
    store["canvas"] = None
    store["canvas_watchdog"] = {"log_id": "B", "nudge": 1, "events": [_event(1, 70), _event(2, 80)]}
    assert [c.x0 for c in click_log.pending_clicks("canvas", (100, 100), store)] == [80.0]
    assert click_log.new_events([None, {"bogus": 1}, "text"], None) == ([], None)


def test_segment_page_restores_saved_work_and_drops_bad_values(with_model):
    from streamlit.testing.v1 import AppTest

    from lesson_content.page_table import page
    from ui import images

    token = work_store.new_token()
    cat = images.load_bundled("cat")
    prompts = {"points": [[100.0, 80.0], [200.0, 150.0]], "labels": [1, 0], "box": None, "corner": None,
               "image_id": image_hash(cat)}
    work_store.default_store().save_page(token, "segment", {
        "source": "Photo", "photo": "no_such_photo", "seed": "not a number", "mode": "Foreground point",
        "multimask": "yes", "chosen": 1, "prompts": prompts, "applied": ["old-log", 7]})
    at = AppTest.from_file(str(work_store.Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.query_params["work"] = token
    at.run()
    at.switch_page(page("segment").file)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["segment_points"] == prompts["points"]  # the first photo (cat): restored
    assert at.session_state["segment_canvas_applied"] == ["old-log", 7]
    assert sum("IoU score" in m.value for m in at.markdown) == 3
    other = AppTest.from_file(str(work_store.Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    other.run()
    other.switch_page(page("segment").file)
    other.run()
    assert other.session_state["segment_points"] == []  # another tab (its own token) gets nothing
