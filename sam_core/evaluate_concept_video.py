"""Concept tracking on held-out procedural videos: `python -m sam_core.evaluate_concept_video --videos 50`.

Per video, one text prompt on frame 0 (the kind's countable noun, CONCEPT_OF_KIND), then propagation over
every frame with `sam_core.sam3.video_session`. On each frame the session's objects are matched to the
ground-truth instances of the phrase that are visible there (Hungarian on mask IoU, IoU >= 0.5):

- ID switches per track: for each true instance, how often the id matched to it changes from the last
  id it had (frames where it is unmatched or hidden do not count); summed, divided by the instances.
- right-count frames: the fraction of frames where the number of objects shown equals the number of
  visible instances.

Needs the procedural videos (`sam_core.scenes.video`) and the embedded SAM 2 tracker (issue 16).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from scipy.optimize import linear_sum_assignment

from sam_core.scenes import HELD_OUT_SEED
from sam_core.scenes.concepts import phrases_of

CONCEPT_OF_KIND = {"savanna": "elephant", "street": "car", "orchard": "apple", "desk": "coffee mug",
                   "person": "shirt button"}
MATCH_IOU = 0.5


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    fa, fb = a.reshape(len(a), -1).astype(np.float32), b.reshape(len(b), -1).astype(np.float32)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def tracking_scores(truth: np.ndarray, visible: np.ndarray, frames: list[dict]) -> dict:
    """Arguments:
      truth: bool [N, T, H, W] the instances' masks; visible: bool [N, T];
      frames: the session's results, one {"frame_index", "objects": [{"id", "mask"}]} per frame 0..T-1.
    Returns:
      {"instances", "id_switches", "right_count_frames", "frames"}.
    """
    last_id: list[int | None] = [None] * len(truth)
    switches, right = 0, 0
    for frame in frames:
        t = frame["frame_index"]
        shown = [i for i in range(len(truth)) if visible[i, t]]
        objects = frame["objects"]
        right += len(objects) == len(shown)
        if not objects or not shown:
            continue
        iou = _iou(truth[shown, t], np.stack([o["mask"] for o in objects]))
        for r, c in zip(*linear_sum_assignment(-iou), strict=True):
            if iou[r, c] < MATCH_IOU:
                continue
            inst, obj_id = shown[r], objects[c]["id"]
            if last_id[inst] is not None and last_id[inst] != obj_id:
                switches += 1
            last_id[inst] = obj_id
    return {"instances": len(truth), "id_switches": switches, "right_count_frames": right, "frames": len(frames)}


def evaluate_video(video, detector, tracker) -> dict:
    """One held-out video (sam_core.scenes.video.Video): prompt its kind's noun on frame 0, propagate, score."""
    from sam_core.sam3.video_session import add_prompt, close_session, propagate_in_video, start_session

    phrase = CONCEPT_OF_KIND[video.kind]
    tracks = [tr for tr in video.tracks if phrase in phrases_of(tr)]
    truth = np.stack([tr.masks for tr in tracks]) if tracks else np.zeros((0, *video.frames.shape[:3]), bool)
    visible = np.stack([tr.visible for tr in tracks]) if tracks else np.zeros((0, video.num_frames), bool)
    session = start_session(list(video.frames), detector=detector, tracker=tracker)
    try:
        first = add_prompt(session, 0, text=phrase)
        frames = propagate_in_video(session) if first["objects"] else [
            {"frame_index": t, "objects": []} for t in range(video.num_frames)]
    finally:
        close_session(session)
    return tracking_scores(truth, visible, frames)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sam_core.evaluate_concept_video")
    parser.add_argument("--videos", type=int, default=50)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=HELD_OUT_SEED)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    from sam_core.sam3.video_session import default_detector, default_tracker
    from sam_core.scenes.video import VIDEO_KINDS, render_video

    torch.set_num_threads(args.threads)
    detector, tracker = default_detector(), default_tracker()
    totals = {"instances": 0, "id_switches": 0, "right_count_frames": 0, "frames": 0}
    for i in range(args.videos):
        video = render_video(VIDEO_KINDS[i % len(VIDEO_KINDS)], args.first_seed + i, num_frames=args.frames)
        for k, v in evaluate_video(video, detector, tracker).items():
            totals[k] += v
    print(json.dumps({"videos": args.videos, **totals,
                      "id_switches_per_track": round(totals["id_switches"] / max(1, totals["instances"]), 4),
                      "right_count_fraction": round(totals["right_count_frames"] / max(1, totals["frames"]), 4)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
