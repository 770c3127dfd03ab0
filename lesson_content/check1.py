"""Check 1, verified live: encoder runs for N clicks, their timing against the plan's 150 + N x 50 ms,
a click on the boundary between two touching objects, and (with minloss_demo) why the minimum.

Each verification makes its OWN SamPredictor over the shared model and counts / times real calls under
sam_core.tracing. Imports no Streamlit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from sam_core.masks import interior_point

from . import scene_targets as targets
from .live_trace import TracedPrediction, traced_predict


@dataclass(frozen=True)
class EncoderCount:
    photo_size: tuple[int, int]  # (H, W) of the photograph the student loads
    input_size: tuple[int, int]  # what the encoder actually saw (longest side = img_size)
    img_size: int
    clicks: int
    encoder_runs: int  # counted by sam_core.tracing while N predicts ran
    encoder_ms: float
    click_ms: list[float]  # wall-clock ms of each predict call (prompt encoder + decoder + post-processing)
    stage_ms: list[dict[str, float]]  # per click: prompt_encoder, mask_decoder, postprocess (predictor timings)

    @property
    def decoder_ms(self) -> list[float]:
        """Per click: prompt encoder + mask decoder, the part the plan's per-prompt figure is about."""
        return [d.get("prompt_encoder", 0.0) + d.get("mask_decoder", 0.0) for d in self.stage_ms]

    @property
    def postprocess_ms(self) -> list[float]:
        """Per click: upsampling the three masks to the full photograph."""
        return [d.get("postprocess", 0.0) for d in self.stage_ms]


def photo_from_scene(scene_image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The student's photograph: the scene stretched to width x height (only its size matters here)."""
    return np.asarray(Image.fromarray(scene_image).resize((width, height), Image.Resampling.BILINEAR))


def click_points(scene, clicks: int, photo_size: tuple[int, int],
                 first: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """`clicks` clicks scaled to the photograph: `first` (the traced click, scene pixels) if given, then
    distinct objects of the scene (largest first, repeating if needed) at their most interior pixel."""
    objects = sorted((o for o in scene.objects if o.level != "part"), key=lambda o: -o.area) or list(scene.objects)
    sy, sx = photo_size[0] / scene.size, photo_size[1] / scene.size
    scene_points = [tuple(first)] if first is not None else []
    i = 0
    while len(scene_points) < clicks:
        scene_points.append(interior_point(objects[i % len(objects)].mask))
        i += 1
    return [(int(x * sx), int(y * sy)) for x, y in scene_points[:clicks]]


def count_encoder_runs(model, photo: np.ndarray, points: list[tuple[int, int]]) -> EncoderCount:
    """Set the photo once and click every point, all inside one trace; count the image-encoder runs."""
    from sam_core.sam1.predictor import SamPredictor
    from sam_core.tracing import trace

    predictor = SamPredictor(model)
    click_ms, stage_ms = [], []
    with trace() as t:
        predictor.set_image(np.ascontiguousarray(photo))
        encoder_ms = float(t.timings_ms.get("image_encoder", float("nan")))
        for x, y in points:
            start = time.perf_counter()
            predictor.predict(point_coords=np.array([[x, y]], dtype=np.float32), point_labels=np.array([1]))
            click_ms.append((time.perf_counter() - start) * 1000.0)
            stage_ms.append({k: v for k, v in predictor.last_timings_ms.items() if k != "image_encoder"})
    img = int(model.image_encoder.img_size)
    h, w = photo.shape[:2]
    return EncoderCount((h, w), tuple(int(v) for v in predictor.input_size), img, len(points),
                        int(t.counts.get("image_encoder", 0)), encoder_ms, click_ms, stage_ms)


def tiles(photo_size: tuple[int, int], side: int) -> int:
    """How many side x side tiles cover a photo (the tempting wrong answer 'once per tile')."""
    return math.ceil(photo_size[0] / side) * math.ceil(photo_size[1] / side)


@dataclass
class BoundaryResult:
    click: tuple[int, int]
    run: TracedPrediction
    segments: list  # [object_a, object_b, their common parent (if any)]
    iou: np.ndarray  # [3 masks, len(segments)]
    matches: list


def common_parent(scene, a, b):
    """The smallest segment that contains both a and b (mug + saucer -> mug_saucer), or None."""
    def chain(obj):
        out = []
        while obj.parent is not None:
            obj = scene.objects[obj.parent]
            out.append(obj)
        return out

    ids_b = {id(o) for o in chain(b)}
    return next((o for o in chain(a) if id(o) in ids_b), None)


def boundary_click(model, scene, name_a: str, name_b: str) -> BoundaryResult | None:
    """Click the pixel of `name_a` in the middle of where it touches `name_b`; IoU of each mask with
    a, b and the two together. None when the scene lacks either object or they do not touch."""
    from sam_core.sam1.predictor import SamPredictor

    a, b = targets.first(scene, name_a), targets.first(scene, name_b)
    if a is None or b is None:
        return None
    point = targets.boundary_point(a.mask, b.mask)
    if point is None:
        return None
    run = traced_predict(SamPredictor(model), points=[point], labels=[1], image=scene.image)
    parent = common_parent(scene, a, b)
    segments = [a, b] + ([parent] if parent is not None else [])
    table = targets.iou_table(run.masks, segments)
    return BoundaryResult(point, run, segments, table, targets.best_matches(table))
