"""Model calls for a whole class: one bounded worker queue per model, image embeddings shared by content.

Streamlit runs each student's script in its own thread. Left alone, eight students clicking at once
run eight model calls at once on a 2-core machine; every call then waits on the others (measured in
issue 23: click -> mask p50 2.7 s with 8 sessions against 0.2-0.3 s alone), and sixteen students
on the same bundled photo encode it sixteen times. So:

- every call of one model goes through that model's worker: one thread, first come first served
  within a priority (a click's light decoder call goes before a waiting encoder call, so one
  student's new upload does not hold up everyone's clicks), at most MAX_PENDING calls waiting (more:
  ModelBusyError, a clear "busy" message, never a pile-up);
- image embeddings are cached by (model, image content hash) across sessions, within
  MAX_EMBEDDING_BYTES; a second request for an image being encoded waits for that encoding.

    worker = worker_for(info.cache_key)
    masks, scores, logits = worker.call(predictor.predict, point_coords=..., point_labels=...)
    set_image_shared(predictor, image, info.cache_key, image_hash)    # encoder only on a cache miss

Pure Python and torch (no Streamlit): ui.session wires it to the pages.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

DECODER_PRIORITY, ENCODER_PRIORITY = 0, 1  # lower runs first
MAX_PENDING = 64  # calls waiting per model: a class of 30 clicking twice at once still fits
CALL_TIMEOUT_S = 120.0  # a call waits at most this long for its turn and its result
MAX_EMBEDDING_BYTES = 256 * 2**20  # SAM 1 embeddings are 256 x 64 x 64 floats: 4 MiB each, 64 images


class ModelBusyError(RuntimeError):
    """Too many calls are waiting for this model; the message says so (for st.warning)."""


class ModelWorker:
    """One thread that runs the calls of one model by priority, then arrival (a bounded queue)."""

    def __init__(self, name: str, threads: int, max_pending: int = MAX_PENDING):
        self.name = name
        self.threads = threads
        self._queue: queue.PriorityQueue = queue.PriorityQueue(maxsize=max_pending)
        self._arrivals = itertools.count()  # ties within a priority: first come, first served
        self.calls = 0
        threading.Thread(target=self._run, name=f"model-worker-{name}", daemon=True).start()

    def _run(self) -> None:
        torch.set_num_threads(self.threads)  # per thread: the worker's own setting
        while True:
            _, _, function, args, kwargs, future = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function(*args, **kwargs))
            except BaseException as error:  # noqa: BLE001 - handed to the caller, who raises it
                future.set_exception(error)
            self.calls += 1

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def call(self, function: Callable, *args: Any, priority: int = DECODER_PRIORITY, **kwargs: Any) -> Any:
        """Run function(*args, **kwargs) on this model's thread and return its result (or raise its error)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            self._queue.put_nowait((priority, next(self._arrivals), function, args, kwargs, future))
        except queue.Full:
            raise ModelBusyError(f"The model is busy with {self.pending} requests from other students; "
                                 "please click again in a moment.") from None
        return future.result(timeout=CALL_TIMEOUT_S)


_WORKERS: dict[str, ModelWorker] = {}
_WORKERS_LOCK = threading.Lock()


def worker_for(model_key: str, threads: int = 1) -> ModelWorker:
    """The worker of the model identified by `model_key` (ui.session.ModelInfo.cache_key); `threads`
    (torch intra-op threads, ui.session.torch_threads()) is used when the worker is first started."""
    with _WORKERS_LOCK:
        worker = _WORKERS.get(model_key)
        if worker is None:
            worker = _WORKERS[model_key] = ModelWorker(model_key, threads)
        return worker


# ---- shared image embeddings ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Embedding:
    """What SamPredictor.set_image computes, shared read-only between sessions."""

    features: torch.Tensor  # [1, C, 64, 64] image embedding
    image_pe: torch.Tensor  # [1, C, 64, 64] dense positional encoding
    original_size: tuple[int, int]  # (H, W) of the image
    input_size: tuple[int, int]  # (h, w) after ResizeLongestSide
    encoder_ms: float

    @property
    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in (self.features, self.image_pe))


class EmbeddingCache:
    """LRU of Embeddings within max_bytes; concurrent requests for one key compute it once."""

    def __init__(self, max_bytes: int = MAX_EMBEDDING_BYTES):
        self.max_bytes = max_bytes
        self._items: collections.OrderedDict[tuple, Embedding] = collections.OrderedDict()
        self._inflight: dict[tuple, concurrent.futures.Future] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return sum(item.nbytes for item in self._items.values())

    def get_or_compute(self, key: tuple, compute: Callable[[], Embedding]) -> tuple[Embedding, bool]:
        """(embedding, was_cached): from the cache, from an encoding already running, or computed now."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key], True
            running = self._inflight.get(key)
            if running is None:
                running = self._inflight[key] = concurrent.futures.Future()
                owner = True
                self.misses += 1
            else:
                owner = False
                self.hits += 1
        if not owner:
            return running.result(timeout=CALL_TIMEOUT_S), True
        try:
            embedding = compute()
        except BaseException as error:
            with self._lock:
                self._inflight.pop(key, None)
            running.set_exception(error)
            raise
        with self._lock:
            self._items[key] = embedding
            while len(self._items) > 1 and self.nbytes > self.max_bytes:
                self._items.popitem(last=False)
            self._inflight.pop(key, None)
        running.set_result(embedding)
        return embedding, False


EMBEDDINGS = EmbeddingCache()


def _encode(predictor, image: np.ndarray) -> Embedding:
    started = time.perf_counter()
    predictor.set_image(np.ascontiguousarray(image, dtype=np.uint8))
    return Embedding(predictor.features, predictor.image_pe, tuple(predictor.original_size),
                     tuple(predictor.input_size), (time.perf_counter() - started) * 1000.0)


def set_image_shared(predictor, image: np.ndarray, model_key: str, image_hash: str, threads: int = 1) -> bool:
    """predictor.set_image(image), through the model's worker and the shared cache; True if it was cached.

    A cached embedding is only read by the decoder (never modified in place), so sessions share it.
    """
    embedding, cached = EMBEDDINGS.get_or_compute(
        (model_key, image_hash), lambda: worker_for(model_key, threads).call(_encode, predictor, image, priority=ENCODER_PRIORITY))
    if cached:
        predictor.reset_image()
        predictor.features, predictor.image_pe = embedding.features, embedding.image_pe
        predictor.original_size, predictor.input_size = embedding.original_size, embedding.input_size
        predictor.is_image_set = True
        predictor.last_timings_ms = {"image_encoder": embedding.encoder_ms}
    return cached
