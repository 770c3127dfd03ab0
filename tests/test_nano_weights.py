"""The committed embedded weights: they load with build_sam("nano"), predict, and are fast enough."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from sam_core.sam1.build import NANO_DECODER, NANO_WEIGHTS, build_sam, sam_model_registry
from sam_core.sam1.predictor import SamPredictor
from sam_core.scenes import render_scene


@pytest.fixture(autouse=True)
def _committed_weights():
    """The weights are committed: missing locally skips, missing under CI=true fails."""
    if not NANO_WEIGHTS.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the committed embedded weights are missing under CI=true: {NANO_WEIGHTS}")
        pytest.skip("embedded nano weights not committed yet")


def test_weights_file_matches_the_registry_model():
    from safetensors.torch import load_file

    assert NANO_WEIGHTS.stat().st_size <= 20 * 2**20
    state = load_file(str(NANO_WEIGHTS))
    assert list(state) == list(sam_model_registry["nano"]().state_dict()) or set(state) == set(
        sam_model_registry["nano"]().state_dict()
    )


def test_build_sam_nano_predicts_and_timing():
    model = build_sam("nano")
    predictor = SamPredictor(model)
    scene = render_scene("desk", 1_000_003)
    handle = scene.find("handle")
    x, y = (int(v) for v in np.argwhere((handle[0] if handle else scene.objects[0]).mask)[0][::-1])
    set_ms, pred_ms = [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 threads on 2 shared cores stall when another job runs (seconds per call)
    try:
        _timed_calls(predictor, scene, x, y, set_ms, pred_ms)
        masks, scores, low = predictor.predict(point_coords=np.array([[x, y]]), point_labels=np.array([1]))
    finally:
        torch.set_num_threads(threads)
    assert masks.shape == (3, 256, 256) and masks.dtype == bool
    side = 4 * NANO_DECODER.embedding_grid  # 128: low-res logits are 4x the 32 x 32 grid
    assert scores.shape == (3,) and low.shape == (3, side, side)
    assert masks.any()
    # Targets on an idle 2-core CPU: set_image <= 100 ms, predict <= 15 ms (medians). The machine running the
    # tests is shared, so the bounds here are generous; the measured medians are in the model card.
    assert float(np.median(set_ms)) < 1000, set_ms
    assert float(np.median(pred_ms)) < 250, pred_ms


def _timed_calls(predictor, scene, x, y, set_ms, pred_ms):
    with torch.inference_mode():
        images = [render_scene("desk", 1_000_003 + i).image for i in range(2)]
        for i in range(5):
            t = time.perf_counter()
            predictor.set_image(images[i % 2])
            set_ms.append(1000 * (time.perf_counter() - t))
        predictor.set_image(scene.image)
        for _ in range(11):
            t = time.perf_counter()
            predictor.predict(point_coords=np.array([[x, y]]), point_labels=np.array([1]))
            pred_ms.append(1000 * (time.perf_counter() - t))
