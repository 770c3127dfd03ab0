"""Procedural videos: deterministic, masks nested per frame, visibility flags, occlusion and re-entry."""

import numpy as np
import pytest

from sam_core.scenes.video import VIDEO_KINDS, render_video


def test_video_is_deterministic_and_shaped():
    a = render_video("street", 5, num_frames=6, size=96)
    b = render_video("street", 5, num_frames=6, size=96)
    assert a.frames.shape == (6, 96, 96, 3) and a.frames.dtype == np.uint8
    assert np.array_equal(a.frames, b.frames)
    assert all(np.array_equal(x.masks, y.masks) for x, y in zip(a.tracks, b.tracks, strict=True))
    c = render_video("street", 6, num_frames=6, size=96)
    assert not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("kind", VIDEO_KINDS)
def test_every_kind_has_nested_masks_and_moves(kind):
    video = render_video(kind, 11, num_frames=8, size=128)
    assert video.tracks and video.targets()
    for tr in video.tracks:
        assert tr.masks.shape == (8, 128, 128) and tr.level in ("part", "object", "group")
        assert np.array_equal(tr.visible, tr.areas >= tr.min_area)
        if tr.parent is not None:  # part <= object <= group on every frame
            assert not (tr.masks & ~video.tracks[tr.parent].masks).any()
    assert np.abs(np.diff(video.frames.astype(np.int16), axis=0)).mean() > 2  # something moves
    scene = video.frame_scene(3)
    assert all(o.area >= video.tracks[0].min_area for o in scene.objects)


def test_savanna_elephant_is_hidden_behind_the_acacia_then_reappears():
    for seed in range(6):
        video = render_video("savanna", seed, num_frames=16, size=128)
        (target,) = [tr for tr in video.tracks if tr.attributes.get("role") == "walks behind the acacia"]
        assert target.name == "elephant" and target.visible[0]
        assert not target.visible.all(), f"seed {seed}: the elephant is never hidden"
        assert target.reappearances(), f"seed {seed}: the elephant never comes back"
        assert {"tree", "bush"} <= {tr.name for tr in video.tracks}


def test_occluders_hide_objects_in_some_videos():
    hidden = 0
    for seed in range(8):
        video = render_video("street", seed, num_frames=8, size=96)
        hidden += any(not video.tracks[i].visible.all() for i in video.targets())
    assert hidden >= 2


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        render_video("moon", 0)
    with pytest.raises(ValueError):
        render_video("desk", 0, num_frames=1)
