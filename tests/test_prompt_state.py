"""The Segment page's prompt state machine (ui/prompt_state.py), on a plain dict: no Streamlit."""

from __future__ import annotations

from sam_core.prompts import BACKGROUND, FOREGROUND
from ui.prompt_state import PromptState
from ui.widgets import Click


def point(x: float, y: float) -> Click:
    return Click("point", x, y, x, y)


def test_points_keep_their_labels_and_the_page_prefix():
    store: dict = {}
    state = PromptState(store, "segment")
    assert not state.has_prompt and not state.can_undo
    state.apply(point(100.04, 80.0), FOREGROUND)
    state.apply(point(7.0, 9.96), BACKGROUND)
    assert store["segment_points"] == [[100.0, 80.0], [7.0, 10.0]]  # rounded to 0.1 px
    assert store["segment_labels"] == [FOREGROUND, BACKGROUND]
    assert state.has_prompt and state.box is None


def test_a_drag_in_box_mode_is_a_box_and_a_drag_in_point_mode_is_its_release_point():
    state = PromptState({}, "segment")
    state.apply(Click("box", 300.0, 200.0, 50.0, 40.0), None)
    assert state.box == [50.0, 40.0, 300.0, 200.0] and state.corner is None and state.points == []
    state.apply(Click("box", 10.0, 10.0, 20.0, 30.0), FOREGROUND)
    assert state.points == [[20.0, 30.0]]


def test_two_clicks_make_a_box_in_any_corner_order():
    state = PromptState({}, "segment")
    state.apply(point(300.0, 40.0), None)
    assert state.corner == [300.0, 40.0] and state.box is None and not state.has_prompt
    state.apply(point(50.0, 200.0), None)
    assert state.box == [50.0, 40.0, 300.0, 200.0] and state.corner is None and state.has_prompt


def test_undo_steps_back_through_applies_and_clears():
    state = PromptState({}, "segment")
    state.apply(point(1.0, 2.0), FOREGROUND)
    state.apply(point(3.0, 4.0), None)  # a pending corner
    state.clear()
    assert state.points == [] and state.corner is None
    state.undo()
    assert state.points == [[1.0, 2.0]] and state.corner == [3.0, 4.0]
    state.undo()
    assert state.corner is None and state.points == [[1.0, 2.0]]
    state.undo()
    assert state.points == [] and not state.can_undo
    state.undo()  # nothing left: no change, no error
    assert state.points == []


def test_undo_restores_copies_not_the_live_lists():
    state = PromptState({}, "segment")
    state.apply(point(1.0, 2.0), FOREGROUND)
    state.apply(point(5.0, 6.0), FOREGROUND)
    state.undo()
    assert state.points == [[1.0, 2.0]]
    state.apply(point(9.0, 9.0), FOREGROUND)  # appending after an undo must not alter the stack
    state.undo()
    assert state.points == [[1.0, 2.0]]


def test_a_new_image_forgets_the_prompts_and_the_same_image_keeps_them():
    store: dict = {}
    state = PromptState(store, "segment")
    assert state.start_image("cat") is True
    state.apply(point(1.0, 2.0), FOREGROUND)
    assert state.start_image("cat") is False and state.points == [[1.0, 2.0]]
    assert state.start_image("dog") is True
    assert state.points == [] and state.labels == [] and not state.can_undo
    again = PromptState(store, "segment")  # the next rerun reads the same store back
    again.apply(point(4.0, 4.0), FOREGROUND)
    assert PromptState(store, "segment").points == [[4.0, 4.0]]


def test_points_are_bounded_and_undo_history_too():
    from ui.prompt_state import MAX_POINTS, MAX_UNDO

    store: dict = {}
    state = PromptState(store, "segment")
    results = [state.apply(point(float(i), 1.0), FOREGROUND) for i in range(MAX_POINTS + 10)]
    assert results.count(True) == MAX_POINTS and not any(results[MAX_POINTS:])
    assert len(state.points) == MAX_POINTS and state.full
    assert len(store["segment_history"]) <= MAX_UNDO
    assert state.apply(Click("box", 0.0, 0.0, 5.0, 5.0), None)  # a box still fits


def test_restore_only_onto_the_same_image_and_only_checked_values():
    store: dict = {}
    state = PromptState(store, "segment")
    state.start_image("cat")
    state.apply(point(10.0, 20.0), FOREGROUND)
    state.apply(Click("box", 1.0, 2.0, 30.0, 40.0), None)
    saved = state.as_dict()

    other: dict = {}
    restored = PromptState(other, "segment")
    restored.start_image("dog")
    assert not restored.restore(saved)  # made on another image: not restored
    restored.start_image("cat")
    assert restored.restore(saved)
    assert restored.points == [[10.0, 20.0]] and restored.box == [1.0, 2.0, 30.0, 40.0]
    for broken in ({**saved, "labels": [1, 0]}, {**saved, "points": [["x", 1]]}, {**saved, "box": [1, 2]},
                   {**saved, "points": [[1e30, 1.0]]}):
        assert not PromptState({"segment_image_id": "cat"}, "segment").restore(broken)
