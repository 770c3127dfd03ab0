"""Tiny SAM 3 and SAM 2 models with random weights, saved to files, for the service tests.

The service loads weights from files only (no random-weight mode), so the tests save a tiny SAM 3
(``SAM3_CONFIGS["tiny"]``: 112 px) and a SAM 2.1 hiera_tiny (run at 128 px) and start the server with
``--concept-checkpoint`` / ``--video-checkpoint``. Seeds fixed: the in-process oracles load the same files.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sam_core.sam2.build import build_sam2_video_predictor
from sam_core.sam3 import build_sam3

VIDEO_SIZE = 128  # SAM 2's input size in the tests (1024 as trained): 8 x 8 memory tokens, fast on a CPU


def save_random(model: torch.nn.Module, path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def tiny_weights(tmp_path_factory) -> tuple[Path, Path]:
    """(SAM 3 tiny, SAM 2.1 hiera_tiny) random weights, written once per test session (156 MB for SAM 2)
    into its temporary folder and shared by every service test module."""
    folder = tmp_path_factory.getbasetemp() / "serve_tiny_weights"
    concept, video = folder / "sam3_tiny.safetensors", folder / "sam2_tiny.safetensors"
    if not (concept.exists() and video.exists()):
        folder.mkdir(exist_ok=True)
        torch.manual_seed(3)
        save_random(build_sam3("tiny"), concept)
        torch.manual_seed(4)
        save_random(build_sam2_video_predictor("hiera_tiny", image_size=VIDEO_SIZE), video)
    return concept, video


def model_args(concept: Path, video: Path) -> list[str]:
    """The server's command-line arguments for the two tiny models."""
    return ["--concept-model", "tiny", "--concept-checkpoint", str(concept), "--video-model", "hiera_tiny",
            "--video-checkpoint", str(video), "--video-image-size", str(VIDEO_SIZE)]
