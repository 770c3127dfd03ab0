"""The Segment page's prompts as a state machine: points, a box (dragged, or two clicks), undo, clear.

Pure Python (no Streamlit): it reads and writes a mapping, which the page gives as st.session_state
and the tests as a dict. Keys carry the page prefix ("segment_points", "segment_labels", ...).

    state = PromptState(st.session_state, "segment")
    state.start_image(image_id)              # new image: no prompts, empty undo stack
    state.apply(click, label=FOREGROUND)     # a point; label None: the click is (part of) a box
    state.undo()
"""

from __future__ import annotations

import copy
from collections.abc import MutableMapping

from ui.widgets import Click

MAX_POINTS = 64  # SAM is trained with a handful of clicks; a bound keeps a click storm cheap
MAX_UNDO = 100  # undo steps kept (each a copy of <= MAX_POINTS points)


class PromptState:
    """Prompts in original image pixels.

    points: [[x, y], ...] rounded to 0.1 px; labels: [int, ...] (sam_core.prompts FOREGROUND / BACKGROUND);
    box: [x0, y0, x1, y1] with x0 <= x1, y0 <= y1, or None; corner: [x, y], the first click of a two-click
    box, or None; history: the undo stack of earlier (points, labels, box, corner).
    """

    FIELDS = ("points", "labels", "box", "corner")

    def __init__(self, store: MutableMapping, prefix: str):
        self._store = store
        self._prefix = prefix
        if self._key("history") not in store:
            self._reset()

    def _key(self, name: str) -> str:
        return f"{self._prefix}_{name}"

    @property
    def points(self) -> list[list[float]]:
        return self._store[self._key("points")]

    @property
    def labels(self) -> list[int]:
        return self._store[self._key("labels")]

    @property
    def box(self) -> list[float] | None:
        return self._store[self._key("box")]

    @property
    def corner(self) -> list[float] | None:
        return self._store[self._key("corner")]

    @property
    def can_undo(self) -> bool:
        return bool(self._store[self._key("history")])

    @property
    def has_prompt(self) -> bool:
        """Whether there is anything to predict from (a point or a finished box)."""
        return bool(self.points) or self.box is not None

    def _reset(self) -> None:
        self._store[self._key("history")] = []
        self._set_prompts([], [], None, None)

    def _set_prompts(self, points, labels, box, corner) -> None:
        for name, value in zip(self.FIELDS, (points, labels, box, corner), strict=True):
            self._store[self._key(name)] = value

    def _snapshot(self) -> None:
        history = self._store[self._key("history")]
        history.append(tuple(copy.deepcopy(self._store[self._key(name)]) for name in self.FIELDS))
        del history[:-MAX_UNDO]

    @property
    def full(self) -> bool:
        """Whether MAX_POINTS points are set (further point clicks are refused: apply() returns False)."""
        return len(self.points) >= MAX_POINTS

    def as_dict(self) -> dict:
        """The prompts as JSON-able values (for ui.work_store): points, labels, box, corner, image_id."""
        state = {name: copy.deepcopy(self._store[self._key(name)]) for name in self.FIELDS}
        return {**state, "image_id": self._store.get(self._key("image_id"))}

    def restore(self, saved: dict) -> bool:
        """Set the prompts saved by as_dict() if they were made on the current image; True if restored.

        The saved values are checked (they come from a file): lengths agree, numbers are finite.
        """
        if saved.get("image_id") != self._store.get(self._key("image_id")):
            return False
        try:
            points = [[float(x), float(y)] for x, y in saved.get("points", [])][:MAX_POINTS]
            labels = [int(v) for v in saved.get("labels", [])][:MAX_POINTS]
            box = [float(v) for v in saved["box"]] if saved.get("box") is not None else None
            corner = [float(v) for v in saved["corner"]] if saved.get("corner") is not None else None
        except (TypeError, ValueError):
            return False
        if len(points) != len(labels) or (box is not None and len(box) != 4) or (
                corner is not None and len(corner) != 2):
            return False
        if not all(abs(v) < 1e6 for v in [*sum(points, []), *(box or []), *(corner or [])]):
            return False
        self._store[self._key("history")] = []
        self._set_prompts(points, labels, box, corner)
        return True

    def start_image(self, image_id: str) -> bool:
        """Forget all prompts when `image_id` is not the image they were made on; True if it reset."""
        if self._store.get(self._key("image_id")) == image_id:
            return False
        self._store[self._key("image_id")] = image_id
        self._reset()
        return True

    def apply(self, click: Click, label: int | None) -> bool:
        """Add `click` (undoably). label is a point label; None means the click makes a box: a drag sets
        the box at once, a plain click is its first corner, and the next plain click finishes it.
        Returns False (nothing changed) for a point beyond MAX_POINTS."""
        if label is not None and self.full:
            return False
        self._snapshot()
        if label is not None:
            x, y = click.xy if click.kind == "point" else (click.x1, click.y1)
            self.points.append([round(x, 1), round(y, 1)])
            self.labels.append(int(label))
        elif click.kind == "box":
            self._store[self._key("box")], self._store[self._key("corner")] = list(click.box), None
        elif self.corner is None:
            self._store[self._key("corner")] = list(click.xy)
        else:
            x0, y0 = self.corner
            x1, y1 = click.xy
            self._store[self._key("box")] = [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]
            self._store[self._key("corner")] = None
        return True

    def undo(self) -> None:
        """Back to the prompts before the last apply() or clear(); nothing to undo: no change."""
        history = self._store[self._key("history")]
        if history:
            self._set_prompts(*history.pop())

    def clear(self) -> None:
        """Remove every prompt (undoably)."""
        self._snapshot()
        self._set_prompts([], [], None, None)
