"""Training clips: a procedural video, the objects to track and their first-frame prompts.

A clip is `clip_frames` frames of `render_video(kind, seed)` (kind uniform over VIDEO_KINDS, seed below
HELD_OUT_SEED), flipped horizontally half of the time. Up to `objects` tracks visible on frame 0 (at
least MIN_PROMPT_AREA px, any level: parts, objects, groups) are drawn, tracks that are hidden on some
frame three times as likely (occlusion is what the memory has to learn), whole objects `object_weight`
times as likely (about half the candidate tracks are parts; the benchmark and the lesson track whole
objects, as most of SA-V's masklets are). One prompt kind per clip: a click
uniform in the frame-0 mask, a noisy box (sam_core.training.data.noisy_boxes), or the mask itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sam_core.prompts import BOX_BOTTOM_RIGHT, BOX_TOP_LEFT, FOREGROUND
from sam_core.sam2.image_predictor import IMAGENET_MEAN, IMAGENET_STD
from sam_core.scenes.splits import HELD_OUT_SEED
from sam_core.scenes.video import VIDEO_KINDS, Video, render_video
from sam_core.training.data import noisy_boxes, sample_points_in

MIN_PROMPT_AREA = 40  # px at 256: smaller first-frame targets are not prompted
HIDDEN_WEIGHT = 3.0


@dataclass
class Clip:
    images: torch.Tensor  # [T, 3, S, S] ImageNet-normalised (SAM 2's load_video_frames)
    masks: torch.Tensor  # [B, T, 1, S, S] bool ground truth (visible pixels)
    visible: torch.Tensor  # [B, T] bool
    prompt: str  # "point" | "box" | "mask"
    point_inputs: dict | None  # {"point_coords": [B, P, 2] px, "point_labels": [B, P] int32} for frame 0
    mask_inputs: torch.Tensor | None  # [B, 1, S, S] float 0/1 for frame 0
    kind: str = ""
    seed: int = 0


def frames_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> [T, 3, H, W] float normalised as SAM 2's video frames."""
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (x - mean) / std


def pick_tracks(video: Video, rng: np.random.Generator, n: int, object_weight: float = 1.0) -> list[int]:
    """Up to n track indices visible on frame 0 (>= MIN_PROMPT_AREA px); hidden-somewhere tracks weighted up
    (x HIDDEN_WEIGHT), whole-object tracks x object_weight."""
    cands = [i for i, tr in enumerate(video.tracks) if tr.areas[0] >= MIN_PROMPT_AREA]
    if not cands:
        return []
    w = np.array([(HIDDEN_WEIGHT if not video.tracks[i].visible.all() else 1.0)
                  * (object_weight if video.tracks[i].level == "object" else 1.0) for i in cands])
    k = min(n, len(cands))
    return [cands[i] for i in rng.choice(len(cands), size=k, replace=False, p=w / w.sum())]


def first_frame_prompts(masks0: torch.Tensor, prompt: str, gen: torch.Generator):
    """masks0 [B, S, S] bool -> (point_inputs, mask_inputs) for frame 0 of one prompt kind."""
    b = masks0.shape[0]
    if prompt == "mask":
        return None, masks0[:, None].float()
    if prompt == "point":
        xy = sample_points_in(masks0, gen)[:, None]  # B x 1 x 2
        labels = torch.full((b, 1), FOREGROUND, dtype=torch.int32)
        return {"point_coords": xy, "point_labels": labels}, None
    box = noisy_boxes(masks0, gen).reshape(b, 2, 2)
    labels = torch.tensor([[BOX_TOP_LEFT, BOX_BOTTOM_RIGHT]], dtype=torch.int32).expand(b, 2).contiguous()
    return {"point_coords": box, "point_labels": labels}, None


def sample_clip(rng: np.random.Generator, gen: torch.Generator, frames: int, objects: int, size: int = 256,
                p_point: float = 0.4, p_box: float = 0.3, seed_range: tuple[int, int] = (0, HELD_OUT_SEED),
                object_weight: float = 1.0) -> Clip:
    """A training clip (re-drawn until some track can be prompted)."""
    while True:
        kind = VIDEO_KINDS[int(rng.integers(len(VIDEO_KINDS)))]
        seed = int(rng.integers(*seed_range))
        video = render_video(kind, seed, frames, size)
        tracks = pick_tracks(video, rng, objects, object_weight)
        if tracks:
            break
    imgs = video.frames
    masks = np.stack([video.tracks[i].masks for i in tracks])  # B x T x S x S
    if rng.random() < 0.5:
        imgs, masks = imgs[:, :, ::-1], masks[..., ::-1]
    masks_t = torch.from_numpy(np.ascontiguousarray(masks))
    visible = torch.from_numpy(np.stack([video.tracks[i].visible for i in tracks]))
    u = rng.random()
    prompt = "point" if u < p_point else "box" if u < p_point + p_box else "mask"
    point_inputs, mask_inputs = first_frame_prompts(masks_t[:, 0], prompt, gen)
    return Clip(frames_tensor(np.ascontiguousarray(imgs)), masks_t[:, :, None], visible, prompt, point_inputs,
                mask_inputs, kind, seed)
