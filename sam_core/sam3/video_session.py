"""Concept tracking in video: SAM 3's detector finds every instance of a phrase, SAM 2's memory tracks each.

The session API of SAM 3's video predictor (seed 004):

    session = start_session(frames)                       # list of RGB frames, a folder or an mp4
    add_prompt(session, 0, text="elephant")               # every elephant on frame 0 becomes an object
    add_prompt(session, 3, points=[[120, 80]], labels=[1])  # a click: a new object (or obj_id=... to refine)
    for frame in propagate_in_video(session, direction="both"):
        frame["frame_index"], [(o["id"], o["score"], o["mask"]) for o in frame["objects"]]
    remove_object(session, 2); reset_session(session); close_session(session)

How the two models meet (Meta's SAM 3 video, simplified): the detector runs on the prompted frame and
every detection becomes a tracked object (its mask goes into SAM 2's memory as that frame's prompt).
While propagating, the detector runs again on each frame and its detections are associated with the
tracks by mask IoU (Hungarian): a matched detection confirms a track (its score is reported); a detection
that overlaps no track (IoU < NEW_INSTANCE_IOU) is a new instance and gets a new ID, from that frame on
(the propagation is then re-run so that SAM 2 tracks it too). A track that goes behind something keeps its
ID: SAM 2's memory carries it, it is only missing from the frames where its mask is empty.

Results are plain structures: ints, floats, lists and numpy bool masks [H, W]; `to_json` turns masks into
run-length lists for HTTP clients.

Dependency: the default tracker is the embedded SAM 2, `build_sam2_video_predictor("nano")` (issue 16).
Any SAM2VideoPredictor (init_state / add_new_mask / add_new_points_or_box / propagate_in_video /
remove_object / reset_state) can be passed as `tracker`; the default detector is the embedded SAM 3.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

MATCH_IOU = 0.3  # a detection with at least this IoU with a track is that track
NEW_INSTANCE_IOU = 0.1  # a detection overlapping every track less than this is a new instance
MAX_REDISCOVERY_PASSES = 3  # propagation re-runs at most this often to pick up new instances
DIRECTIONS = ("forward", "backward", "both")


def default_detector():
    from sam_core.evaluate_concepts import ConceptModel

    return ConceptModel("nano")


def default_tracker():
    from sam_core.sam2.build import build_sam2_video_predictor

    return build_sam2_video_predictor("nano")


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """bool [A, H, W], [B, H, W] -> [A, B] mask IoU."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    fa, fb = a.reshape(len(a), -1).astype(np.float32), b.reshape(len(b), -1).astype(np.float32)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def associate(track_masks: np.ndarray, detections: np.ndarray) -> tuple[dict[int, int], list[int]]:
    """Detections to tracks on one frame.

    Arguments:
      track_masks: bool [T, H, W] the tracks' masks; detections: bool [D, H, W].
    Returns:
      ({track row: detection row} for pairs with IoU >= MATCH_IOU, detection rows that are new instances).
    """
    iou = _iou(track_masks, detections)
    matched: dict[int, int] = {}
    if iou.size:
        rows, cols = linear_sum_assignment(-iou)
        matched = {int(r): int(c) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= MATCH_IOU}
    used = set(matched.values())
    new = [d for d in range(len(detections))
           if d not in used and (iou.shape[0] == 0 or iou[:, d].max() < NEW_INSTANCE_IOU)]
    return matched, new


@dataclass
class ConceptVideoSession:
    """One student's video: frames, the tracker's state, the concept phrase, object ids and scores."""

    frames: list[np.ndarray]
    detector: object
    tracker: object
    state: dict | None
    text: str | None = None
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    scores: dict[int, float] = field(default_factory=dict)  # the detection score that started each object
    closed: bool = False

    def check_open(self) -> None:
        if self.closed:
            raise ValueError("this video session is closed; start a new one")


def start_session(resource, detector=None, tracker=None) -> ConceptVideoSession:
    """A session on `resource`: a list of RGB uint8 frames [H, W, 3], a folder of JPEG/PNG frames or an mp4."""
    from sam_core.sam2.video_frames import decode_mp4, frame_paths

    if isinstance(resource, (list, tuple)):
        frames = [np.asarray(f, np.uint8) for f in resource]
    elif str(resource).lower().endswith(".mp4"):
        frames = decode_mp4(resource)
    else:
        from PIL import Image

        frames = [np.asarray(Image.open(p).convert("RGB")) for p in frame_paths(resource)]
    if not frames:
        raise ValueError("the video has no frames")
    tracker = tracker if tracker is not None else default_tracker()
    return ConceptVideoSession(frames, detector if detector is not None else default_detector(), tracker,
                               tracker.init_state(frames))


def _objects(session: ConceptVideoSession, obj_ids, logits, scores: dict[int, float] | None = None) -> list[dict]:
    """Tracker output [N, 1, H, W] logits -> [{"id", "score", "box", "mask"}] for the visible objects."""
    masks = (logits[:, 0] > 0).cpu().numpy()
    out = []
    for obj_id, mask in zip(obj_ids, masks, strict=True):
        if not mask.any():
            continue
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        score = (scores or {}).get(int(obj_id), session.scores.get(int(obj_id)))
        out.append({"id": int(obj_id), "score": None if score is None else float(score),
                    "box": [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1], "mask": mask})
    return out


def _detect(session: ConceptVideoSession, frame_index: int) -> tuple[np.ndarray, np.ndarray]:
    session.detector.set_image(session.frames[frame_index])
    return session.detector.detect(session.text)


