"""Parsing and checking the request fields shared by the endpoints, and encoding the answers.

Wire formats (seed 004 §5.2): ``points`` is a JSON list of ``[x, y]`` pixel pairs in the uploaded
image; ``labels`` a JSON list of 1 (foreground) / 0 (background), default all 1; ``boxes`` one
``[cx, cy, w, h]`` box normalised to 0..1 by the image's width and height; masks leave the server as
8-bit grayscale PNGs (255 = object), base64 in JSON, one per mask of a ``[N, H, W]`` stack.
Every check raises ``ApiError(422, ...)`` naming the field, so no malformed value reaches the model.
"""

from __future__ import annotations

import base64
import io
import json
import math
from typing import Any

import numpy as np
from PIL import Image

from sam_core.prompts import BACKGROUND, FOREGROUND
from sam_core.serve.errors import ApiError

DEFAULT_CONFIDENCE = 0.5  # Sam3Processor's default score threshold, for /detect and /segment/text
BOX_TOLERANCE = 1e-6  # float rounding of cx +- w/2 in a client's normalisation


def _reject_constant(name: str):
    def reject(constant: str) -> float:
        raise ApiError(422, f"field '{name}': {constant} is not a number")
    return reject


def parse_json_field(name: str, text: str) -> Any:
    """json.loads with NaN / Infinity refused and the field named in the error."""
    try:
        return json.loads(text, parse_constant=_reject_constant(name))
    except ApiError:
        raise
    except (ValueError, RecursionError) as error:
        raise ApiError(422, f"field '{name}' is not valid JSON ({type(error).__name__})") from None


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(422, f"field '{name}': {str(value)[:20]!r} is not a finite number")
    return float(value)


def parse_points(value: Any, width: int, height: int, max_points: int) -> np.ndarray:
    """``[[x, y], ...]`` inside the image -> float [P, 2]."""
    if not isinstance(value, list) or not value:
        raise ApiError(422, "field 'points' must be a non-empty list of [x, y] pairs, e.g. [[120, 80]]")
    if len(value) > max_points:
        raise ApiError(422, f"field 'points' has {len(value)} points; at most {max_points} are accepted")
    points = []
    for index, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ApiError(422, f"field 'points': item {index} is not an [x, y] pair")
        x, y = _number("points", pair[0]), _number("points", pair[1])
        if not (0 <= x <= width and 0 <= y <= height):
            raise ApiError(422, f"field 'points': ({x:g}, {y:g}) is outside the {width} x {height} image")
        points.append((x, y))
    return np.asarray(points, dtype=np.float64)


def parse_labels(value: Any, count: int) -> np.ndarray:
    """``[1, 0, ...]`` (one per point; None: all foreground) -> int [P]."""
    if value is None:
        return np.full(count, FOREGROUND, dtype=np.int64)
    allowed = (BACKGROUND, FOREGROUND)
    if not isinstance(value, list) or any(isinstance(v, bool) or v not in allowed for v in value):
        raise ApiError(422, "field 'labels' must be a list of 1 (foreground) and 0 (background)")
    if len(value) != count:
        raise ApiError(422, f"field 'labels' has {len(value)} labels for {count} points")
    return np.asarray(value, dtype=np.int64)


def parse_box(value: Any, width: int, height: int) -> np.ndarray:
    """One ``[cx, cy, w, h]`` box normalised to 0..1 (or a list holding one) -> pixels [4] (x0, y0, x1, y1)."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        raise ApiError(422, f"field 'boxes' has {len(value)} boxes; SAM 1 takes one box per prompt "
                            "(send one request per object)")
    if not isinstance(value, list) or len(value) != 4:
        raise ApiError(422, "field 'boxes' must be one [cx, cy, w, h] box normalised to 0..1")
    cx, cy, w, h = (_number("boxes", v) for v in value)
    if w <= 0 or h <= 0:
        raise ApiError(422, "field 'boxes': width and height must be positive")
    x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    if min(x0, y0) < -BOX_TOLERANCE or max(x1, y1) > 1 + BOX_TOLERANCE:
        raise ApiError(422, "field 'boxes': the box reaches outside the image (normalised coordinates are 0..1)")
    return np.clip(np.array([x0 * width, y0 * height, x1 * width, y1 * height]), 0, [width, height] * 2)


def box_xyxy_to_cxcywh(box: tuple[float, float, float, float], width: int, height: int) -> list[float]:
    """Pixels (x0, y0, x1, y1) -> the wire format [cx, cy, w, h] normalised to 0..1."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return [(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height]


