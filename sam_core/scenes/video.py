"""Procedural videos: the still scenes animated, with exact per-frame masks and visibility flags.

API
---
- ``VIDEO_KINDS = ("savanna", "street", "desk", "orchard", "person")``
- ``render_video(kind, seed, num_frames=8, size=256) -> Video``: deterministic (same kind, seed, number
  of frames and size -> same pixels and masks), numpy + PIL only (~4 ms per frame at 256 px).
- ``Video``: ``kind``, ``seed``, ``frames`` (uint8 [T, H, W, 3]), ``tracks`` (list of ``VideoTrack``);
  ``num_frames``, ``size``, ``find(name)``, ``frame_scene(t)`` (frame t as a still ``Scene``: what SAM 1
  sees), ``targets()`` (the tracks a benchmark follows).
- ``VideoTrack``: one object over time: ``name``, ``phrase``, ``level`` ("part" | "object" | "group"),
  ``parent`` (index into ``tracks``), ``attributes``, ``masks`` (bool [T, H, W], the VISIBLE pixels
  after occlusion), ``visible`` (bool [T]: at least ``MIN_AREA`` visible pixels), ``areas`` ([T]),
  ``reappearances()`` (frames where a hidden object is visible again).

How a video is made: the scene's draw function runs once per frame with a generator re-seeded the
same way every frame, so every random choice (layout, colours, textures) repeats; what changes with
the frame index t is explicit: the camera (a pan and a zoom drift inside the room the zoom leaves,
so objects near an edge leave the view and come back), a moving occluder drawn last (a bus, a hand,
a branch, a pillar: full and partial occlusion of what it passes), lighting (a slow exposure drift)
and, per kind, object motion (``video_savanna``: elephants walking, one behind an acacia thicket).
Sensor noise is drawn per frame. Masks come from the label map as for the stills, so a child's mask
is a subset of its parent's on every frame; no object is dropped (a track may be empty on a frame).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .base import Scene, SceneObject
from .canvas import MIN_AREA, Canvas
from .desk import draw_desk
from .orchard import draw_orchard
from .person import draw_person
from .street import draw_street
from .video_motion import Camera, draw_occluder, occluder_path
from .video_savanna import draw_savanna_walk

VIDEO_KINDS = ("savanna", "street", "desk", "orchard", "person")
MIN_FRAMES, MAX_FRAMES = 2, 96


@dataclass
class VideoTrack:
    """One ground-truth object over a video (see the module docstring)."""

    name: str
    phrase: str
    level: str
    masks: np.ndarray  # bool [T, H, W]
    parent: int | None = None
    attributes: dict = field(default_factory=dict)
    min_area: int = MIN_AREA

    @property
    def areas(self) -> np.ndarray:
        """[T] int: visible pixels per frame."""
        return self.masks.reshape(self.masks.shape[0], -1).sum(1)

    @property
    def visible(self) -> np.ndarray:
        """[T] bool: the object is in view on that frame (at least min_area visible pixels)."""
        return self.areas >= self.min_area

    def reappearances(self) -> list[int]:
        """Frames t where the object is visible and was hidden on t - 1 (after being seen before)."""
        vis = self.visible
        seen = np.cumsum(vis) > 0
        return [t for t in range(1, len(vis)) if vis[t] and not vis[t - 1] and seen[t - 1]]


@dataclass
class Video:
    """A rendered video: frames uint8 [T, H, W, 3] and its tracks."""

    kind: str
    seed: int
    frames: np.ndarray
    tracks: list[VideoTrack]

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> int:
        return int(self.frames.shape[1])

    def find(self, name: str) -> list[VideoTrack]:
        return [tr for tr in self.tracks if tr.name == name]

    def frame_scene(self, t: int) -> Scene:
        """Frame t as a still Scene (only the tracks visible on it; parents re-indexed)."""
        keep = [i for i, tr in enumerate(self.tracks) if tr.visible[t]]
        index = {i: n for n, i in enumerate(keep)}
        objects = []
        for i in keep:
            tr = self.tracks[i]
            parent = index.get(tr.parent) if tr.parent is not None else None
            objects.append(SceneObject(tr.name, tr.phrase, tr.level, tr.masks[t], parent, dict(tr.attributes)))
        return Scene(kind=self.kind, seed=self.seed, image=self.frames[t], objects=objects)

    def targets(self, min_first_area: int | None = None) -> list[int]:
        """Indices of the tracks a benchmark follows: objects (level "object", not the occluder, the road
        or a kerb) visible on frame 0 with at least `min_first_area` pixels (default: (size / 16)^2)."""
        floor = (self.size // 16) ** 2 if min_first_area is None else min_first_area
        return [i for i, tr in enumerate(self.tracks)
                if tr.level == "object" and not tr.attributes.get("occluder") and tr.name not in BACKGROUND_NAMES
                and tr.areas[0] >= floor]


BACKGROUND_NAMES = ("road", "kerb")  # large stuff that a tracker trivially follows


class VideoCanvas(Canvas):
    """A Canvas whose view follows a Camera at frame t, and whose render keeps every declared object."""

    def __init__(self, size: int, rng: np.random.Generator, camera: Camera, t: int) -> None:
        super().__init__(size, rng)
        self.camera, self.t = camera, t

    def set_view(self, rng: np.random.Generator, max_zoom: float, pan: float = 1.0) -> None:
        """The still scene's random view (the same draws), moved by the camera at frame t."""
        super().set_view(rng, max_zoom, pan)
        self.zoom, self.ox, self.oy = self.camera.view(self.t, self.zoom, self.ox, self.oy)
        self.s = 2.0 * self.size / 256.0 * self.zoom

    def _objects(self, lab_img: np.ndarray) -> list[SceneObject]:
        """Like Canvas._objects, but nothing is dropped: track i is the i-th declared object on every frame."""
        n = len(self.objs)
        labels = [set(o["labels"]) for o in self.objs]
        for i in range(n):
            p = self.objs[i]["parent"]
            while p is not None:
                labels[p] |= self.objs[i]["labels"]
                p = self.objs[p]["parent"]
        out = []
        for i, o in enumerate(self.objs):
            lut = np.zeros(256, bool)
            lut[sorted(labels[i])] = True
            mask = np.take(lut, lab_img.astype(np.intp))
            out.append(SceneObject(o["name"], o["phrase"], o["level"], mask, o["parent"], dict(o["attributes"])))
        return out


