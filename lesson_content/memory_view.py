"""SAM 2's memory, traced (outline §11): one object clicked on one frame, propagated through a clip, and for
every frame what the memory did — which frames the bank held and why, where memory attention looked on
each of them, the object score through an occlusion, the object pointers, the stage timings.

    run = track_clip(predictor, frames, click_frame=0, points=[(x, y)], labels=[1])
    run.frames[5].bank             # [(frame, "prompted" | "recent")]: the spatial memories frame 5 read
    run.frames[5].attention[2]     # float [h, w]: where frame 5's object queries looked on memory frame 2
    run.object_scores              # [T] logits (> 0: the model says the object is visible)

Works with any SAM2VideoPredictor of sam_core.sam2 (the embedded one, or Meta's weights). The plan's
tensor trace (`plan_shapes`) is set beside the shapes read from the model (`real_shapes`).
Imports no Streamlit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lesson_content.loss_view import embedded_training_log, smooth
from lesson_content.video_tracking import start_state
from sam_core.sam2.transformer import RoPEAttention, attention_rows
from sam_core.tracing import trace


@dataclass
class FrameMemory:
    """What one frame's forward pass recorded (for the clicked object)."""

    frame: int
    mask: np.ndarray  # bool [H, W], the predicted mask at video resolution
    object_score: float  # the object-score logit (> 0: visible)
    prompted: bool  # the frame carries the student's click (a conditioning frame)
    bank: list[tuple[int, str]] = field(default_factory=list)  # (memory frame, "prompted" | "recent")
    pointer_frames: list[int] = field(default_factory=list)  # frames whose object pointer was read
    attention: dict[int, np.ndarray] = field(default_factory=dict)  # memory frame -> [h, w] attention mass
    pointer_share: float = 0.0  # of the attention of the object's queries, the share on pointer tokens
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class ClipRun:
    frames: list[FrameMemory]  # in frame order
    click_frame: int
    seconds: float  # wall time of the whole propagation (both directions)
    memory_shape: tuple[int, ...]  # one frame's memory features [C_mem, h, w]
    grid: tuple[int, int]

    @property
    def object_scores(self) -> np.ndarray:
        return np.array([f.object_score for f in self.frames])

    def frame(self, t: int) -> FrameMemory:
        return next(f for f in self.frames if f.frame == t)


def _object_queries(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """bool [h * w]: grid cells the predicted mask covers at least half of (all cells when it is empty)."""
    from PIL import Image

    h, w = grid
    small = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.Resampling.BOX)) >= 128
    return small.ravel() if small.any() else np.ones(h * w, dtype=bool)


def _frame_memory(records: dict[str, torch.Tensor], frame: int, mask: np.ndarray, prompted: bool,
                  grid: tuple[int, int], timings: dict[str, float]) -> FrameMemory:
    score_key = "video.obj0.object_score_logits"
    score = float(records[score_key].reshape(-1)[0]) if score_key in records else float("nan")
    out = FrameMemory(frame, mask, score, prompted, timings_ms=dict(timings))
    if "memory_bank.frames" not in records:  # a prompted frame read no memory
        return out
    # record() stores float32 copies: integer and boolean layouts come back as floats
    frames = [int(t) for t in records["memory_bank.frames"].tolist()]
    kinds = ["prompted" if p > 0.5 else "recent" for p in records["memory_bank.frame_is_prompted"].tolist()]
    out.bank = list(zip(frames, kinds, strict=True))
    out.pointer_frames = [int(t) for t in records["memory_bank.pointer_frames"].tolist()]
    layers = sorted(k for k in records if k.startswith("memory_attention.layer") and k.endswith(".cross_attn.queries"))
    name = layers[-1].removesuffix(".queries")  # the last layer traced
    rows = torch.from_numpy(_object_queries(mask, grid))
    weights = attention_rows(records[f"{name}.queries"], records[f"{name}.keys"], rows)  # [1, heads, rows, keys]
    mass = weights[0].mean(0).mean(0)  # heads averaged, then the object's queries: [keys], where they looked
    sources = records["memory_bank.key_source_frame"].round().long()
    is_pointer = records["memory_bank.key_is_pointer"] > 0.5
    out.pointer_share = float(mass[is_pointer].sum())
    h, w = grid
    for t in frames:
        keys = (sources == t) & ~is_pointer
        out.attention[t] = mass[keys].reshape(h, w).numpy()
    return out


