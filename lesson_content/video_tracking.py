"""Interactive video tracking for "Try it: Video", on any SAM2VideoPredictor: clicks per object per frame,
propagation forward / backward / both, and the export of seed 004 (a PNG mask per frame per object and
manifest.json). Imports no Streamlit.

    session = TrackingSession(predictor, frames)              # frames: list of uint8 [H, W, 3]
    session.click(frame=0, obj_id=1, x=120, y=80, positive=True)
    for done, total in session.propagate("both"): ...          # a generator: progress
    session.masks[5][1]                                       # bool [H, W] of object 1 on frame 5
    data = session.export_zip(video_name="clip", model_name="SAM 2 nano")
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from sam_core.masks import tight_box

MAX_OBJECTS = 3
DIRECTIONS = ("forward", "backward", "both")
MANIFEST_FORMAT = "sam-lesson-video-masks"


def start_state(predictor, frames: list[np.ndarray], frame_features: dict | None = None) -> dict:
    """predictor.init_state(frames), reusing an `encode_frames` store when there is one (a predictor without
    that API, such as the model server's, is called as before)."""
    if frame_features is None:
        return predictor.init_state(frames)
    return predictor.init_state(frames, frame_features=frame_features)


@dataclass
class TrackingSession:
    """One student's video: the predictor's inference state, the prompts, and the latest masks."""

    predictor: object
    frames: list[np.ndarray]
    state: dict = field(init=False)
    prompts: dict[tuple[int, int], list[tuple[float, float, int]]] = field(default_factory=dict)  # (frame, obj) -> clicks
    masks: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)  # frame -> obj -> bool [H, W]
    propagated: str = ""  # the last direction propagated ("" = not yet)
    frame_features: dict | None = None  # the predictor's encode_frames store for these frames, if any

    def __post_init__(self) -> None:
        self.state = start_state(self.predictor, self.frames, self.frame_features)

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def objects(self) -> list[int]:
        return sorted({obj for _, obj in self.prompts})

    def click(self, frame: int, obj_id: int, x: float, y: float, positive: bool) -> np.ndarray:
        """Add a click for one object on one frame; returns that frame's new mask for it (bool [H, W])."""
        if obj_id not in self.objects and len(self.objects) >= MAX_OBJECTS:
            raise ValueError(f"at most {MAX_OBJECTS} objects")
        clicks = self.prompts.setdefault((frame, obj_id), [])
        clicks.append((float(x), float(y), 1 if positive else 0))
        points = np.array([(cx, cy) for cx, cy, _ in clicks], dtype=np.float32)
        labels = np.array([label for _, _, label in clicks], dtype=np.int32)
        _, obj_ids, logits = self.predictor.add_new_points_or_box(self.state, frame, obj_id, points=points,
                                                                  labels=labels, clear_old_points=True)
        for i, oid in enumerate(obj_ids):
            self.masks.setdefault(frame, {})[int(oid)] = (logits[i, 0] > 0).cpu().numpy()
        return self.masks[frame][obj_id]

    @property
    def can_edit_objects(self) -> bool:
        """Whether the predictor has SAM 2's remove_object / reset_state (the local one; not the model server)."""
        return hasattr(self.predictor, "remove_object") and hasattr(self.predictor, "reset_state")

    def remove_object(self, obj_id: int) -> None:
        """SAM 2's remove_object: forget one object's prompts and masks; the others keep theirs."""
        self.predictor.remove_object(self.state, obj_id, need_output=False)
        self.prompts = {key: clicks for key, clicks in self.prompts.items() if key[1] != obj_id}
        for frame_masks in self.masks.values():
            frame_masks.pop(obj_id, None)
        self.masks = {frame: m for frame, m in self.masks.items() if m}
        if not self.prompts:
            self.propagated = ""

    def reset(self) -> None:
        """SAM 2's reset_state: every object, prompt and mask forgotten; the video and its features stay."""
        self.predictor.reset_state(self.state)
        self.prompts.clear()
        self.masks.clear()
        self.propagated = ""

    def propagate(self, direction: str = "both") -> Iterator[tuple[int, int]]:
        """Track every object from its prompted frames; yields (frames done, frames to do)."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        if not self.prompts:
            raise ValueError("click an object first")
        start = min(frame for frame, _ in self.prompts)
        passes = {"forward": [False], "backward": [True], "both": [False, True]}[direction]
        if direction == "backward":
            start = max(frame for frame, _ in self.prompts)
        total = sum(self.num_frames - start if not r else start + 1 for r in passes)
        done = 0
        for reverse in passes:
            for frame, obj_ids, logits in self.predictor.propagate_in_video(self.state, start_frame_idx=start,
                                                                           reverse=reverse):
                self.masks[frame] = {int(oid): (logits[i, 0] > 0).cpu().numpy() for i, oid in enumerate(obj_ids)}
                done += 1
                yield done, total
        self.propagated = direction

    def export_zip(self, video_name: str, model_name: str) -> bytes:
        """masks/frame_NNNNN_obj_K.png (8-bit, 255 = object) for every frame and object, plus manifest.json."""
        from PIL import Image

        height, width = self.frames[0].shape[:2]
        buffer = io.BytesIO()
        entries = []
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for frame in range(self.num_frames):
                for obj in self.objects:
                    mask = self.masks.get(frame, {}).get(obj)
                    if mask is None:
                        mask = np.zeros((height, width), dtype=bool)
                    name = f"masks/frame_{frame:05d}_obj_{obj}.png"
                    png = io.BytesIO()
                    Image.fromarray(mask.astype(np.uint8) * 255).save(png, format="PNG")
                    archive.writestr(name, png.getvalue())
                    entries.append({"frame": frame, "obj_id": obj, "mask": name, "area": int(mask.sum()),
                                    "bbox": list(tight_box(mask)) if mask.any() else None})
            manifest = {
                "format": MANIFEST_FORMAT, "version": 1, "video": video_name, "model": model_name,
                "width": width, "height": height, "frames": self.num_frames, "objects": self.objects,
                "propagated": self.propagated or None,
                "prompts": [{"frame": f, "obj_id": o, "points": [[x, y] for x, y, _ in c], "labels": [lab for _, _, lab in c]}
                            for (f, o), c in sorted(self.prompts.items())],
                "masks": entries,
            }
            archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        return buffer.getvalue()
