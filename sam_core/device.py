"""Pick where SAM runs (CUDA, Apple MPS or CPU) and avoid the pitfalls of the non-CUDA backends.

Order: an explicit override (argument, then ``SAM_DEVICE``) if that device exists, else
cuda -> mps -> cpu. An override that cannot be honoured falls back to the automatic choice with a
warning (returned by ``resolve_device`` and logged), never an exception: a student's config typo must
not stop the lesson.

MPS notes (from a SAM 3 port to Apple Silicon; each row is a failure seen there and its fix):

=====================================================  =============================================
Problem on MPS                                          What sam_core does / callers should do
=====================================================  =============================================
ops without an MPS kernel (``_assert_async``, ...)     ``set_mps_fallback_env()``: sets
                                                        ``PYTORCH_ENABLE_MPS_FALLBACK=1`` (CPU fallback);
                                                        set it before the first MPS op, best before
                                                        importing torch (e.g. in app.py)
CPU autocast silently runs in bfloat16                  ``autocast_context``: bf16 autocast on CUDA only,
                                                        ``nullcontext`` on MPS and CPU
bfloat16 params/tensors (checkpoints, numpy)            ``ensure_float32(module)`` on MPS; call
                                                        ``.float()`` before ``.numpy()``
``pin_memory()`` / ``non_blocking=True`` are CUDA-only  ``to_device``: ``non_blocking`` only on CUDA; no
(``non_blocking`` can even initialise CUDA)             ``pin_memory`` anywhere in sam_core
``.cuda()`` / ``torch.device("cuda")`` hard-coded       always ``.to(device)`` with the picked device
FLASH / EFFICIENT SDPA kernels unavailable              SDPA picks the MATH kernel by itself here
empty tensors (``grid_sample``, ``torch.stack([])``)    guard ``n == 0`` before such ops
complex tensors (``repeat``) and device mismatches      keep buffers on the model's device (``.to``)
=====================================================  =============================================
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import platform
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

__all__ = [
    "DeviceChoice",
    "resolve_device",
    "pick_device",
    "device_report",
    "autocast_context",
    "bf16_autocast",
    "to_device",
    "set_mps_fallback_env",
    "ensure_float32",
]

logger = logging.getLogger(__name__)
_KNOWN_TYPES = ("cuda", "mps", "cpu")


@dataclass(frozen=True)
class DeviceChoice:
    """The device chosen, what was asked for, and why they differ (``warning`` is None if they do not)."""

    device: torch.device
    requested: str | None
    warning: str | None = None


def _cuda_available() -> bool:
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver means "no CUDA", not a crash
        return False


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    try:
        return bool(mps is not None and mps.is_available())
    except Exception:  # noqa: BLE001
        return False


def _auto() -> torch.device:
    if _cuda_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(override: str | torch.device | None = None) -> DeviceChoice:
    """Choose the device, reporting a fallback instead of raising.

    Arguments:
      override: "cpu", "cuda", "cuda:1", "mps", "auto" or None; None reads ``SAM_DEVICE`` (empty = auto).
    Returns:
      DeviceChoice(device, requested, warning) — warning explains an override that was not honoured.
    """
    requested = override if override is not None else (os.environ.get("SAM_DEVICE") or None)
    if requested is None:
        return DeviceChoice(_auto(), None)
    text = str(requested).strip().lower()
    if text in ("", "auto"):
        return DeviceChoice(_auto(), text or None)
    source = "SAM_DEVICE" if override is None else "requested device"
    try:
        wanted = torch.device(text)
    except (RuntimeError, ValueError):
        wanted = None
    if wanted is None or wanted.type not in _KNOWN_TYPES:
        fallback = _auto()
        return DeviceChoice(
            fallback, text, f"{source} '{text}' is not one of cuda/mps/cpu; using {fallback.type}"
        )
    available = {"cpu": True, "cuda": _cuda_available(), "mps": _mps_available()}[wanted.type]
    if wanted.type == "cuda" and available and wanted.index is not None:
        available = wanted.index < torch.cuda.device_count()
    if available:
        return DeviceChoice(wanted, text)
    fallback = _auto()
    return DeviceChoice(fallback, text, f"{source} '{text}' is not available here; using {fallback.type}")


def pick_device(override: str | torch.device | None = None) -> torch.device:
    """The device to run on: override / ``SAM_DEVICE`` if available, else cuda -> mps -> cpu.

    An unavailable override falls back to the automatic choice and logs a warning (use
    ``resolve_device`` to get the warning text for the UI).
    """
    choice = resolve_device(override)
    if choice.warning:
        logger.warning(choice.warning)
    return choice.device


def _bf16_autocast_ok(device: torch.device) -> bool:
    if device.type != "cuda" or not _cuda_available():
        return False
    try:
        return bool(torch.cuda.is_bf16_supported())
    except Exception:  # noqa: BLE001
        return False


def device_report(device: str | torch.device | None = None) -> dict:
    """Facts to show in the sidebar / benchmark logs.

    Returns:
      dict with ``device`` ("cuda:0"), ``name`` (GPU name, "Apple GPU (MPS)" or the CPU),
      ``torch_version``, ``cuda_version`` (None without CUDA), ``threads`` (intra-op),
      ``interop_threads``, ``cuda_available``, ``mps_available``, ``bf16`` (whether
      ``autocast_context`` would use bfloat16 here: CUDA with bf16 support only), ``mps_fallback``
      (``PYTORCH_ENABLE_MPS_FALLBACK``).
    """
    dev = pick_device() if device is None else torch.device(device)
    if dev.type == "cuda" and _cuda_available():
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        name = torch.cuda.get_device_name(index)
        dev = torch.device("cuda", index)
    elif dev.type == "mps":
        name = "Apple GPU (MPS)"
    else:
        name = platform.processor() or platform.machine() or "CPU"
    return {
        "device": str(dev),
        "name": name,
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cuda_available": _cuda_available(),
        "mps_available": _mps_available(),
        "bf16": _bf16_autocast_ok(dev),
        "mps_fallback": os.environ.get("PYTORCH_ENABLE_MPS_FALLBACK"),
    }


def autocast_context(device: str | torch.device, enabled_bf16: bool) -> AbstractContextManager:
    """bfloat16 autocast on CUDA (if asked and supported); a no-op context on MPS and CPU.

    CPU autocast would silently compute in bfloat16 (slower on most CPUs, and a different answer
    from the official float32 model); MPS autocast is unreliable, so both stay float32.
    """
    device = torch.device(device)
    if enabled_bf16 and _bf16_autocast_ok(device):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def bf16_autocast(method):
    """Run a predictor method under ``autocast_context(self.device, self.use_bf16_autocast)``.

    Meta runs SAM 2 on CUDA under ``torch.autocast("cuda", dtype=torch.bfloat16)`` (its README and demo);
    our predictors do it themselves, so a caller need not. On CPU and MPS it is a no-op (float32, the
    official numbers). For a generator (``propagate_in_video``) the context is entered around each
    resume only, so autocast never leaks into the caller's code between two yielded frames.
    """

    def context(self) -> AbstractContextManager:
        return autocast_context(self.device, enabled_bf16=getattr(self, "use_bf16_autocast", True))

    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(self, *args, **kwargs):
            frames = method(self, *args, **kwargs)
            while True:
                with context(self):
                    try:
                        item = next(frames)
                    except StopIteration:
                        return
                yield item

        return generator

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with context(self):
            return method(self, *args, **kwargs)

    return wrapper


def to_device(tensor: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """``tensor.to(device)``, asynchronous only on CUDA (``non_blocking`` misbehaves elsewhere)."""
    device = torch.device(device)
    return tensor.to(device, non_blocking=device.type == "cuda")


def set_mps_fallback_env() -> str | None:
    """Set ``PYTORCH_ENABLE_MPS_FALLBACK=1`` unless the user set it; return the previous value.

    Ops without an MPS kernel then run on the CPU instead of raising ``NotImplementedError``. PyTorch
    reads the variable when the MPS backend starts, so call this before the first MPS op (best: at
    the top of app.py, before importing torch). Harmless on machines without MPS.
    """
    previous = os.environ.get("PYTORCH_ENABLE_MPS_FALLBACK")
    os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")
    return previous


def ensure_float32(module: torch.nn.Module) -> torch.nn.Module:
    """Convert bfloat16/float16 parameters and buffers to float32 in place (needed on MPS); returns it."""
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.dtype in (torch.bfloat16, torch.float16):
            tensor.data = tensor.data.float()
    return module
