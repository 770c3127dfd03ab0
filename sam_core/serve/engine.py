"""The model side of the service: the model loaded once, one worker thread, and the embedding cache.

- ``ModelWorker``: every call that touches the model (and the image decoding before it) runs on ONE
  thread, in arrival order, so thirty simultaneous clicks are queued instead of thirty forward passes
  fighting over one GPU (or two CPU cores). At most ``max_queued`` calls wait; more get 503.
- ``EmbeddingCache``: image hash (SHA-256 of the uploaded bytes) -> a ``SamPredictor`` with that image
  set, least recently used evicted first. Thirty students clicking on the same picture pay for one
  image-encoder pass; each click then costs only the prompt encoder and the mask decoder.
- ``Sam1Engine``: a SAM 1 family model (nano, MobileSAM, SAM ViT-B/L/H) behind the SamPredictor API.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from sam_core.device import ensure_float32, pick_device
from sam_core.sam1.build import build_sam, sam_model_registry
from sam_core.sam1.predictor import SamPredictor
from sam_core.serve.errors import ApiError
from sam_core.serve.images import decode_image
from sam_core.weights.download import fetch_checkpoint
from sam_core.weights.registry import get_spec

T = TypeVar("T")


class ModelWorker:
    """A single-thread executor with a bounded queue, awaited from the event loop."""

    def __init__(self, max_queued: int) -> None:
        self.max_queued = max_queued
        self.pending = 0  # changed on the event loop thread only
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sam-model")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.pending >= self.max_queued:
            raise ApiError(503, f"the model server is busy ({self.pending} requests queued); retry shortly",
                           {"Retry-After": "2"})
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args))
        finally:
            self.pending -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass
class EncodedImage:
    """An image whose embedding is computed: the predictor holds it (predictor.original_size = (H, W))."""

    predictor: SamPredictor
    sha256: str
    notes: tuple[str, ...]

    @property
    def height(self) -> int:
        return int(self.predictor.original_size[0])

    @property
    def width(self) -> int:
        return int(self.predictor.original_size[1])


class EmbeddingCache:
    """A bounded LRU map: image SHA-256 -> an encoded image (anything with a ``sha256``: EncodedImage,
    engine_sam3.ConceptImage)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(key)
            return entry

    def put(self, entry: Any) -> None:
        with self._lock:
            self._entries[entry.sha256] = entry
            self._entries.move_to_end(entry.sha256)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)


class Sam1Engine:
    """A SAM 1 family model served through SamPredictor. Call its methods on the ModelWorker thread."""

    family = "sam1"

    def __init__(self, model: torch.nn.Module, name: str, *, cache_size: int, max_pixels: int,
                 min_side: int) -> None:
        self.model = model  # shared by every predictor, never mutated
        self.name = name
        self.cache = EmbeddingCache(cache_size)
        self.max_pixels = max_pixels
        self.min_side = min_side

    @property
    def device(self) -> torch.device:
        return self.model.device

    def encode(self, data: bytes) -> EncodedImage:
        """The embedding of an uploaded image, from the cache or computed now (decoding it first)."""
        key = hashlib.sha256(data).hexdigest()
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        decoded = decode_image(data, max_pixels=self.max_pixels, min_side=self.min_side)
        predictor = SamPredictor(self.model)
        height, width = decoded.rgb.shape[:2]
        if min(predictor.transform.get_preprocess_shape(height, width, self.model.image_encoder.img_size)) < 1:
            raise ApiError(422, f"the image is {width} x {height} pixels: too elongated for the model's "
                                f"{self.model.image_encoder.img_size} px input (its short side would vanish)")
        predictor.set_image(decoded.rgb)
        entry = EncodedImage(predictor, key, decoded.notes)
        self.cache.put(entry)
        return entry

    @staticmethod
    def predict(image: EncodedImage, points: np.ndarray | None, labels: np.ndarray | None,
                box_xyxy: np.ndarray | None, multimask: bool) -> tuple[np.ndarray, np.ndarray]:
        """Masks for one prompt in image pixels.

        Arguments: points [P, 2] (x, y), labels [P] (1 foreground, 0 background), box_xyxy [4] pixels.
        Returns: masks [N, H, W] bool (N = 3 with multimask, else 1) and scores [N] float32 (predicted IoU).
        """
        masks, scores, _ = image.predictor.predict(
            point_coords=points, point_labels=labels, box=box_xyxy, multimask_output=multimask)
        return np.asarray(masks, dtype=bool), np.asarray(scores, dtype=np.float32)


def load_engine(model: str, checkpoint: Path | None, device: str | None, *, cache_size: int, max_pixels: int,
                min_side: int) -> Sam1Engine:
    """Build the served model once. ``model`` is a registry name; SAM 2 / SAM 3 names come with those families.

    Raises ValueError (unknown or not yet servable model) or CheckpointError / OfflineError (weights).
    """
    try:
        spec = get_spec(model)
    except KeyError as error:
        raise ValueError(str(error.args[0])) from None
    if spec.model_type not in sam_model_registry:
        raise ValueError(f"model '{model}' is not a SAM 1 family model; only SAM 1 models can be served yet")
    weights = checkpoint if checkpoint is not None else fetch_checkpoint(spec.name, show_progress_bar=True)
    chosen = pick_device(device)
    sam = build_sam(spec.model_type, checkpoint=weights, device=chosen)
    if chosen.type == "mps":
        ensure_float32(sam)
    return Sam1Engine(sam, spec.name, cache_size=cache_size, max_pixels=max_pixels, min_side=min_side)
