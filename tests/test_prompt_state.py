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
