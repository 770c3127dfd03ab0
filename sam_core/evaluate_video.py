"""The video benchmark: J&F, occlusion, re-acquisition and interaction counts on held-out procedural videos.

    python -m sam_core.evaluate_video --model nano --first-seed 1000000 --videos 100 --json

Videos: `render_video(VIDEO_KINDS[i % 5], first_seed + i, frames, 256)` (seeds from HELD_OUT_SEED up are
never trained on); targets: `Video.targets()` (up to --targets per video, the savanna's elephant behind
the acacia first). Prompts are the same for every model: a click at the frame-0 mask's interior point
(`sam_core.masks.interior_point`) or its tight box.

Metrics (per target, averaged over targets; frame 0, the prompted frame, is left out of J&F as in DAVIS):
- J: region IoU per frame (empty prediction on an empty ground truth = 1); F: boundary F-measure with a
  tolerance of 0.008 x the image diagonal (DAVIS); jf = mean over frames of (J + F) / 2.
- jf_after_occlusion: J&F over the frames from a target's first reappearance on.
- occlusion_recall: fraction of frames where the target is fully hidden on which the object score says
  "hidden" (logit <= 0); reacquire_rate: reappearances with J >= 0.5 on one of the 2 frames from it.
- baselines: "sam1_per_frame" (the embedded SAM 1 given the frame-0 click on every frame, no memory: it
  always returns a mask, so its occlusion recall is the fraction of hidden frames with an empty mask) and
  "copy_frame0" (the ground-truth frame-0 mask copied to every frame).
- clicks_to_target (--clicks-videos of the videos): a simulated annotator adds a correction click at the
  interior point of the worst frame's error region until every frame has J >= 0.75 or 10 clicks are
  spent; SAM 2 propagates after each click; SAM 1 is clicked frame by frame (up to 10 clicks a frame,
  hidden frames need none). Reports mean clicks and the fraction of targets that reached the target.
- timing: median propagation ms per frame per object, and init_state + first-frame click ms (24 frames).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from sam_core.masks import interior_point, mask_iou, tight_box
from sam_core.scenes.splits import HELD_OUT_SEED
from sam_core.scenes.video import VIDEO_KINDS, Video, render_video

BOUNDARY_TOLERANCE = 0.008  # DAVIS: of the image diagonal
J_TARGET = 0.75  # the annotator's per-frame target
MAX_CLICKS = 10
REACQUIRE_J = 0.5
REACQUIRE_WINDOW = 2


# ---- DAVIS measures ----------------------------------------------------------------------------
def boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a mask: the mask minus its 4-connected erosion."""
    mask = np.asarray(mask, bool)
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def f_measure(pred: np.ndarray, gt: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """DAVIS boundary F: precision / recall of boundary pixels matched within tolerance x diagonal."""
    pb, gb = boundary(pred), boundary(gt)
    if not pb.any() and not gb.any():
        return 1.0
    if not pb.any() or not gb.any():
        return 0.0
    radius = max(1, int(round(tolerance * np.hypot(*pred.shape))))
    disk = ndimage.generate_binary_structure(2, 1)
    disk = ndimage.iterate_structure(disk, radius)
    precision = (pb & ndimage.binary_dilation(gb, disk)).sum() / pb.sum()
    recall = (gb & ndimage.binary_dilation(pb, disk)).sum() / gb.sum()
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def j_and_f(preds: np.ndarray, gts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """preds, gts bool [T, H, W] -> (J [T], F [T])."""
    j = np.array([mask_iou(p, g) for p, g in zip(preds, gts, strict=True)])
    f = np.array([f_measure(p, g) for p, g in zip(preds, gts, strict=True)])
    return j, f


@dataclass
class TargetResult:
    """One target's per-frame results under one model and prompt."""

    j: np.ndarray
    f: np.ndarray
    visible: np.ndarray
    said_hidden: np.ndarray  # [T] bool: the model said "not in this frame"
    reappearances: list[int] = field(default_factory=list)

    def jf(self) -> float:
        return float(((self.j[1:] + self.f[1:]) / 2).mean())

    def jf_after_occlusion(self) -> float | None:
        if not self.reappearances:
            return None
        r = self.reappearances[0]
        return float(((self.j[r:] + self.f[r:]) / 2).mean())

    def hidden_frames(self) -> tuple[int, int]:
        """(hidden frames, of those, frames the model said hidden)."""
        hidden = ~self.visible
        return int(hidden[1:].sum()), int((hidden & self.said_hidden)[1:].sum())

    def reacquired(self) -> list[bool]:
        return [bool((self.j[r : r + REACQUIRE_WINDOW] >= REACQUIRE_J).any()) for r in self.reappearances]


def result_for(preds: np.ndarray, said_hidden: np.ndarray, video: Video, track: int) -> TargetResult:
    tr = video.tracks[track]
    j, f = j_and_f(preds, tr.masks)
    return TargetResult(j, f, tr.visible, said_hidden, tr.reappearances())


def summarize(results: list[TargetResult]) -> dict:
    hidden = np.array([r.hidden_frames() for r in results]).reshape(-1, 2).sum(0)
    after = [v for r in results if (v := r.jf_after_occlusion()) is not None]
    reacq = [ok for r in results for ok in r.reacquired()]
    return {
        "jf": round(float(np.mean([r.jf() for r in results])), 4),
        "j": round(float(np.mean([r.j[1:].mean() for r in results])), 4),
        "f": round(float(np.mean([r.f[1:].mean() for r in results])), 4),
        "jf_after_occlusion": round(float(np.mean(after)), 4) if after else None,
        "targets_with_reappearance": len(after),
        "occlusion_recall": round(float(hidden[1] / hidden[0]), 4) if hidden[0] else None,
        "hidden_frames": int(hidden[0]),
        "reacquire_rate": round(float(np.mean(reacq)), 4) if reacq else None,
        "reappearances": len(reacq),
        "targets": len(results),
    }


# ---- prompts ---------------------------------------------------------------------------------------
def frame0_prompt(video: Video, track: int, kind: str) -> dict:
    """The prompt every model gets: {"points": [[x, y]], "labels": [1]} or {"box": [x0, y0, x1, y1]}."""
    mask = video.tracks[track].masks[0]
    if kind == "click":
        return {"points": [list(interior_point(mask))], "labels": [1]}
    return {"box": list(tight_box(mask))}


def correction_click(pred: np.ndarray, gt: np.ndarray) -> tuple[list[int], int]:
    """A click at the interior point of the largest error region: ([x, y], 1 if missed else 0)."""
    err = pred != gt
    labels, n = ndimage.label(err)
    sizes = ndimage.sum_labels(err, labels, index=range(1, n + 1))
    region = labels == (int(np.argmax(sizes)) + 1)
    x, y = interior_point(region)
    return [x, y], int(gt[y, x])


# ---- SAM 2 (nano) ----------------------------------------------------------------------------------
def sam2_track(predictor, state: dict, video: Video, tracks: list[int], prompts: list[dict]) -> list[TargetResult]:
    """Prompt frame 0 for every target (object ids 0..n-1), propagate, read masks and object scores."""
    predictor.reset_state(state)
    for obj, prompt in enumerate(prompts):
        predictor.add_new_points_or_box(state, 0, obj, **prompt)
    preds, hidden = _propagate(predictor, state, video, len(tracks))
    return [result_for(preds[k], hidden[k], video, tr) for k, tr in enumerate(tracks)]


def _propagate(predictor, state: dict, video: Video, n_obj: int) -> tuple[np.ndarray, np.ndarray]:
    t_frames, s = video.num_frames, video.size
    preds = np.zeros((n_obj, t_frames, s, s), bool)
    hidden = np.zeros((n_obj, t_frames), bool)
    for t, _, masks in predictor.propagate_in_video(state):
        preds[:, t] = (masks[:, 0] > 0).cpu().numpy()
    for k in range(n_obj):
        out = state["output_dict_per_obj"][k]
        for t in range(t_frames):
            entry = out["cond_frame_outputs"].get(t) or out["non_cond_frame_outputs"].get(t)
            hidden[k, t] = float(entry["object_score_logits"].reshape(-1)[0]) <= 0
    return preds, hidden


def sam2_clicks_to_target(predictor, state: dict, video: Video, track: int) -> tuple[int, bool]:
    """Click on frame 0, propagate; then correct the worst frame until all J >= J_TARGET or MAX_CLICKS."""
    predictor.reset_state(state)
    gts = video.tracks[track].masks
    predictor.add_new_points_or_box(state, 0, 0, **frame0_prompt(video, track, "click"))
    clicks = 1
    while True:
        preds, _ = _propagate(predictor, state, video, 1)
        j = np.array([mask_iou(p, g) for p, g in zip(preds[0], gts, strict=True)])
        if (j >= J_TARGET).all():
            return clicks, True
        if clicks >= MAX_CLICKS:
            return clicks, False
        worst = int(np.argmin(j))
        xy, label = correction_click(preds[0, worst], gts[worst])
        predictor.add_new_points_or_box(state, worst, 0, points=[xy], labels=[label], clear_old_points=False)
        clicks += 1


# ---- SAM 1 (nano), no memory ---------------------------------------------------------------------
def sam1_best(predictor, points=None, labels=None, box=None, mask_input=None, multimask=True):
    masks, scores, low = predictor.predict(
        point_coords=None if points is None else np.array(points, float),
        point_labels=None if labels is None else np.array(labels), box=None if box is None else np.array(box, float),
        mask_input=mask_input, multimask_output=multimask)
    k = int(np.argmax(scores))
    return masks[k], low[k : k + 1]


def sam1_per_frame(predictor, video: Video, tracks: list[int], prompts: list[dict]) -> list[TargetResult]:
    """The frame-0 prompt repeated on every frame, each frame segmented on its own."""
    preds = np.zeros((len(tracks), video.num_frames, video.size, video.size), bool)
    for t in range(video.num_frames):
        predictor.set_image(video.frames[t])
        for k, prompt in enumerate(prompts):
            preds[k, t] = sam1_best(predictor, **prompt, multimask="box" not in prompt)[0]
    return [result_for(preds[k], ~preds[k].reshape(video.num_frames, -1).any(1), video, tr)
            for k, tr in enumerate(tracks)]


def sam1_clicks_to_target(predictor, video: Video, track: int) -> tuple[int, bool]:
    """Clicks for SAM 1 to reach J >= J_TARGET on every frame with the object (each frame on its own)."""
    tr = video.tracks[track]
    total, ok_all = 0, True
    for t in range(video.num_frames):
        if not tr.visible[t]:
            continue  # nothing to segment: the annotator needs no click
        predictor.set_image(video.frames[t])
        gt = tr.masks[t]
        points, labels = [list(interior_point(gt))], [1]
        pred, low = sam1_best(predictor, points, labels)
        clicks = 1
        while mask_iou(pred, gt) < J_TARGET and clicks < MAX_CLICKS:
            xy, label = correction_click(pred, gt)
            points.append(xy)
            labels.append(label)
            pred, low = sam1_best(predictor, points, labels, mask_input=low, multimask=False)
            clicks += 1
        total += clicks
        ok_all &= mask_iou(pred, gt) >= J_TARGET
    return total, bool(ok_all)


def copy_frame0(video: Video, tracks: list[int]) -> list[TargetResult]:
    out = []
    for tr in tracks:
        m0 = video.tracks[tr].masks[0]
        preds = np.repeat(m0[None], video.num_frames, 0)
        out.append(result_for(preds, np.zeros(video.num_frames, bool), video, tr))
    return out


# ---- timing --------------------------------------------------------------------------------------
def time_sam2(predictor, seed: int, frames: int = 24) -> dict:
    """Median propagation ms per frame (one object) and init_state + first click ms, 256 px."""
    video = render_video("savanna", seed, frames, 256)
    track = video.targets()[0]
    t0 = time.perf_counter()
    state = predictor.init_state(list(video.frames))
    predictor.add_new_points_or_box(state, 0, 0, **frame0_prompt(video, track, "click"))
    first = (time.perf_counter() - t0) * 1000
    times, t = [], time.perf_counter()
    for _ in predictor.propagate_in_video(state):
        now = time.perf_counter()
        times.append((now - t) * 1000)
        t = now
    return {"init_state_and_first_frame_ms": round(first, 1), "propagate_ms_per_frame_median": round(
        float(np.median(times[1:])), 1), "frames": frames, "threads": torch.get_num_threads()}


# ---- the run -------------------------------------------------------------------------------------
def pick_targets(video: Video, n: int) -> list[int]:
    targets = video.targets()
    role = [i for i in targets if video.tracks[i].attributes.get("role")]
    rest = [i for i in targets if i not in role]
    rng = np.random.default_rng(video.seed)
    rest = [rest[i] for i in rng.permutation(len(rest))]
    return (role + rest)[:n]


def _summary(res: dict, clicks: dict) -> dict:
    out = {name: summarize(r) for name, r in res.items() if r}
    out["clicks_to_target"] = {
        name: {"mean_clicks": round(float(np.mean([c for c, _ in v])), 2),
               "reached": round(float(np.mean([ok for _, ok in v])), 4), "targets": len(v)}
        for name, v in clicks.items() if v}
    return out


def evaluate(sam2_predictor, sam1_predictor, first_seed: int = HELD_OUT_SEED, videos: int = 100,
             frames: int = 16, targets: int = 2, clicks_videos: int = 20, timing: bool = True,
             on_progress=None) -> dict:
    """Every metric of the module docstring; sam1_predictor may be None (no baselines).
    on_progress(videos_done, summary_so_far) is called after every 10 videos."""
    res: dict[str, list[TargetResult]] = {"sam2_click": [], "sam2_box": [], "sam1_click": [], "sam1_box": [],
                                          "copy_frame0": []}
    clicks = {"sam2": [], "sam1": []}
    t0 = time.time()
    for i in range(videos):
        video = render_video(VIDEO_KINDS[i % len(VIDEO_KINDS)], first_seed + i, frames, 256)
        tracks = pick_targets(video, targets)
        if not tracks:
            continue
        state = sam2_predictor.init_state(list(video.frames))
        for kind in ("click", "box"):
            prompts = [frame0_prompt(video, tr, kind) for tr in tracks]
            res[f"sam2_{kind}"] += sam2_track(sam2_predictor, state, video, tracks, prompts)
            if sam1_predictor is not None:
                res[f"sam1_{kind}"] += sam1_per_frame(sam1_predictor, video, tracks, prompts)
        res["copy_frame0"] += copy_frame0(video, tracks)
        if i < clicks_videos:
            clicks["sam2"].append(sam2_clicks_to_target(sam2_predictor, state, video, tracks[0]))
            if sam1_predictor is not None:
                clicks["sam1"].append(sam1_clicks_to_target(sam1_predictor, video, tracks[0]))
        if on_progress is not None and (i + 1) % 10 == 0:
            on_progress(i + 1, _summary(res, clicks))
    out = _summary(res, clicks)
    out["setup"] = {"first_seed": first_seed, "videos": videos, "frames": frames, "targets_per_video": targets,
                    "clicks_videos": clicks_videos, "size": 256, "wall_s": round(time.time() - t0, 1)}
    if timing:
        out["timing"] = time_sam2(sam2_predictor, first_seed)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sam_core.evaluate_video", description=__doc__.split("\n")[0])
    p.add_argument("--model", default="nano", choices=["nano"])
    p.add_argument("--weights", default=None, help="a sam2_nano .safetensors (default: the committed weights)")
    p.add_argument("--sam1-weights", default=None, help="the SAM 1 baseline's weights (default: the committed)")
    p.add_argument("--first-seed", type=int, default=HELD_OUT_SEED)
    p.add_argument("--videos", type=int, default=100)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--targets", type=int, default=2)
    p.add_argument("--clicks-videos", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--no-timing", action="store_true")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--progress", default=None, help="write the summary so far to this file every 10 videos")
    args = p.parse_args(argv)
    if args.first_seed < HELD_OUT_SEED:
        p.error(f"--first-seed must be >= {HELD_OUT_SEED} (lower seeds are training videos)")
    torch.set_num_threads(args.threads)
    from sam_core.sam2.build import build_sam2_video_predictor

    sam2 = build_sam2_video_predictor("nano", args.weights)
    sam1 = None
    if not args.no_baselines:
        from sam_core.sam1.build import build_sam
        from sam_core.sam1.predictor import SamPredictor

        sam1 = SamPredictor(build_sam("nano", args.sam1_weights))
    def progress(done: int, summary: dict) -> None:
        if args.progress:
            with open(args.progress, "w") as f:
                json.dump({"videos_done": done, **summary}, f, indent=1)

    out = evaluate(sam2, sam1, args.first_seed, args.videos, args.frames, args.targets, args.clicks_videos,
                   timing=not args.no_timing, on_progress=progress)
    print(json.dumps(out, indent=1) if args.json else out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