@dataclass(frozen=True)
class ClickCandidate:
    """One of the decoder's three masks for a click: SAM 2 keeps the one with the highest predicted IoU."""

    token: int  # SAM 2's multimask token, 1-3
    mask: np.ndarray  # bool [H, W] at video resolution (before SAM 2's hole filling)
    predicted_iou: float  # the IoU head's estimate
    actual_iou: float | None  # against the generator's truth (None without one)
    kept: bool  # the mask SAM 2 keeps


def click_candidates(predictor, frames: np.ndarray | list[np.ndarray], click_frame: int,
                     points: list[tuple[float, float]], labels: list[int], truth: np.ndarray | None = None,
                     frame_features: dict | None = None) -> list[ClickCandidate]:
    """The three masks SAM 2's decoder draws for a click with at most one point (multimask output), their
    predicted IoUs, their IoU with `truth` (bool [H, W]) and which one the predictor keeps. Read from one real
    add_new_points_or_box call (the decoder's traced outputs, all four tokens)."""
    frames = list(frames)
    state = start_state(predictor, frames, frame_features)
    with trace(only=("sam2_decoder.",)) as t:
        predictor.add_new_points_or_box(state, click_frame, 1, points=np.asarray(points, np.float32),
                                        labels=np.asarray(labels, np.int32))
    logits = t.records["sam2_decoder.low_res_logits_all"][0, 1:].float()  # [3, h, w]: the multimask tokens
    predicted = t.records["sam2_decoder.iou_pred_all"][0, 1:].float()
    height, width = frames[click_frame].shape[:2]
    masks = torch.nn.functional.interpolate(logits[None], size=(height, width), mode="bilinear",
                                            align_corners=False)[0] > 0
    kept = int(predicted.argmax())
    out = []
    for i in range(len(masks)):
        mask = masks[i].numpy()
        actual = None
        if truth is not None:
            union = np.logical_or(mask, truth).sum()
            actual = float(np.logical_and(mask, truth).sum() / union) if union else 1.0
        out.append(ClickCandidate(i + 1, mask, float(predicted[i]), actual, i == kept))
    return out


