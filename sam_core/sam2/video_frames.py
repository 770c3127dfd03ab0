"""Video frames for SAM2VideoPredictor: a list of frames, a folder of JPEG/PNG files, or an mp4.

Each frame is resized to image_size x image_size with PIL's default (bicubic) filter, scaled to [0, 1]
and normalised with ImageNet mean/std — Meta's load_video_frames. Returns the [T, 3, S, S] float32
tensor and the original (height, width).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sam_core.sam2.image_predictor import IMAGENET_MEAN, IMAGENET_STD

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def _frame_tensor(frame: Image.Image | np.ndarray, image_size: int) -> tuple[torch.Tensor, int, int]:
    """One RGB frame -> ([3, S, S] in [0, 1], height, width) of the original."""
    pil = frame if isinstance(frame, Image.Image) else Image.fromarray(np.asarray(frame))
    width, height = pil.size
    array = np.array(pil.convert("RGB").resize((image_size, image_size)))
    return torch.from_numpy(array / 255.0).permute(2, 0, 1), height, width


def frame_paths(folder: str | os.PathLike) -> list[Path]:
    """JPEG/PNG files of a folder, ordered by the integer in their names (00000.jpg, 1.png, ...)."""
    paths = [p for p in Path(folder).iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
    if not paths:
        raise RuntimeError(f"no JPEG or PNG frames found in {folder}")
    return sorted(paths, key=lambda p: int(p.stem) if p.stem.isdigit() else p.stem)


def decode_mp4(path: str | os.PathLike) -> list[np.ndarray]:
    """All frames of a video file as RGB arrays, through PyAV (pip install av)."""
    try:
        import av
    except ImportError as error:
        raise ImportError(
            "reading video files needs PyAV (pip install av); or extract frames with "
            "`ffmpeg -i video.mp4 -q:v 2 -start_number 0 frames/%05d.jpg` and pass the folder"
        ) from error
    try:
        with av.open(str(path)) as container:
            return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except (av.FFmpegError, IndexError) as error:  # IndexError: a container without a video stream
        raise ValueError(f"{Path(path).name} could not be decoded as a video ({error})") from error


def load_video_frames(
    video: str | os.PathLike | Sequence[Image.Image | np.ndarray], image_size: int
) -> tuple[torch.Tensor, int, int]:
    """video: a folder of frames, an .mp4 path, or a sequence of RGB frames -> ([T, 3, S, S], height, width)."""
    if isinstance(video, (str, os.PathLike)):
        path = Path(video)
        if path.is_dir():
            frames: Sequence = [Image.open(p) for p in frame_paths(path)]
        elif path.suffix.lower() in (".mp4", ".mov", ".avi", ".mkv", ".webm"):
            frames = decode_mp4(path)
        else:
            raise NotImplementedError(f"{video}: pass a folder of JPEG/PNG frames, a video file or a list of frames")
    else:
        frames = video
    if len(frames) == 0:
        raise ValueError("the video has no frames")
    images = torch.zeros(len(frames), 3, image_size, image_size, dtype=torch.float32)
    for n, frame in enumerate(frames):
        images[n], height, width = _frame_tensor(frame, image_size)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    return (images - mean) / std, height, width
