"""Untrusted video uploads for "Try it: Video": a zip of JPEG/PNG frames, or an mp4 / webm / mov when PyAV is
installed. Bounded before decoding: file size, number of frames, uncompressed size of a zip (no zip
bombs), each frame through ui.images.load_upload (pixel limits, formats); every frame is resized to the
first frame's size. Never raises: (frames, message) or (None, why).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image

from ui import images

MAX_VIDEO_BYTES = 60 * 1024 * 1024
MAX_FRAMES = 48  # propagation on a CPU stays within seconds
MAX_FRAME_SIDE = 512
MAX_UNCOMPRESSED = 400 * 1024 * 1024
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi")
LIMITS_TEXT = (f"a zip of JPEG/PNG frames or a video file, at most {MAX_VIDEO_BYTES // 2**20} MB; the first "
               f"{MAX_FRAMES} frames are used, each scaled to at most {MAX_FRAME_SIDE} px")


def _same_size(frames: list[np.ndarray]) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    return [f if f.shape[:2] == (h, w) else np.asarray(Image.fromarray(f).resize((w, h))) for f in frames]


def _from_zip(data: bytes) -> tuple[list[np.ndarray] | None, str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir() and i.filename.lower().endswith(FRAME_SUFFIXES)
                 and not i.filename.startswith(("__MACOSX/", "/")) and ".." not in i.filename]
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        return None, f"This zip could not be read ({type(error).__name__})."
    if not infos:
        return None, "The zip holds no JPEG or PNG frames."
    infos.sort(key=lambda i: i.filename)
    notes = [f"{len(infos)} frames in the zip; the first {MAX_FRAMES} are used."] if len(infos) > MAX_FRAMES else []
    infos = infos[:MAX_FRAMES]
    if sum(i.file_size for i in infos) > MAX_UNCOMPRESSED:
        return None, "The frames in this zip are too large once uncompressed."
    frames = []
    for info in infos:
        try:
            raw = archive.read(info)
        except Exception as error:  # a corrupt member
            return None, f"{info.filename}: could not be extracted ({type(error).__name__})."
        frame, message = images.load_upload(raw, max_side=MAX_FRAME_SIDE)
        if frame is None:
            return None, f"{info.filename}: {message}"
        frames.append(frame)
    return _same_size(frames), " ".join(notes)


def _from_video(data: bytes) -> tuple[list[np.ndarray] | None, str]:
    try:
        import av
    except ImportError:
        return None, ("Reading video files needs PyAV (`pip install av`). Or upload a zip of frames, e.g. made with "
                      "`ffmpeg -i video.mp4 -frames:v 48 frames/%05d.jpg`.")
    frames = []
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            if stream.width * stream.height > images.MAX_PIXELS:
                return None, "The video's frames are too large."
            for frame in container.decode(video=0):
                rgb = frame.to_image()
                rgb.thumbnail((MAX_FRAME_SIDE, MAX_FRAME_SIDE))
                frames.append(np.asarray(rgb.convert("RGB")))
                if len(frames) >= MAX_FRAMES:
                    break
    except Exception as error:  # PyAV raises many kinds of errors on bad input
        return None, f"This video could not be decoded ({type(error).__name__})."
    if not frames:
        return None, "The video has no frames."
    return _same_size(frames), f"The first {len(frames)} frames are used." if len(frames) == MAX_FRAMES else ""


def load_video_upload(data: bytes, name: str) -> tuple[list[np.ndarray] | None, str]:
    """Frames (uint8 [H, W, 3], same size) of an uploaded zip or video file, or None and why."""
    if not data:
        return None, "The file is empty."
    if len(data) > MAX_VIDEO_BYTES:
        return None, f"The file is larger than {MAX_VIDEO_BYTES // 2**20} MB."
    lower = name.lower()
    if lower.endswith(".zip"):
        frames, message = _from_zip(data)
    elif lower.endswith(VIDEO_SUFFIXES):
        frames, message = _from_video(data)
    else:
        return None, "Upload a .zip of JPEG/PNG frames or a video file (.mp4, .webm, .mov)."
    if frames is not None and len(frames) < 2:
        return None, "A video needs at least two frames."
    return frames, message
