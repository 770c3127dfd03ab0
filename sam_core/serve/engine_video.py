"""The video side of the service: a SAM 2 video predictor behind tracking sessions (``/track/*``).

A tracking session is one ``SAM2VideoPredictor.init_state`` (the frames, resized and normalised, and
the memory bank that prompts and propagation fill). The predictor (the model) is shared by every
session and never mutated; each session's state is its own. Call the methods on the ModelWorker
thread: the worker runs one model call at a time, so a session is never used by two calls at once.

Closing a session (``/track/stop``, its lifetime, the server's shutdown) marks it closed and drops the
store's reference; a call already queued for it sees ``closed`` and answers 404, and the state's
tensors are freed when the last reference goes (the server's sweeper then returns cached CUDA blocks
with ``torch.cuda.empty_cache``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sam_core.device import ensure_float32, pick_device
from sam_core.sam2.build import HIERA_SIZES, build_sam2_video_predictor
from sam_core.sam2.video_frames import FRAME_SUFFIXES, frame_paths
from sam_core.sam2.video_predictor import SAM2VideoPredictor
from sam_core.serve.errors import ApiError
from sam_core.serve.fields import masks_to_numpy
from sam_core.serve.images import decode_image
from sam_core.weights.checkpoint import CheckpointError
from sam_core.weights.download import fetch_checkpoint
from sam_core.weights.registry import KNOWN_MODELS

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")


@dataclass
class TrackSession:
    """One video being tracked: the predictor's inference state and what the endpoints check against."""

    state: dict  # SAM2VideoPredictor.init_state(...)
    num_frames: int
    width: int
    height: int
    closed: bool = False
    busy: bool = False  # a propagation is running (between its frames other requests are served)
    obj_ids: list[int] = field(default_factory=list)  # objects prompted so far, in order


@dataclass(frozen=True)
class FrameMasks:
    """One frame's result: masks bool [N_obj, H, W] in the order of ``obj_ids``."""

    frame_idx: int
    obj_ids: list[int]
    masks: np.ndarray