def track_clip(predictor, frames: np.ndarray | list[np.ndarray], click_frame: int,
               points: list[tuple[float, float]], labels: list[int], obj_id: int = 1,
               progress=None, frame_features: dict | None = None, mask: np.ndarray | None = None) -> ClipRun:
    """Click one object on `click_frame` (points in video pixels), propagate forward then backward, and
    trace every frame. progress(done, total) is called after each frame (for a progress bar);
    frame_features: the predictor's `encode_frames` store for these frames (frames in it skip the encoder);
    mask: bool [H, W] prompts `click_frame` with this mask instead of the points (SAM 2's add_new_mask)."""
    frames = list(frames)
    start = time.perf_counter()
    state = start_state(predictor, frames, frame_features)
    if mask is not None:
        predictor.add_new_mask(state, click_frame, obj_id, np.asarray(mask, dtype=bool))
    else:
        predictor.add_new_points_or_box(state, click_frame, obj_id, points=np.asarray(points, np.float32),
                                        labels=np.asarray(labels, np.int32))
    stride = predictor.image_size // predictor.sam_image_embedding_size
    grid = (predictor.image_size // stride, predictor.image_size // stride)
    results: dict[int, FrameMemory] = {}
    total = len(frames)
    last_layer = len(predictor.memory_attention.layers) - 1
    # what _frame_memory reads: the rotated q and k (the attention stays fused; only the object's rows are recomputed)
    traced = ("memory_bank.", "video.", f"memory_attention.layer{last_layer}.cross_attn.")
    for reverse in (False, True):
        if reverse and click_frame == 0:
            break
        generator = predictor.propagate_in_video(state, start_frame_idx=click_frame, reverse=reverse)
        while True:
            with trace(only=traced) as t:  # the other attentions keep their fused kernel
                try:
                    frame_idx, _, masks = next(generator)
                except StopIteration:
                    break
            if frame_idx in results:
                continue
            results[frame_idx] = _frame_memory(t.records, frame_idx, (masks[0, 0] > 0).cpu().numpy(),
                                               frame_idx == click_frame, grid, t.timings_ms)
            if progress is not None:
                progress(len(results), total)
    return ClipRun([results[t] for t in sorted(results)], click_frame, time.perf_counter() - start,
                   (int(predictor.mem_dim), *grid), grid)


# ---- the plan's trace beside the model's ----------------------------------------------------------------------

PLAN_RECENT_FRAMES = 6  # the plan's "N most recent frames (default N=6)"


def plan_shapes() -> list[dict[str, str]]:
    """The lesson plan's tensor trace for one video frame (§11e), quoted."""
    return [
        {"step": "image encoder", "plan": "frame [3, 1024, 1024] -> features [256, 64, 64]"},
        {"step": "memory attention", "plan": "features [4096, 256] x memory_bank [N*4096, 64] -> [4096, 256]"},
        {"step": "prompt encoder", "plan": "click/box -> prompt tokens [N_prompt, 256]"},
        {"step": "mask decoder", "plan": "(features, tokens) -> masks [3, 256, 256], IoU scores [3]"},
        {"step": "memory encoder", "plan": "(mask, features) -> memory tokens [64, 64, 64]"},
        {"step": "memory bank", "plan": f"N most recent frames (default N = {PLAN_RECENT_FRAMES}) + every prompted frame"},
    ]


@dataclass(frozen=True)
class RealShapes:
    image_size: int
    d_model: int
    grid: int
    mem_dim: int
    num_maskmem: int  # temporal slots: the current frame's own + (num_maskmem - 1) past memories
    max_cond_frames: int  # prompted frames kept at once (-1: all)
    pointer_tokens: int  # tokens per object pointer (d_model / mem_dim)
    attention_layers: int
    rope: bool
    multimask: int
    high_res: bool = True  # stride-4 and stride-8 skips into the decoder (SAM 2.1: yes; the nano: no)

    def rows(self) -> list[dict[str, str]]:
        g2, d, m = self.grid * self.grid, self.d_model, self.mem_dim
        cond = "all" if self.max_cond_frames < 0 else str(self.max_cond_frames)
        return [
            {"step": "image encoder", "real": f"frame [3, {self.image_size}, {self.image_size}] -> features "
             f"[{d}, {self.grid}, {self.grid}]" + (" (+ two high-resolution maps for the decoder)" if self.high_res
                                                   else " (no high-resolution maps: the decoder reads this map only)")},
            {"step": "memory attention", "real": f"{self.attention_layers} layers of self-attention, cross-attention, MLP; "
             f"Q [{g2}, {d}] x K, V [N*{g2} + P*{self.pointer_tokens}, {m}] (memories and P object-pointer tokens), "
             f"projected to {d} inside the attention; 2-D RoPE on Q and memory keys" + ("" if self.rope else " (off)")},
            {"step": "prompt encoder", "real": f"SAM 1's: click/box -> prompt tokens [N_prompt, {d}]"},
            {"step": "mask decoder", "real": f"SAM 1's two-way transformer + object-score token: {self.multimask} masks "
             f"[{self.grid * 4}, {self.grid * 4}], IoU scores [{self.multimask}], one object-score logit"},
            {"step": "memory encoder", "real": f"(mask, features) -> memory [{m}, {self.grid}, {self.grid}] + its position encoding"},
            {"step": "memory bank", "real": f"{self.num_maskmem - 1} most recent frames (slots with learned temporal "
             f"encodings) + prompted frames (up to {cond}), + object pointers ({d} split into "
             f"{self.pointer_tokens} tokens of {m})"},
        ]


def real_shapes(model) -> RealShapes:
    """Read the shapes from a SAM 2 model (any size; construct it on the 'meta' device to read for free)."""
    d_model = int(model.hidden_dim)
    mem_dim = int(model.mem_dim)
    layers = model.memory_attention.layers
    return RealShapes(int(model.image_size), d_model, int(model.sam_image_embedding_size), mem_dim,
                      int(model.num_maskmem), int(getattr(model, "max_cond_frames_in_attn", -1)),
                      d_model // mem_dim, len(layers), isinstance(layers[0].cross_attn_image, RoPEAttention),
                      int(model.sam_mask_decoder.num_multimask_outputs), bool(model.use_high_res_features_in_sam))


def reference_shapes(model_type: str = "hiera_base_plus") -> RealShapes:
    """Meta's SAM 2.1 at 1024 px, built on the 'meta' device (no weights needed)."""
    from sam_core.sam2.build import HIERA_SIZES, build_sam2_model

    with torch.device("meta"):
        model = build_sam2_model(HIERA_SIZES[model_type])
    return real_shapes(model)


# ---- the clip and its ground truth -----------------------------------------------------------------------------

def occluded_track(video, name: str = "elephant") -> int:
    """Index of the first `name` object that is hidden for a while and comes back (the Check 2 elephant);
    else the largest `name` object on frame 0; else the largest object."""
    tracks = [i for i, tr in enumerate(video.tracks) if tr.name == name and tr.level == "object"]
    for i in tracks:
        if video.tracks[i].reappearances():
            return i
    pool = tracks or [i for i, tr in enumerate(video.tracks) if tr.level == "object"]
    return max(pool, key=lambda i: video.tracks[i].areas[0])


def first_visible(track) -> int:
    """The first frame on which the track is visible (0 if it never is)."""
    visible = np.flatnonzero(track.visible)
    return int(visible[0]) if visible.size else 0


def track_ious(run: ClipRun, track) -> np.ndarray:
    """[T] mask IoU per frame against the track's visible mask; NaN on frames where the object is hidden
    (there the object score, not a mask, says whether the model got it right)."""
    from sam_core.masks import mask_iou

    return np.array([mask_iou(f.mask, track.masks[f.frame]) if track.visible[f.frame] else np.nan
                     for f in run.frames])


def hidden_spans(track, frames: np.ndarray) -> list[tuple[float, float]]:
    """(first - 0.5, last + 0.5) of every run of consecutive frames where the track is hidden."""
    hidden = [int(t) for t in frames if not track.visible[t]]
    spans: list[tuple[float, float]] = []
    for t in hidden:
        if spans and t - 0.5 == spans[-1][1]:
            spans[-1] = (spans[-1][0], t + 0.5)
        else:
            spans.append((t - 0.5, t + 0.5))
    return spans


def occlusion_summary(run: ClipRun, track) -> dict[str, float]:
    """How the object score behaved: visible frames said visible, hidden frames said hidden, and the
    IoU on the frames after the object came back."""
    scores = run.object_scores
    visible = track.visible[[f.frame for f in run.frames]]
    said_visible = scores > 0
    back = track.reappearances()
    ious = track_ious(run, track)
    after = [ious[i] for i, f in enumerate(run.frames) if back and f.frame >= back[0] and track.visible[f.frame]]
    return {
        "visible_frames": int(visible.sum()), "hidden_frames": int((~visible).sum()),
        "visible_said_visible": float(said_visible[visible].mean()) if visible.any() else float("nan"),
        "hidden_said_hidden": float((~said_visible[~visible]).mean()) if (~visible).any() else float("nan"),
        "reappears_at": float(back[0]) if back else float("nan"),
        "iou_after_return": float(np.mean(after)) if after else float("nan"),
        "iou_visible": float(np.nanmean(ious[visible])) if visible.any() else float("nan"),
    }


def sam1_frame_clicks(sam1_model, video, track_index: int) -> dict[str, float]:
    """SAM 1 without memory: the simulated annotator clicks the object on every frame where it is visible."""
    from sam_core.data_engine.annotator import TARGET_IOU, annotate_object
    from sam_core.sam1.predictor import SamPredictor

    track = video.tracks[track_index]
    predictor = SamPredictor(sam1_model)
    clicks, ious = 0, []
    with torch.inference_mode():
        for t in np.flatnonzero(track.visible):
            predictor.set_image(video.frames[t])
            result = annotate_object(predictor, track.masks[t])
            clicks += result.clicks
            ious.append(result.iou)
    return {"frames": int(track.visible.sum()), "clicks": clicks, "mean_iou": float(np.mean(ious)) if ious else 0.0,
            "target_iou": TARGET_IOU}


def sam1_frame_clicks_for_clip(sam1_model, kind: str, seed: int, frames: int, size: int, track_index: int):
    """sam1_frame_clicks on a generated clip named by its parameters (cacheable by value)."""
    from sam_core.scenes.video import render_video

    return sam1_frame_clicks(sam1_model, render_video(kind, seed, frames, size), track_index)


# The embedded SAM 2's training logs, one per stage, as `python -m sam_core.training.video` writes them
# (stage 1 from the embedded SAM 1; each later stage from the previous stage's committed weights).
SAM2_NANO_DIR = Path(__file__).resolve().parents[1] / "assets" / "models" / "sam2_nano"
SAM2_STAGE_LOGS = tuple(SAM2_NANO_DIR / name for name in ("training_log.csv", "training_log_stage2.csv", "training_log_stage3.csv"))
CURVE_WINDOW = 10  # log rows per moving-average window (a row is the mean of 10 training clips)


@dataclass
class LearningCurves:
    """The embedded SAM 2's training, stages end to end: per log row the clip count and smoothed train J."""

    clips: np.ndarray  # [R] clips seen so far (one clip = 8 frames, up to 2 objects)
    stage: np.ndarray  # [R] 1, 2, ...
    j_first: np.ndarray  # [R] J on frame 0 (the prompted frame: segmented from the prompt, no memory)
    j_visible: np.ndarray  # [R] J on every visible frame, frame 0 and the tracked frames
    j_tracked: np.ndarray | None  # [R] J on visible tracked frames only, where the log has it (else NaN)
    clip_frames: int  # frames per training clip (the committed run's training_config.json)

    def series(self, window: int = CURVE_WINDOW) -> dict[str, np.ndarray]:
        """The curves to draw, each a trailing moving average over `window` log rows."""
        out = {"J on frame 0 (prompted)": smooth(self.j_first, window),
               "J on all visible frames": smooth(self.j_visible, window)}
        if self.j_tracked is not None and np.isfinite(self.j_tracked).any():
            out["J on tracked frames"] = smooth(self.j_tracked, window)
        return out

    def summary(self, window: int = CURVE_WINDOW) -> dict[str, float]:
        """First and last window means of each curve, the number of clips and stages."""
        head, tail = slice(0, window), slice(-window, None)

        def mean(values: np.ndarray, part: slice) -> float:
            finite = values[part][np.isfinite(values[part])]
            return float(finite.mean()) if finite.size else float("nan")

        return {"clips": float(self.clips[-1]), "stages": float(self.stage.max()), "clip_frames": self.clip_frames,
                "first_start": mean(self.j_first, head), "first_end": mean(self.j_first, tail),
                "visible_start": mean(self.j_visible, head), "visible_end": mean(self.j_visible, tail)}


def learning_curves(stages=SAM2_STAGE_LOGS) -> LearningCurves | None:
    """The committed SAM 2 nano's training logs, joined; None when none is there (e.g. other weights)."""
    log = embedded_training_log(stages)
    if log is None or "j_visible" not in log or "j_first" not in log:
        return None
    config = SAM2_NANO_DIR / "training_config.json"
    clip_frames = int(json.loads(config.read_text(encoding="utf-8")).get("clip_frames", 8)) if config.is_file() else 8
    return LearningCurves(clips=log["step"], stage=log["stage"], j_first=log["j_first"], j_visible=log["j_visible"],
                          j_tracked=log.get("j_tracked"), clip_frames=clip_frames)
