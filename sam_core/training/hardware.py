"""Where a training run computes: `--device auto|cpu|cuda|mps` and what each device allows.

auto picks cuda -> mps -> cpu (the order of `sam_core.device`). Unlike the app, which falls back with a
warning, an explicit device that is not there is an error: a run meant for a GPU must not quietly take
hours on the CPU. bf16 autocast runs on CUDA only (CPU autocast would silently compute in bfloat16, MPS
autocast is unreliable); batches go to the device through `sam_core.device.to_device` (`non_blocking` on
CUDA only) and nothing is pinned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class TrainDevice:
    device: torch.device
    bf16: bool  # bf16 autocast for the model's forward passes (CUDA with bf16 support only)


def choose_training_device(requested: str, amp: str, cuda: bool, mps: bool, cuda_bf16: bool) -> TrainDevice:
    """The decision, from what is available (a pure function, so every branch is testable on any machine).

    Arguments:
      requested: one of DEVICES. amp: "bf16" or "off". cuda / mps: whether that backend is available;
      cuda_bf16: whether the CUDA device supports bfloat16.
    Raises:
      ValueError for an unknown device, or a requested device that is not available.
    """
    if requested not in DEVICES:
        raise ValueError(f"--device {requested!r}: expected one of {', '.join(DEVICES)}")
    available = {"cpu": True, "cuda": cuda, "mps": mps}
    if requested == "auto":
        kind = "cuda" if cuda else "mps" if mps else "cpu"
    elif available[requested]:
        kind = requested
    else:
        raise ValueError(f"--device {requested}: not available on this machine (use --device auto or cpu)")
    return TrainDevice(torch.device(kind), bf16=kind == "cuda" and amp == "bf16" and cuda_bf16)


def training_device(requested: str, amp: str = "bf16") -> TrainDevice:
    """choose_training_device with this machine's torch backends."""
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    return choose_training_device(requested, amp, cuda, mps, cuda and torch.cuda.is_bf16_supported())