def parse_confidence(value: float | None) -> float:
    """A detection threshold in [0, 1]; None means ``DEFAULT_CONFIDENCE``."""
    if value is None:
        return DEFAULT_CONFIDENCE
    number = _number("confidence", value)
    if not 0.0 <= number <= 1.0:
        raise ApiError(422, "field 'confidence' must be between 0 and 1")
    return number


def mask_png(mask: np.ndarray) -> bytes:
    """bool [H, W] -> PNG bytes, 8-bit grayscale, 255 inside the mask."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"one mask is [H, W], got {mask.shape}")
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(bool).astype(np.uint8) * 255, "L").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def masks_to_base64(masks: np.ndarray) -> list[str]:
    """bool [N, H, W] -> N base64 PNG strings."""
    if masks.ndim != 3:
        raise ValueError(f"masks are [N, H, W], got {masks.shape}")
    return [base64.b64encode(mask_png(m)).decode("ascii") for m in masks]


def decode_mask_png(data: bytes) -> np.ndarray:
    """PNG bytes (as from ``mask_png``) -> bool [H, W]."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L")) > 127


MAX_TEXT_CHARS = 200  # a noun phrase ("ripe apple"); SAM 3's text encoder reads 32 tokens at most
DIRECTIONS = ("forward", "backward", "both")  # /track/propagate, as Meta's Sam3VideoPredictor


def parse_text(value: str | None, *, required: bool) -> str | None:
    """A noun phrase for SAM 3: printable text of 1..MAX_TEXT_CHARS characters (None when absent)."""
    if value is None or not value.strip():
        if required:
            raise ApiError(422, "field 'text' is required: a short noun phrase such as 'ripe apple'")
        return None
    text = value.strip()
    if len(text) > MAX_TEXT_CHARS:
        raise ApiError(422, f"field 'text' has {len(text)} characters; at most {MAX_TEXT_CHARS} (a noun phrase)")
    if not text.isprintable():
        raise ApiError(422, "field 'text' contains control characters")
    return text


def parse_exemplar_boxes(value: Any, labels: Any, width: int, height: int, max_boxes: int) -> list[tuple[list, bool]]:
    """SAM 3's exemplar boxes: one ``[cx, cy, w, h]`` (normalised) or a list of them, with ``box_labels``
    (1 positive, 0 negative; default all positive) -> [(box, positive), ...], each box checked as parse_box."""
    boxes = value if isinstance(value, list) and value and all(isinstance(v, list) for v in value) else [value]
    if len(boxes) > max_boxes:
        raise ApiError(422, f"field 'boxes' has {len(boxes)} boxes; at most {max_boxes} are accepted")
    for box in boxes:
        parse_box(box, width, height)
    if labels is None:
        labels = [1] * len(boxes)
    if not isinstance(labels, list) or any(isinstance(v, bool) or v not in (0, 1) for v in labels):
        raise ApiError(422, "field 'box_labels' must be a list of 1 (positive) and 0 (negative)")
    if len(labels) != len(boxes):
        raise ApiError(422, f"field 'box_labels' has {len(labels)} labels for {len(boxes)} boxes")
    return [([float(v) for v in box], bool(label)) for box, label in zip(boxes, labels, strict=True)]


def parse_max_frames(value: int | None) -> int | None:
    """``max_frames``: -1 or absent = every frame -> None (the predictor's "all"; the seed's -1 sentinel
    passed through unchanged tracked nothing); 0 = only the start frame; n = n frames after it."""
    if value is None or value == -1:
        return None
    if value < -1:
        raise ApiError(422, "field 'max_frames' must be -1 (all frames), 0 or a positive number of frames")
    return value


def masks_to_numpy(masks: Any) -> np.ndarray:
    """Boolean masks or probabilities (of any dtype, bfloat16 included) -> bool [N, H, W] on the CPU.

    Handles two of the seed's pitfalls in one place: ``[N, 1, H, W]`` (SAM 3's layout) loses its
    singleton axis, and a tensor is cast to float32 before ``.numpy()`` (numpy has no bfloat16).
    Probabilities are thresholded at 0.5; pass logits as ``logits > 0``.
    """
    if hasattr(masks, "detach"):
        masks = masks.detach().float().cpu().numpy()
    array = np.asarray(masks)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3:
        raise ValueError(f"masks are [N, H, W] or [N, 1, H, W], got {array.shape}")
    return array > 0.5 if array.dtype != bool else array
