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
        self._store[self._key("history")].append(
            tuple(copy.deepcopy(self._store[self._key(name)]) for name in self.FIELDS))

    def start_image(self, image_id: str) -> bool:
        """Forget all prompts when `image_id` is not the image they were made on; True if it reset."""
        if self._store.get(self._key("image_id")) == image_id:
            return False
        self._store[self._key("image_id")] = image_id
        self._reset()
        return True

    def apply(self, click: Click, label: int | None) -> None:
        """Add `click` (undoably). label is a point label; None means the click makes a box: a drag sets
        the box at once, a plain click is its first corner, and the next plain click finishes it."""
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

    def undo(self) -> None:
        """Back to the prompts before the last apply() or clear(); nothing to undo: no change."""
        history = self._store[self._key("history")]
        if history:
            self._set_prompts(*history.pop())

    def clear(self) -> None:
        """Remove every prompt (undoably)."""
        self._snapshot()
        self._set_prompts([], [], None, None)