def _still(draw: Callable) -> Callable:
    def draw_frame(cv: VideoCanvas, rng: np.random.Generator, t: int, num_frames: int, motion_seed: list) -> None:
        draw(cv, rng)
        path = occluder_path(cv.kind, np.random.default_rng([*motion_seed, 4]), num_frames)
        draw_occluder(cv, cv.kind, path, t)

    return draw_frame


_DRAW_FRAME = {
    "savanna": draw_savanna_walk, "street": _still(draw_street), "desk": _still(draw_desk),
    "orchard": _still(draw_orchard), "person": _still(draw_person),
}


def render_video(kind: str, seed: int, num_frames: int = 8, size: int = 256) -> Video:
    """Render `num_frames` frames of video `kind` (one of VIDEO_KINDS) for `seed` at size x size."""
    if kind not in _DRAW_FRAME:
        raise ValueError(f"unknown video kind {kind!r}; expected one of {VIDEO_KINDS}")
    num_frames, size = int(num_frames), int(size)
    if not MIN_FRAMES <= num_frames <= MAX_FRAMES:
        raise ValueError(f"num_frames must be in [{MIN_FRAMES}, {MAX_FRAMES}], not {num_frames}")
    if size < 32:
        raise ValueError("size must be at least 32")
    salt = zlib.crc32(("video:" + kind).encode())
    seed64 = int(seed) & 0xFFFFFFFFFFFFFFFF
    motion_seed = [salt, seed64, 1]
    motion_rng = np.random.default_rng(motion_seed)
    camera = Camera.sample(motion_rng, num_frames, kind)
    gain = 1.0 + motion_rng.uniform(-0.18, 0.18) * np.linspace(0.0, 1.0, num_frames)  # lighting drift
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    per_frame: list[list[SceneObject]] = []
    for t in range(num_frames):
        rng = np.random.default_rng([salt, seed64])  # the same layout every frame
        cv = VideoCanvas(size, rng, camera, t)
        cv.kind = kind
        _DRAW_FRAME[kind](cv, rng, t, num_frames, motion_seed)
        cv.rng = np.random.default_rng([salt, seed64, 2, t])  # sensor noise per frame
        noise = float(np.random.default_rng([salt, seed64, 3]).uniform(1.5, 4.5))
        image, objects = cv.render(noise=noise)
        frames[t] = np.clip(image.astype(np.float32) * gain[t], 0, 255).astype(np.uint8)
        per_frame.append(objects)
    min_area = MIN_AREA if size >= 128 else max(2, round(MIN_AREA * size / 128))
    tracks = []
    for i, first in enumerate(per_frame[0]):
        masks = np.stack([objs[i].mask for objs in per_frame])
        tracks.append(VideoTrack(first.name, first.phrase, first.level, masks, first.parent,
                                 first.attributes, min_area))
    return Video(kind=kind, seed=int(seed), frames=frames, tracks=tracks)


__all__ = ["VIDEO_KINDS", "Video", "VideoTrack", "render_video"]
