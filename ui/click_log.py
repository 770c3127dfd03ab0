"""A clickable image that loses no click: the Segment page's canvas.

Streamlit delivers a component's *latest* value only: while a rerun is running, a second and a third
click replace each other and the middle ones are lost (measured: 10 clicks in 2.3 s gave 6-8 points).
This component keeps a log in the browser instead. Every click gets a sequence number; the value sent
is the whole list of clicks Python has not applied yet, so the latest value always contains every
earlier click. Python applies the new events in order and passes back how far it got
(`applied_log`, `applied_seq`); the browser then forgets those. Until then each queued click is drawn
at once as a dashed marker with a "3 clicks queued" badge, so a fast student sees every click land.
After a server restart the tab reconnects to a new session, which ignores a fragment's rerun until the
page has run in full once; `watchdog` (outside the fragment) then asks for a full rerun.

    clicks = pending_clicks("segment_canvas", image.shape[:2])      # new Clicks, oldest first
    clickable_log_image(image, "segment_canvas", points=..., labels=..., mask=...)

Value sent by the browser: {"log_id": str, "events": [{"seq": int, "x", "y" | "x1", "y1", "x2", "y2",
"width", "height", "unix_time"}, ...]} in displayed pixels; `ui.widgets.event_to_click` maps each event
to original image pixels.
"""

from __future__ import annotations

import base64
import io
from collections.abc import MutableMapping, Sequence
from pathlib import Path

import numpy as np
import streamlit as st
import streamlit.components.v1 as components
from PIL import Image

from ui import widgets

_FRONTEND = Path(__file__).resolve().parent / "click_log_frontend"
_component = components.declare_component("click_log", path=str(_FRONTEND))
_watchdog = components.declare_component("click_log_watchdog", path=str(_FRONTEND))  # same page, its own name
JPEG_QUALITY = 88  # what the browser shows: 800 px JPEG, a few tens of KB per rerun


def applied_key(key: str) -> str:
    """Session-state key of the (log_id, seq) applied last for the canvas `key`."""
    return f"{key}_applied"


def new_events(values: Sequence[dict | None], applied: Sequence | None) -> tuple[list[dict], list | None]:
    """The events not applied yet, in order, and the new applied marker.

    Arguments:
      values: component values (see the module docstring; None before the first click): the canvas's,
        and the watchdog's, which carries the same log. Events of the log with the newest event count.
      applied: [log_id, seq] applied last, or None.
    Returns:
      (events, applied): events with seq above the marker when the log is the same; every event
      of a new log (a new iframe: its counter starts again); applied = [log_id, last seq].
    """
    logs = [v for v in values if isinstance(v, dict) and isinstance(v.get("events"), list) and v["events"]]
    unchanged = (list(applied) if applied else None)
    if not logs:
        return [], unchanged
    newest = max(logs, key=lambda v: max(float(e.get("unix_time", 0)) for e in v["events"] if isinstance(e, dict)))
    log_id = str(newest.get("log_id", ""))
    last = int(applied[1]) if applied and applied[0] == log_id else 0
    by_seq = {int(e["seq"]): e for v in logs if str(v.get("log_id", "")) == log_id
              for e in v["events"] if isinstance(e, dict) and int(e.get("seq", 0)) > last}
    if not by_seq:
        return [], unchanged
    fresh = [by_seq[seq] for seq in sorted(by_seq)]
    return fresh, [log_id, int(fresh[-1]["seq"])]


def pending_clicks(key: str, original_size: tuple[int, int],
                   store: MutableMapping | None = None) -> list[widgets.Click]:
    """Every click on clickable_log_image(key=...) that arrived since the last call, oldest first.

    The applied marker is written to `store` (st.session_state by default) before returning, with no
    Streamlit call in between: a rerun that interrupts the page later cannot apply a click twice.
    """
    store = st.session_state if store is None else store
    events, applied = new_events([store.get(key), store.get(watchdog_key(key))], store.get(applied_key(key)))
    if events:
        store[applied_key(key)] = applied
    return [widgets.event_to_click(event, original_size) for event in events]


def _data_url(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def clickable_log_image(
    image: np.ndarray,
    key: str,
    points: Sequence[Sequence[float]] = (),
    labels: Sequence[int] = (),
    box: Sequence[float] | None = None,
    mask: np.ndarray | None = None,
    mask_color: Sequence[int] = widgets.MASK_COLORS[0],
    pending_corner: Sequence[float] | None = None,
    drag: bool = False,
    max_display_side: int = widgets.DISPLAY_MAX_SIDE,
) -> None:
    """Show image (uint8 [H, W, 3]) with mask (bool [H, W]) and prompts (original pixels) drawn on it.

    drag: a press-move-release is one event (x1, y1, x2, y2): a box, or a point when it did not move.
    Read the clicks with pending_clicks(key, ...) at the top of the next run.
    """
    shown, scale = widgets.downscale_for_display(image, max_display_side)
    if mask is not None:
        shown = widgets.mask_overlay(shown, widgets.resize_mask(mask, shown.shape[:2]), mask_color)
    shown = widgets.draw_prompts(shown, points, labels, box, scale, pending_corner)
    applied = st.session_state.get(applied_key(key)) or ["", 0]
    _component(src=_data_url(np.ascontiguousarray(shown)), drag=bool(drag), applied_log=applied[0],
               applied_seq=int(applied[1]), role="canvas", key=key, default=None)


def watchdog_key(key: str) -> str:
    return f"{key}_watchdog"


def watchdog(key: str) -> None:
    """Place OUTSIDE the fragment that draws the canvas `key`: a zero-height helper that reruns the
    whole page, with the canvas's queued clicks as its value, when they stay unapplied (a new server
    session drops fragment reruns until the page has run once: a tab reconnecting after a restart)."""
    _watchdog(role="watchdog", key=watchdog_key(key), default=None)
