"""Drawing and clicking: mask overlays, outlines, prompt markers, and a clickable image.

The drawing functions are plain numpy/PIL (no Streamlit) so tests and benchmarks can call them.
`clickable_image` wraps the `streamlit_image_coordinates` component and translates its clicks from
displayed pixels back to ORIGINAL image pixels, which is what SamPredictor expects.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

# Colours: masks in SAM's demo blue; foreground points green, background points red.
MASK_COLORS: tuple[tuple[int, int, int], ...] = ((30, 144, 255), (255, 140, 0), (160, 32, 240))
FOREGROUND_COLOR = (40, 200, 70)
BACKGROUND_COLOR = (230, 40, 40)
BOX_COLOR = (255, 215, 0)

DISPLAY_MAX_SIDE = 800  # what is sent to the browser; clicks are mapped back to the original size


def mask_outline(mask: np.ndarray, thickness: int = 1) -> np.ndarray:
    """Boundary pixels of a boolean mask [H, W]: inside pixels with an outside 4-neighbour.

    Arguments:
      mask: bool [H, W].
      thickness: grow the boundary inwards by this many pixels.
    Returns:
      bool [H, W], True on the boundary.
    """
    mask = np.asarray(mask, dtype=bool)
    interior = mask.copy()
    for _ in range(max(1, thickness)):
        eroded = interior.copy()
        eroded[1:, :] &= interior[:-1, :]
        eroded[:-1, :] &= interior[1:, :]
        eroded[:, 1:] &= interior[:, :-1]
        eroded[:, :-1] &= interior[:, 1:]
        interior = eroded
    return mask & ~interior


def mask_overlay(
    image: np.ndarray,
    mask: np.ndarray | None,
    color: Sequence[int] = MASK_COLORS[0],
    alpha: float = 0.45,
    outline: bool = True,
    outline_color: Sequence[int] = (255, 255, 255),
) -> np.ndarray:
    """Blend a coloured mask over an image (a new array; the input is not modified).

    Arguments:
      image: uint8 [H, W, 3].
      mask: bool [H, W] (or None: the image is returned as a copy).
      color: RGB of the mask fill; alpha: its opacity in [0, 1].
      outline: draw the mask boundary in outline_color.
    Returns:
      uint8 [H, W, 3].
    """
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if mask is None:
        return image.copy()
    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image {image.shape[:2]}")
    # Pillow's C paste blends (1 - a) * pixel + a * color where the 8-bit mask is a*255: ~4 ms at 1024 px,
    # several times faster than numpy boolean indexing.
    pil = Image.fromarray(image)  # a copy: the caller's array is not modified
    opacity = np.uint8(round(min(max(alpha, 0.0), 1.0) * 255))
    pil.paste(Image.new("RGB", pil.size, tuple(int(c) for c in color)), (0, 0),
              Image.fromarray(mask.view(np.uint8) * opacity))
    out = np.array(pil)
    if outline:
        thickness = max(1, round(max(out.shape[:2]) / 400))
        out[mask_outline(mask, thickness)] = outline_color
    return out


def draw_prompts(
    image: np.ndarray,
    points: Sequence[Sequence[float]] = (),
    labels: Sequence[int] = (),
    box: Sequence[float] | None = None,
    scale: float = 1.0,
    pending_corner: Sequence[float] | None = None,
) -> np.ndarray:
    """Draw point markers (green = foreground 1, red = background 0) and a box on a copy of image.

    Arguments:
      image: uint8 [H, W, 3], possibly a downscaled copy of the original.
      points: N x 2 (x, y) in ORIGINAL pixels; labels: N ints; box: (x0, y0, x1, y1) in original pixels.
      scale: displayed size / original size (multiplies every coordinate).
      pending_corner: first corner of a box being drawn with two clicks.
    Returns:
      uint8 [H, W, 3].
    """
    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    draw = ImageDraw.Draw(pil)
    radius = max(4, round(max(pil.size) / 90))
    if box is not None:
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        draw.rectangle((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), outline=BOX_COLOR,
                       width=max(2, radius // 2))
    if pending_corner is not None:
        x, y = (float(v) * scale for v in pending_corner)
        draw.line((x - 2 * radius, y, x + 2 * radius, y), fill=BOX_COLOR, width=2)
        draw.line((x, y - 2 * radius, x, y + 2 * radius), fill=BOX_COLOR, width=2)
    for (x, y), label in zip(points, labels, strict=False):
        x, y = float(x) * scale, float(y) * scale
        fill = FOREGROUND_COLOR if int(label) == 1 else BACKGROUND_COLOR
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill, outline=(255, 255, 255),
                     width=max(1, radius // 3))
        # "+" or "-" inside the dot, so the two kinds differ without colour vision too.
        draw.line((x - radius // 2, y, x + radius // 2, y), fill=(255, 255, 255), width=2)
        if int(label) == 1:
            draw.line((x, y - radius // 2, x, y + radius // 2), fill=(255, 255, 255), width=2)
    return np.asarray(pil)


_DISPLAY_MEMO: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, float]] = {}


def downscale_for_display(image: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> tuple[np.ndarray, float]:
    """Shrink image so its longest side is <= max_side. Returns (image, scale = new / original).

    Read-only inputs (bundled photos, scenes, kept uploads) are memoised by identity: a click's rerun
    does not resize the same photo again. The result is read-only too.
    """
    height, width = image.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return np.asarray(image), 1.0
    memo = _DISPLAY_MEMO.get((id(image), max_side))
    if memo is not None and memo[0] is image:
        return memo[1], memo[2]
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).resize(size, Image.Resampling.BILINEAR))
    small.flags.writeable = False
    if isinstance(image, np.ndarray) and not image.flags.writeable:
        if len(_DISPLAY_MEMO) >= 32:
            _DISPLAY_MEMO.clear()  # small and rarely full: start over rather than track order
        _DISPLAY_MEMO[(id(image), max_side)] = (image, small, scale)
    return small, scale


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a bool [H, W] mask to shape (h, w)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape == tuple(shape):
        return mask
    rows = (np.arange(shape[0]) * mask.shape[0] / shape[0]).astype(np.int64)
    cols = (np.arange(shape[1]) * mask.shape[1] / shape[1]).astype(np.int64)
    return mask[rows[:, None], cols[None, :]]


@dataclass(frozen=True)
class Click:
    """A new click on a clickable_image, in ORIGINAL image pixels (x right, y down).

    kind is "point" (x0, y0 set; x1, y1 equal to them) or "box" (a drag from (x0, y0) to (x1, y1)).
    """

    kind: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def xy(self) -> tuple[float, float]:
        return (self.x0, self.y0)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (min(self.x0, self.x1), min(self.y0, self.y1), max(self.x0, self.x1), max(self.y0, self.y1))


def _component():
    from streamlit_image_coordinates import streamlit_image_coordinates

    return streamlit_image_coordinates


def supports_drag() -> bool:
    """Whether the installed streamlit_image_coordinates reports click-and-drag (x1, y1, x2, y2)."""
    try:
        return "click_and_drag" in inspect.signature(_component()).parameters
    except Exception:
        return False


def event_to_click(value: dict, original_size: tuple[int, int], drag_threshold_px: float = 4.0) -> Click:
    """Map a component value (displayed pixels) to a Click in original pixels.

    Arguments:
      value: {"x", "y", "width", "height"} or, for click_and_drag, {"x1", "y1", "x2", "y2", ...};
        width/height are the size the image was DISPLAYED at in the browser.
      original_size: (H, W) of the original image.
    """
    height, width = original_size
    sx = width / max(1.0, float(value.get("width") or width))
    sy = height / max(1.0, float(value.get("height") or height))

    def clamp(v: float, hi: int) -> float:
        return float(min(max(v, 0.0), hi - 1))

    if "x1" in value:
        x1, y1, x2, y2 = (float(value[k]) for k in ("x1", "y1", "x2", "y2"))
        if abs(x2 - x1) >= drag_threshold_px or abs(y2 - y1) >= drag_threshold_px:
            return Click("box", clamp(x1 * sx, width), clamp(y1 * sy, height), clamp(x2 * sx, width),
                         clamp(y2 * sy, height))
        x, y = x1, y1
    else:
        x, y = float(value["x"]), float(value["y"])
    px, py = clamp(x * sx, width), clamp(y * sy, height)
    return Click("point", px, py, px, py)


def clickable_image(
    image: np.ndarray,
    key: str,
    points: Sequence[Sequence[float]] = (),
    labels: Sequence[int] = (),
    box: Sequence[float] | None = None,
    mask: np.ndarray | None = None,
    mask_color: Sequence[int] = MASK_COLORS[0],
    pending_corner: Sequence[float] | None = None,
    drag: bool = True,
    max_display_side: int = DISPLAY_MAX_SIDE,
) -> Click | None:
    """Show image with mask and prompts drawn on it; return a NEW click in original pixels, else None.

    Arguments:
      image: uint8 [H, W, 3] original image.
      key: Streamlit widget key (page-prefixed, e.g. "segment_canvas").
      points / labels / box: prompts in original pixels, drawn as markers.
      mask: bool [H, W] at original size, drawn as an overlay.
      drag: ask the component for click-and-drag events (boxes) when the installed version has them.
    Returns:
      Click (kind "point" or "box") the first time a click is seen, None on other reruns.
    """

    shown, scale = downscale_for_display(image, max_display_side)
    if mask is not None:
        shown = mask_overlay(shown, resize_mask(mask, shown.shape[:2]), mask_color)
    shown = draw_prompts(shown, points, labels, box, scale, pending_corner)
    kwargs = {"key": key, "use_column_width": "always", "image_format": "JPEG", "jpeg_quality": 88}
    component = _component()
    parameters = inspect.signature(component).parameters
    if drag and "click_and_drag" in parameters:
        kwargs["click_and_drag"] = True
    if "cursor" in parameters:
        kwargs["cursor"] = "crosshair"
    value = component(Image.fromarray(shown), **kwargs)
    if not value:
        return None
    return _unseen_click(key, value, image.shape[:2])


def pending_click(key: str, original_size: tuple[int, int]) -> Click | None:
    """A click on clickable_image(key=...) that arrived with THIS rerun and was not handled yet.

    Call it at the top of a page, before drawing: the page can then update its prompts and mask
    first and draw the image once, already showing the result of the click (one rerun per click).
    """
    import streamlit as st

    value = st.session_state.get(key)
    if not value:
        return None
    return _unseen_click(key, value, original_size)


def format_timings(timings_ms: dict[str, float]) -> str:
    """predictor.last_timings_ms as one line; the encoder runs once per image, the rest per click."""
    parts = []
    for name, ms in timings_ms.items():
        label = name.replace("_", " ")
        parts.append(f"{label} {ms:.1f} ms" + (" (once per image)" if name == "image_encoder" else ""))
    return " · ".join(parts)


def _unseen_click(key: str, value: dict, original_size: tuple[int, int]) -> Click | None:
    """The component's event as a Click, or None if this exact event was already handled this session."""
    import streamlit as st

    stamp = (value.get("unix_time"), value.get("x", value.get("x1")), value.get("y", value.get("y1")))
    seen_key = f"{key}__last_event"
    if st.session_state.get(seen_key) == stamp:
        return None
    st.session_state[seen_key] = stamp
    return event_to_click(value, original_size)
