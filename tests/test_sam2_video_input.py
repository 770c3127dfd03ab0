"""SAM2VideoPredictor's video inputs: an mp4 (PyAV), a JPEG folder and a list of frames give the same tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sam_core.sam2.video_frames import load_video_frames

HEIGHT, WIDTH, NUM_FRAMES, SIZE = 48, 64, 5, 64


def _frames() -> list[np.ndarray]:
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    return [
        np.stack([(xx * 4 + 20 * t) % 256, yy * 5 % 256, np.full_like(xx, 40 * t)], axis=-1).astype(np.uint8)
        for t in range(NUM_FRAMES)
    ]


def _write_mp4(path, frames: list[np.ndarray]) -> None:
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"crf": "1"} if stream.codec_context.name == "libx264" else {}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def test_mp4_decodes_to_the_frames_it_holds(tmp_path):
    frames = _frames()
    path = tmp_path / "clip.mp4"
    _write_mp4(path, frames)
    from_mp4, height, width = load_video_frames(path, SIZE)
    from_list, _, _ = load_video_frames(frames, SIZE)
    assert (height, width) == (HEIGHT, WIDTH) and from_mp4.shape == (NUM_FRAMES, 3, SIZE, SIZE)
    # lossy (yuv420p) coding: close to the source, far from the next frame
    assert (from_mp4 - from_list).abs().mean() < 0.1
    assert (from_list[1:] - from_list[:-1]).abs().mean() > 0.3


def test_folder_and_list_are_identical(tmp_path):
    frames = _frames()
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f"{t}.png")
    from_folder, h, w = load_video_frames(tmp_path, SIZE)
    from_list, _, _ = load_video_frames(frames, SIZE)
    assert (h, w) == (HEIGHT, WIDTH) and torch.equal(from_folder, from_list)


def test_unreadable_inputs_say_what_to_pass(tmp_path):
    with pytest.raises(RuntimeError, match="no JPEG or PNG frames"):
        load_video_frames(tmp_path, SIZE)
    with pytest.raises(NotImplementedError, match="folder of JPEG/PNG frames"):
        load_video_frames(tmp_path / "notes.txt", SIZE)
    pytest.importorskip("av")
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 100)
    with pytest.raises(ValueError, match="broken.mp4 could not be decoded"):
        load_video_frames(tmp_path / "broken.mp4", SIZE)
    with pytest.raises(ValueError, match="no frames"):
        load_video_frames([], SIZE)
