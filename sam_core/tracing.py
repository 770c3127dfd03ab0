"""Record named intermediates of one real forward pass, without changing its result.

    with trace() as t:
        masks, scores, logits = predictor.predict(point_coords=..., point_labels=...)
    t.records["decoder.layer0.token_to_image"]   # [B, heads, tokens, 4096] attention weights
    t.timings_ms["mask_decoder"]                 # wall-clock milliseconds

Model code calls `record(name, tensor)` and wraps stages in `timed(name)`; both cost nothing when no
trace is active. While a trace is active, attention layers whose weights it wants (`wants(name)`) take
their explicit-softmax path so that the weights exist to be recorded (a test proves that path equals the
fast fused one). `trace(only=("memory_bank.", "memory_attention.layer3.cross_attn"))` records only the names
starting with one of those prefixes: every other attention keeps its fused kernel (the SAM 2 page traces
24 frames this way instead of computing all eight attention maps of each).
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

_ACTIVE: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("sam_core_trace", default=None)


@dataclass
class Trace:
    """What one traced call recorded: tensors by name (detached, on the CPU) and timings in ms.

    only: name prefixes to record (None: every name)."""

    records: dict[str, torch.Tensor] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    only: tuple[str, ...] | None = None

    def wants(self, name: str) -> bool:
        return self.only is None or name.startswith(self.only)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every recorded tensor, in recording order."""
        return {name: tuple(t.shape) for name, t in self.records.items()}


def active_trace() -> Trace | None:
    """The trace being recorded in this context, or None."""
    return _ACTIVE.get()


def is_tracing() -> bool:
    return _ACTIVE.get() is not None


def wants(name: str | None) -> bool:
    """True if a trace is active and records `name` (an attention then computes its weights explicitly)."""
    current = _ACTIVE.get()
    return current is not None and name is not None and current.wants(name)


def record(name: str, tensor: torch.Tensor) -> None:
    """Store a detached float32 CPU copy of `tensor` under `name` if the active trace records that name."""
    current = _ACTIVE.get()
    if current is not None and current.wants(name):
        current.records[name] = tensor.detach().to("cpu", torch.float32).clone()


def count(name: str) -> None:
    """Count an event (e.g. one run of the image encoder) in the active trace."""
    current = _ACTIVE.get()
    if current is not None:
        current.counts[name] = current.counts.get(name, 0) + 1


def _synchronize(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device is not None and device.type == "mps":
        torch.mps.synchronize()


@contextlib.contextmanager
def timed(name: str, sink: dict[str, float] | None = None, device: torch.device | None = None) -> Iterator[None]:
    """Time the block (synchronising the accelerator) into the active trace and into `sink`."""
    _synchronize(device)
    start = time.perf_counter()
    try:
        yield
    finally:
        _synchronize(device)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        if sink is not None:
            sink[name] = elapsed_ms
        current = _ACTIVE.get()
        if current is not None:
            current.timings_ms[name] = elapsed_ms


@contextlib.contextmanager
def trace(only: tuple[str, ...] | None = None) -> Iterator[Trace]:
    """Activate recording for the calls made inside the block (nested traces each get their own).

    only: record just the names starting with one of these prefixes (timings and counts are always kept)."""
    current = Trace(only=tuple(only) if only is not None else None)
    token = _ACTIVE.set(current)
    try:
        yield current
    finally:
        _ACTIVE.reset(token)