class VideoEngine:
    family = "sam2"

    def __init__(self, predictor: SAM2VideoPredictor, name: str, *, max_pixels: int, min_side: int,
                 max_frames: int, max_file_bytes: int, max_video_pixels: int) -> None:
        self.predictor = predictor
        self.name = name
        self.max_pixels = max_pixels
        self.min_side = min_side
        self.max_frames = max_frames  # per video
        self.max_file_bytes = max_file_bytes  # per frame file read from the media folder
        self.max_video_pixels = max_video_pixels  # frames x width x height of one video

    @property
    def device(self) -> torch.device:
        return self.predictor.device

    # ---- frames ----------------------------------------------------------------------------
    def decode_frames(self, files: list[bytes]) -> list[np.ndarray]:
        """Uploaded frame images (untrusted) -> RGB uint8 [H, W, 3] each, all of one size."""
        if not files:
            raise ApiError(422, "the video has no frames")
        if len(files) > self.max_frames:
            raise ApiError(413, f"the video has {len(files)} frames; this server tracks at most {self.max_frames}")
        frames = []
        for index, data in enumerate(files):
            try:
                frames.append(decode_image(data, max_pixels=self.max_pixels, min_side=self.min_side).rgb)
            except ApiError as error:
                raise ApiError(error.status, f"frame {index}: {error.message}") from None
            if index == 0:
                self._check_video_pixels(len(files), *frames[0].shape[:2])  # before decoding the others
            if frames[-1].shape != frames[0].shape:
                height, width = frames[0].shape[:2]
                raise ApiError(422, f"frame {index} is {frames[-1].shape[1]} x {frames[-1].shape[0]} pixels; "
                                    f"frame 0 is {width} x {height}: every frame of a video has one size")
        return frames

    def _check_video_pixels(self, count: int, height: int, width: int) -> None:
        if count * height * width > self.max_video_pixels:
            raise ApiError(413, f"the video is {count} frames of {width} x {height} pixels "
                                f"({count * height * width / 1e6:.0f} MP in all); this server takes at most "
                                f"{self.max_video_pixels / 1e6:.0f} MP per video: send fewer or smaller frames")

    def read_media(self, path: Path) -> list[np.ndarray]:
        """A folder of JPEG / PNG frames or a video file under the media root (already resolved) -> frames."""
        if path.is_dir():
            try:
                paths = frame_paths(path)
            except RuntimeError:
                raise ApiError(422, f"the folder holds no frames ({', '.join(FRAME_SUFFIXES)})") from None
            if len(paths) > self.max_frames:
                raise ApiError(413, f"the video has {len(paths)} frames; this server tracks at most "
                                    f"{self.max_frames}")
            for frame_path in paths:  # a symbolic link inside the folder must not lead out of it
                if not frame_path.resolve().is_relative_to(path) or not frame_path.resolve().is_file():
                    raise ApiError(403, f"frame {frame_path.name!r} is not a file inside the video's folder")
            return self.decode_frames([self._read_file(p) for p in paths])
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return self._decode_video_file(path)
        raise ApiError(422, "video_path must name a folder of JPEG / PNG frames or a video file "
                            f"({', '.join(VIDEO_SUFFIXES)})")

    def _read_file(self, path: Path) -> bytes:
        with open(path, "rb") as file:
            data = file.read(self.max_file_bytes + 1)
        if len(data) > self.max_file_bytes:
            raise ApiError(413, f"frame {path.name!r} is larger than {self.max_file_bytes / 2**20:.1f} MiB")
        return data

    def _decode_video_file(self, path: Path) -> list[np.ndarray]:
        """Frames of a video file through PyAV, stopping at the frame limit (never the whole file first)."""
        try:
            import av
        except ImportError:
            raise ApiError(422, "this server cannot decode video files (PyAV is not installed); send a folder "
                                "of frames or upload the frames") from None
        frames = []
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                width, height = stream.codec_context.width, stream.codec_context.height
                if width * height > self.max_pixels or min(width, height) < self.min_side:
                    raise ApiError(413 if width * height > self.max_pixels else 422,
                                   f"the video is {width} x {height} pixels; not within this server's limits")
                for frame in container.decode(stream):
                    self._check_video_pixels(len(frames) + 1, height, width)
                    if len(frames) == self.max_frames:
                        raise ApiError(413, f"the video has more than {self.max_frames} frames; this server "
                                            f"tracks at most {self.max_frames}")
                    frames.append(frame.to_ndarray(format="rgb24"))
        except ApiError:
            raise
        except Exception as error:  # noqa: BLE001 - any decoder failure is the file's fault
            raise ApiError(422, f"the video file could not be decoded ({type(error).__name__})") from None
        if not frames:
            raise ApiError(422, "the video has no frames")
        return frames

    # ---- tracking --------------------------------------------------------------------------
    def start(self, frames: list[np.ndarray]) -> TrackSession:
        """A new inference state for ``frames`` (frame 0's features computed at once)."""
        state = self.predictor.init_state(frames, offload_video_to_cpu=True)
        return TrackSession(state, len(frames), int(state["video_width"]), int(state["video_height"]))

    def add_prompt(self, session: TrackSession, frame_idx: int, obj_id: int, points: np.ndarray | None,
                   labels: np.ndarray | None, box_xyxy: np.ndarray | None) -> FrameMasks:
        """Clicks ([P, 2] video pixels, labels [P]) and / or a box [4] (x0, y0, x1, y1 pixels) for one object
        on one frame -> that frame's masks for every object."""
        _check_open(session)
        frame, obj_ids, logits = self.predictor.add_new_points_or_box(
            session.state, frame_idx=frame_idx, obj_id=obj_id, points=points, labels=labels, box=box_xyxy)
        if obj_id not in session.obj_ids:
            session.obj_ids.append(obj_id)
        return FrameMasks(int(frame), [int(o) for o in obj_ids], masks_to_numpy(logits > 0))

    def propagation(self, session: TrackSession, direction: str, start_frame: int | None,
                    max_frames: int | None) -> Iterator[FrameMasks]:
        """Track every prompted object, one frame per ``next()``: forward, backward, or both (forward, then
        backward from the same start; the start frame once). ``max_frames`` None = to the end of the video
        (Meta's None). The route runs each ``next()`` as its own worker call, so other students' clicks
        are served between two frames; a session stopped meanwhile ends it with a 404."""
        _check_open(session)
        seen: set[int] = set()
        passes = {"forward": (False,), "backward": (True,), "both": (False, True)}[direction]
        for reverse in passes:
            for frame, obj_ids, logits in self.predictor.propagate_in_video(
                    session.state, start_frame_idx=start_frame, max_frame_num_to_track=max_frames, reverse=reverse):
                _check_open(session)
                if int(frame) not in seen:
                    seen.add(int(frame))
                    yield FrameMasks(int(frame), [int(o) for o in obj_ids], masks_to_numpy(logits > 0))

    @torch.inference_mode()
    def tracked_masks(self, session: TrackSession) -> list[FrameMasks]:
        """Every frame that some object has a result on (prompted or propagated), in frame order, from the
        session's state (nothing is kept twice): masks [N_obj, H, W], empty where an object has none."""
        _check_open(session)
        state = session.state
        per_obj = []  # for each object: {frame: low-res logits [1, 1, h, w]}
        for obj_idx in range(len(state["obj_ids"])):
            found = {}
            for store in (state["output_dict_per_obj"][obj_idx], state["temp_output_dict_per_obj"][obj_idx]):
                for outputs in (store["non_cond_frame_outputs"], store["cond_frame_outputs"]):
                    found.update({f: out["pred_masks"] for f, out in outputs.items()})  # a prompt wins
            per_obj.append(found)
        results = []
        for frame in sorted(set().union(*per_obj)) if per_obj else []:
            shape = next(p[frame] for p in per_obj if frame in p).shape
            logits = torch.cat([(p[frame] if frame in p else torch.full(shape, -1024.0)).to(self.device)
                                for p in per_obj])  # -1024: Meta's NO_OBJ_SCORE, an empty mask
            _, video_res = self.predictor._get_orig_video_res_output(state, logits)
            results.append(FrameMasks(frame, [int(o) for o in state["obj_ids"]], masks_to_numpy(video_res > 0)))
        return results

    def close_payload(self, payload: TrackSession | None) -> None:
        """SessionStore's on_close (the payload is None while /track/start's SAM 2 encoding still runs)."""
        if payload is not None:
            self.close(payload)

    def close(self, session: TrackSession) -> None:
        """Mark the session closed; its tensors go with the last reference (see the module docstring)."""
        session.closed = True


