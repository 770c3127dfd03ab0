"""``/export``: a zip of one PNG mask per object plus ``manifest.json`` describing them.

Layout (the seed's tracking export, for a single image)::

    manifest.json
    masks/obj_001.png   8-bit grayscale, 255 = object, same size as the image
    masks/obj_002.png

The manifest records the image (width, height, SHA-256 of the uploaded bytes), the model, and per
object its id, name, mask file, predicted IoU score, area in pixels, tight box ``[x0, y0, x1, y1]``
(max corner inclusive, ``sam_core.masks.tight_box``; null for an empty mask) and the prompt it came from.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from sam_core.masks import tight_box
from sam_core.serve.errors import ApiError
from sam_core.serve.fields import mask_png, parse_box, parse_labels, parse_points

MANIFEST_FORMAT = "sam-lesson-masks"
MANIFEST_VERSION = 1
OBJECT_KEYS = frozenset({"obj_id", "name", "points", "labels", "box"})
MAX_NAME_CHARS = 64


@dataclass(frozen=True)
class ExportObject:
    """One object to segment: its id, a name, and a SAM 1 prompt in image pixels."""

    obj_id: int
    name: str
    points: np.ndarray | None  # [P, 2]
    labels: np.ndarray | None  # [P]
    box_xyxy: np.ndarray | None  # [4]
    prompt: dict  # the prompt as the client sent it, for the manifest


def parse_objects(value: Any, width: int, height: int, max_objects: int, max_points: int) -> list[ExportObject]:
    """The ``objects`` field: ``[{"obj_id"?, "name"?, "points"?, "labels"?, "box"?}, ...]``.

    An object without ``obj_id`` gets the smallest unused id from 1 (the seed's "points sent without
    an object id" pitfall); unknown keys are refused, so a misspelt key is an error, not a silent no-op.
    """
    if not isinstance(value, list) or not value:
        raise ApiError(422, "field 'objects' must be a non-empty list of objects")
    if len(value) > max_objects:
        raise ApiError(422, f"field 'objects' has {len(value)} objects; at most {max_objects} per export")
    taken: set[int] = set()
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ApiError(422, f"field 'objects': item {index} is not an object")
        unknown = set(item) - OBJECT_KEYS
        if unknown:
            raise ApiError(422, f"field 'objects': item {index} has unknown keys {sorted(unknown)}; "
                                f"known: {sorted(OBJECT_KEYS)}")
        if "obj_id" in item:
            obj_id = item["obj_id"]
            if isinstance(obj_id, bool) or not isinstance(obj_id, int) or not 1 <= obj_id <= 10**6:
                raise ApiError(422, f"field 'objects': item {index} has obj_id {str(obj_id)[:20]!r}; "
                                    "ids are integers from 1")
            if obj_id in taken:
                raise ApiError(422, f"field 'objects': obj_id {obj_id} appears twice")
            taken.add(obj_id)
    objects, next_id = [], 1
    for index, item in enumerate(value):
        obj_id = item.get("obj_id")
        if obj_id is None:
            while next_id in taken:
                next_id += 1
            obj_id = next_id
            taken.add(obj_id)
        name = item.get("name", f"object {obj_id}")
        if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
            raise ApiError(422, f"field 'objects': item {index} name must be text of at most {MAX_NAME_CHARS} chars")
        points = labels = box = None
        if item.get("points") is not None:
            points = parse_points(item["points"], width, height, max_points)
            labels = parse_labels(item.get("labels"), len(points))
        elif item.get("labels") is not None:
            raise ApiError(422, f"field 'objects': item {index} has labels but no points")
        if item.get("box") is not None:
            box = parse_box(item["box"], width, height)
        if points is None and box is None:
            raise ApiError(422, f"field 'objects': item {index} needs points or a box")
        prompt = {key: item[key] for key in ("points", "labels", "box") if item.get(key) is not None}
        objects.append(ExportObject(obj_id, name, points, labels, box, prompt))
    return objects


def build_export_zip(objects: list[ExportObject], masks: list[np.ndarray], scores: list[float],
                     image_info: dict, model_info: dict) -> bytes:
    """The zip archive for ``objects`` with their masks (bool [H, W] each) and scores."""
    entries = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for obj, mask, score in zip(objects, masks, scores, strict=True):
            filename = f"masks/obj_{obj.obj_id:03d}.png"
            archive.writestr(filename, mask_png(mask))
            area = int(mask.sum())
            entries.append({
                "obj_id": obj.obj_id, "name": obj.name, "file": filename, "score": round(float(score), 6),
                "area": area, "bbox": list(tight_box(mask)) if area else None, "prompt": obj.prompt,
            })
        manifest = {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "image": image_info, "model": model_info,
            "mask_encoding": "PNG, 8-bit grayscale, 255 = object, 0 = background, same size as the image",
            "bbox_convention": "[x0, y0, x1, y1] in pixels, max corner inclusive",
            "objects": entries,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return buffer.getvalue()


TRACKING_FORMAT = "sam-lesson-tracking"


def build_tracking_zip(frames: list, video_info: dict, model_info: dict) -> bytes:
    """The zip for a tracking session: ``masks/frame_NNNNN_obj_NNN.png`` per tracked frame and object, and
    ``manifest.json`` (the seed's tracking export: per frame, each object's file, area and tight box).

    Arguments: frames: ``engine_video.FrameMasks`` in frame order (masks bool [N_obj, H, W]).
    """
    buffer = io.BytesIO()
    entries = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for frame in frames:
            objects = []
            for obj_id, mask in zip(frame.obj_ids, frame.masks, strict=True):
                filename = f"masks/frame_{frame.frame_idx:05d}_obj_{obj_id:03d}.png"
                archive.writestr(filename, mask_png(mask))
                area = int(mask.sum())
                objects.append({"obj_id": obj_id, "file": filename, "area": area,
                                "bbox": list(tight_box(mask)) if area else None})
            entries.append({"frame_idx": frame.frame_idx, "objects": objects})
        manifest = {
            "format": TRACKING_FORMAT, "version": MANIFEST_VERSION, "video": video_info, "model": model_info,
            "mask_encoding": "PNG, 8-bit grayscale, 255 = object, 0 = background, same size as the frames",
            "bbox_convention": "[x0, y0, x1, y1] in pixels, max corner inclusive",
            "frames": entries,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return buffer.getvalue()