def add_prompt(session: ConceptVideoSession, frame_index: int, text: str | None = None, points=None, labels=None,
               boxes=None, obj_id: int | None = None) -> dict:
    """A concept (`text`: every instance on this frame becomes an object) or a visual prompt (points with
    labels 1 / 0 and/or one box xyxy, video pixels) for `obj_id` (None: a new object). Returns the frame's
    objects: {"frame_index", "objects": [{"id", "score", "box", "mask"}]}."""
    session.check_open()
    if not 0 <= int(frame_index) < len(session.frames):
        raise ValueError(f"frame_index {frame_index} is outside the video (0..{len(session.frames) - 1})")
    frame_index = int(frame_index)
    if text is None and points is None and boxes is None:
        raise ValueError("add_prompt needs text, points or boxes")
    if text is not None:
        session.text = str(text)
        masks, scores = _detect(session, frame_index)
        result = None
        for mask, score in zip(masks, scores, strict=True):
            new_id = next(session.ids)
            session.scores[new_id] = float(score)
            result = session.tracker.add_new_mask(session.state, frame_index, new_id, mask)
        if result is None:
            return {"frame_index": frame_index, "objects": []}
        return {"frame_index": frame_index, "objects": _objects(session, result[1], result[2])}
    if obj_id is None:
        obj_id = next(session.ids)
    box = None if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4)[0]
    pts = None if points is None else np.asarray(points, np.float32).reshape(-1, 2)
    lab = None if labels is None else np.asarray(labels, np.int32).reshape(-1)
    _, obj_ids, logits = session.tracker.add_new_points_or_box(session.state, frame_index, int(obj_id), points=pts,
                                                               labels=lab, box=box)
    return {"frame_index": frame_index, "objects": _objects(session, obj_ids, logits)}


def _one_pass(session: ConceptVideoSession, start: int, max_frames: int | None, reverse: bool,
              results: dict[int, dict]) -> list[tuple[int, np.ndarray, float]]:
    """Propagate once; fill `results`; return the new instances found (frame, mask, score)."""
    new_instances = []
    for frame_index, obj_ids, logits in session.tracker.propagate_in_video(
            session.state, start_frame_idx=start, max_frame_num_to_track=max_frames, reverse=reverse):
        frame_scores: dict[int, float] = {}
        if session.text is not None:
            detections, det_scores = _detect(session, frame_index)
            tracks = (logits[:, 0] > 0).cpu().numpy()
            matched, new = associate(tracks, detections)
            frame_scores = {int(obj_ids[t]): float(det_scores[d]) for t, d in matched.items()}
            new_instances += [(frame_index, detections[d], float(det_scores[d])) for d in new]
        results[frame_index] = {"frame_index": int(frame_index),
                                "objects": _objects(session, obj_ids, logits, frame_scores)}
    return new_instances


def propagate_in_video(session: ConceptVideoSession, direction: str = "forward", start_frame_index: int = 0,
                       max_frame_num_to_track: int | None = None) -> list[dict]:
    """Track every object; returns one {"frame_index", "objects"} per frame visited, in frame order.

    max_frame_num_to_track: None, or any negative number, means every frame.
    """
    session.check_open()
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    if not session.state["obj_ids"]:
        raise ValueError("add a prompt before propagating")
    max_frames = None if max_frame_num_to_track is None or int(max_frame_num_to_track) < 0 \
        else int(max_frame_num_to_track)
    start = int(start_frame_index)
    results: dict[int, dict] = {}
    for _ in range(MAX_REDISCOVERY_PASSES):
        results.clear()
        new_instances = []
        if direction in ("forward", "both"):
            new_instances += _one_pass(session, start, max_frames, False, results)
        if direction in ("backward", "both"):
            new_instances += _one_pass(session, start, max_frames, True, results)
        if not new_instances:
            break
        added: list[np.ndarray] = []  # one new object per instance, even if it is new on several frames
        for frame_index, mask, score in sorted(new_instances, key=lambda n: n[0]):
            if added and _iou(mask[None], np.stack(added)).max() >= NEW_INSTANCE_IOU:
                continue
            added.append(mask)
            new_id = next(session.ids)
            session.scores[new_id] = score
            session.tracker.add_new_mask(session.state, frame_index, new_id, mask)
    return [results[f] for f in sorted(results)]


def remove_object(session: ConceptVideoSession, obj_id: int) -> list[int]:
    """Forget one object; returns the remaining ids."""
    session.check_open()
    session.scores.pop(int(obj_id), None)
    obj_ids, _ = session.tracker.remove_object(session.state, int(obj_id))
    return [int(i) for i in obj_ids]


def reset_session(session: ConceptVideoSession) -> None:
    """Forget every prompt, object and phrase; keep the video."""
    session.check_open()
    session.tracker.reset_state(session.state)
    session.text, session.scores, session.ids = None, {}, itertools.count(1)


def close_session(session: ConceptVideoSession) -> None:
    """Free the frames and the tracker's state (its features and memories); the session cannot be used again."""
    session.state, session.frames, session.closed = None, [], True


def to_json(frame: dict) -> dict:
    """A frame result with each mask as run lengths ({"size": [H, W], "counts": [...]}, row-major, from 0)."""
    objects = []
    for obj in frame["objects"]:
        flat = np.asarray(obj["mask"], bool).ravel().astype(np.int8)
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
        counts = ([0] if flat[0] else []) + np.diff(bounds).astype(int).tolist()  # runs of 0s, 1s, 0s, ...
        objects.append({**{k: v for k, v in obj.items() if k != "mask"},
                        "mask": {"size": list(np.shape(obj["mask"])), "counts": counts}})
    return {"frame_index": frame["frame_index"], "objects": objects}