def _check_open(session: TrackSession) -> None:
    if session.closed:
        raise ApiError(404, "the tracking session was stopped")


def load_video_engine(name: str, checkpoint: Path | None, device: str | None, *, image_size: int,
                      max_pixels: int, min_side: int, max_frames: int, max_file_bytes: int,
                      max_video_pixels: int) -> VideoEngine:
    """Build the SAM 2 video predictor once: ``name`` is a registry name of the sam2 family (weights fetched
    unless ``checkpoint`` is given) or a size of ``HIERA_SIZES`` with an explicit ``checkpoint``.

    Raises ValueError (unknown name, not SAM 2, no weights) or CheckpointError / OfflineError.
    """
    spec = KNOWN_MODELS.get(name)
    if spec is not None and spec.family == "sam2":
        model_type = spec.model_type
        weights = checkpoint if checkpoint is not None else fetch_checkpoint(spec.name, show_progress_bar=True)
    elif name in HIERA_SIZES:  # a size (also when a model of another family shares the name)
        if checkpoint is None:
            raise ValueError(f"SAM 2 size '{name}' alone has no weights: give --video-checkpoint")
        model_type, weights = name, checkpoint
    elif spec is not None:
        raise ValueError(f"model '{name}' is a {spec.family} model, not a SAM 2 video model")
    else:
        known = sorted({n for n, s in KNOWN_MODELS.items() if s.family == "sam2"} | set(HIERA_SIZES))
        raise ValueError(f"unknown SAM 2 model '{name}'; known: {', '.join(known)}")
    chosen = pick_device(device)
    try:
        predictor = build_sam2_video_predictor(model_type, str(weights), device=chosen, image_size=image_size)
    except CheckpointError:
        raise
    except RuntimeError as error:
        raise ValueError(str(error)) from None
    if chosen.type == "mps":
        ensure_float32(predictor)
    return VideoEngine(predictor, name, max_pixels=max_pixels, min_side=min_side, max_frames=max_frames,
                       max_file_bytes=max_file_bytes, max_video_pixels=max_video_pixels)

