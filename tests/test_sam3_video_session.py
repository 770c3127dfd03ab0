"""Concept tracking in video: association of detections with tracks, and the session API's contract
(ids, every frame for a negative max, JSON-able results, a closed session refuses work)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sam_core.sam3.video_session import (
    add_prompt,
    associate,
    close_session,
    propagate_in_video,
    remove_object,
    reset_session,
    start_session,
    to_json,
)


def _disc(cx: int, cy: int, r: int, size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def test_associate_matches_moved_tracks_and_finds_new_instances():
    tracks = np.stack([_disc(15, 15, 8), _disc(45, 45, 8)])
    detections = np.stack([_disc(46, 44, 8), _disc(16, 15, 8), _disc(50, 10, 6)])
    matched, new = associate(tracks, detections)
    assert matched == {0: 1, 1: 0} and new == [2]
    matched, new = associate(tracks[:0], detections)
    assert matched == {} and new == [0, 1, 2]
    ambiguous = _disc(24, 15, 8)[None]  # IoU 0.24 with track 0: neither the same object nor a new one
    assert associate(tracks[:1], ambiguous) == ({}, [])


def test_rle_round_trip():
    mask = _disc(20, 30, 9)
    frame = to_json({"frame_index": 0, "objects": [{"id": 1, "score": 0.9, "box": [0, 0, 1, 1], "mask": mask}]})
    counts = frame["objects"][0]["mask"]["counts"]
    flat = np.concatenate([np.full(c, i % 2, bool) for i, c in enumerate(counts)])
    assert np.array_equal(flat.reshape(mask.shape), mask)
    json.dumps(frame)


class GroundTruthDetector:
    """A test double for the SAM 3 detector: returns the true masks of the moving discs (labelled as such)."""

    def __init__(self, frames_masks):
        self.frames_masks, self.current = frames_masks, None

    def set_image(self, image):
        self.current = next(m for f, m in self.frames_masks if f is image)

    def detect(self, text):
        return self.current, np.full(len(self.current), 0.9)


@pytest.mark.slow
def test_session_api_contract():
    from sam_core.sam2.build import build_sam2_video_predictor

    torch.manual_seed(0)
    tracker = build_sam2_video_predictor("hiera_tiny", image_size=256)
    frames, frames_masks = [], []
    for t in range(4):
        masks = np.stack([_disc(60 + 5 * t, 80, 20, 256), _disc(180, 150 - 4 * t, 25, 256)])
        image = np.full((256, 256, 3), 40, np.uint8)
        image[masks.any(0)] = (200, 60, 50)
        frames.append(image)
        frames_masks.append((image, masks))
    session = start_session(frames, detector=GroundTruthDetector(frames_masks), tracker=tracker)
    session.frames = frames  # the detector double finds frames by identity
    first = add_prompt(session, 0, text="red disc")
    assert [o["id"] for o in first["objects"]] == [1, 2]
    clicked = add_prompt(session, 0, points=[[10, 10]], labels=[1])
    assert clicked["objects"] == [] or max(o["id"] for o in clicked["objects"]) == 3
    results = propagate_in_video(session, max_frame_num_to_track=-5)
    assert [r["frame_index"] for r in results] == [0, 1, 2, 3]
    for r in results:
        json.dumps(to_json(r))
        assert all(isinstance(o["id"], int) and o["mask"].shape == (256, 256) for o in r["objects"])
    assert 3 not in remove_object(session, 3)
    reset_session(session)
    with pytest.raises(ValueError):
        propagate_in_video(session)
    close_session(session)
    with pytest.raises(ValueError):
        add_prompt(session, 0, text="red disc")


def test_tracking_scores_count_id_switches_and_right_counts():
    from sam_core.evaluate_concept_video import tracking_scores

    a = np.stack([_disc(15 + 3 * t, 20, 8) for t in range(3)])
    b = np.stack([_disc(45, 40, 8) for _ in range(3)])
    truth, visible = np.stack([a, b]), np.array([[True, True, True], [True, False, True]])
    frames = [{"frame_index": 0, "objects": [{"id": 1, "mask": a[0]}, {"id": 2, "mask": b[0]}]},
              {"frame_index": 1, "objects": [{"id": 1, "mask": a[1]}]},  # b hidden: one object is right
              {"frame_index": 2, "objects": [{"id": 3, "mask": a[2]}, {"id": 2, "mask": b[2]}]}]  # a switched
    assert tracking_scores(truth, visible, frames) == {"instances": 2, "id_switches": 1, "right_count_frames": 3,
                                                       "frames": 3}
