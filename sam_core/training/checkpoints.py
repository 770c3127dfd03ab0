"""What a run writes and reads: the resumable checkpoint (last.pt), the exported weights, --init weights.

last.pt holds the model, the dense head, the optimizer, the step, the elapsed seconds, the config, the
torch RNG state and the first interactive step; `sam_nano.safetensors` holds exactly the `Sam` module's
state_dict (no training-only head), which `sam_core.sam1.build` loads. Files are written to a temporary
name and renamed, so a run stopped mid-write leaves the previous file intact.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from sam_core.sam1.sam import Sam
from sam_core.training.config import TrainConfig


def export_safetensors(model: Sam, path: Path) -> None:
    """The model's weights as a safetensors file (CPU tensors, contiguous)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "model": "sam_core nano"})
    os.replace(tmp, path)


def save_checkpoint(path: Path, model: Sam, optimizer: torch.optim.Optimizer, step: int, elapsed: float,
                    cfg: TrainConfig, aux_head: torch.nn.Module | None = None,
                    interactive_from: int | None = None) -> None:
    """last.pt: everything `--resume` needs to continue as if the run had not stopped."""
    tmp = path.with_suffix(".tmp")
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "elapsed": elapsed, "args": dataclasses.asdict(cfg), "torch_rng": torch.get_rng_state(),
             "interactive_from": interactive_from}
    if aux_head is not None:
        state["aux_head"] = aux_head.state_dict()
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    """last.pt as saved by save_checkpoint, its tensors on the CPU (load_state_dict moves them)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def load_init_weights(path: str) -> dict[str, torch.Tensor]:
    """The model weights of `--init`: a .safetensors file or a training checkpoint (.pt with "model")."""
    if path.endswith(".pt"):
        return torch.load(path, map_location="cpu", weights_only=True)["model"]
    from safetensors.torch import load_file

    return load_file(path)
