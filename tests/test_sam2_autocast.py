"""SAM 2's predictors run under bf16 autocast on CUDA, as Meta runs them, and hand back float32.

CUDA is not here, so the bf16 path is exercised by pointing `sam_core.device.autocast_context` at CPU
bf16 autocast: the same decorator, the same code path, a real bf16 computation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sam_core.device as device_module
from sam_core.device import autocast_context, bf16_autocast
from sam_core.sam2.build import build_sam2_video_predictor
from sam_core.sam2.image_predictor import SAM2ImagePredictor
from sam_core.scenes.video import render_video


@pytest.fixture(scope="module")
def nano():
    return build_sam2_video_predictor("nano").eval()  # the committed embedded weights


@pytest.fixture()
def cpu_bf16(monkeypatch):
    """Make the predictors' autocast the bf16 one, on the CPU (what CUDA gets)."""
    entered = []

    def fake(device, enabled_bf16):
        entered.append(enabled_bf16)
        return torch.autocast("cpu", dtype=torch.bfloat16) if enabled_bf16 else autocast_context("cpu", False)

    monkeypatch.setattr(device_module, "autocast_context", fake)
    return entered


def _video():
    return render_video("savanna", 1_000_002, num_frames=4, size=256)


def _track(predictor, video):
    state = predictor.init_state(list(video.frames))
    ys, xs = np.nonzero(video.tracks[video.targets()[0]].masks[0])
    # a box: one output mask (a single click's 3 candidates can swap places when two IoU scores nearly tie)
    predictor.add_new_points_or_box(state, 0, 1, box=[xs.min(), ys.min(), xs.max(), ys.max()])
    frames = []
    for _, _, logits in predictor.propagate_in_video(state):
        assert not torch.is_autocast_enabled("cpu"), "autocast leaked into the caller's loop body"
        frames.append(logits)
    return frames


def test_cpu_stays_float32(nano):
    assert device_module._bf16_autocast_ok(torch.device("cpu")) is False
    frames = _track(nano, _video())
    assert all(f.dtype == torch.float32 for f in frames)


def test_video_under_bf16_autocast_returns_float32_close_to_fp32(nano, cpu_bf16):
    video = _video()
    nano.use_bf16_autocast = False
    reference = _track(nano, video)
    nano.use_bf16_autocast = True
    bf16 = _track(nano, video)
    assert True in cpu_bf16 and False in cpu_bf16  # the flag reaches the context
    assert len(bf16) == len(reference) == 4
    for ours, ref in zip(bf16, reference, strict=True):
        assert ours.dtype == torch.float32
        if ref.std() == 0:  # the object judged absent: every logit is NO_OBJ_SCORE
            assert torch.equal(ours, ref)
        else:
            assert np.corrcoef(ours.flatten().numpy(), ref.flatten().numpy())[0, 1] > 0.95


def test_image_predictor_under_bf16_autocast_returns_float32_numpy(nano, cpu_bf16):
    predictor = SAM2ImagePredictor(nano)
    image = _video().frames[0]
    predictor.set_image(image)
    masks, ious, low_res = predictor.predict(point_coords=np.array([[128, 150]]), point_labels=np.array([1]))
    assert cpu_bf16 == [True, True]  # set_image_tensor and _predict
    assert masks.dtype == bool and ious.dtype == np.float32 and low_res.dtype == np.float32
    predictor.use_bf16_autocast = False
    predictor.set_image(image)
    _, ious_fp32, low_res_fp32 = predictor.predict(point_coords=np.array([[128, 150]]), point_labels=np.array([1]))
    assert not np.array_equal(low_res, low_res_fp32)  # it really was computed in bf16 ...
    assert np.corrcoef(low_res.ravel(), low_res_fp32.ravel())[0, 1] > 0.95  # ... and stays close
    assert np.abs(ious - ious_fp32).max() < 0.1


def test_generator_context_is_entered_per_frame_only():
    class Fake:
        device = torch.device("cpu")
        use_bf16_autocast = True

        @bf16_autocast
        def frames(self):
            for i in range(3):
                yield i, torch.is_autocast_enabled("cpu")

    original = device_module.autocast_context
    try:
        device_module.autocast_context = lambda device, enabled_bf16: torch.autocast("cpu", dtype=torch.bfloat16)
        seen = []
        for i, inside in Fake().frames():
            seen.append((i, inside, torch.is_autocast_enabled("cpu")))
    finally:
        device_module.autocast_context = original
    assert seen == [(0, True, False), (1, True, False), (2, True, False)]
