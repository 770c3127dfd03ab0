"""sam_core.training.evaluate: the CLI prints one valid JSON object with every key, on a few held-out scenes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sam_core.masks import interior_point, tight_box
from sam_core.sam1.build import NANO_WEIGHTS, sam_model_registry
from sam_core.training.checkpoints import export_safetensors
from sam_core.training.evaluate import size_bounds, size_group

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"miou_1click_oracle", "miou_1click_selected", "miou_box", "miou_3click", "iou_head_pearson",
        "granularity_hit_rate", "by_size", "sky", "scenes", "scenes_excluding_sky", "targets", "set_image_ms_median",
        "predict_ms_median", "wall_s", "first_seed"}


def test_centre_point_and_box_are_deterministic():
    """The evaluation's click and box are sam_core.masks' (the lesson pages click the same pixel)."""
    mask = np.zeros((20, 30), bool)
    mask[4:15, 5:16] = True  # an 11 x 11 square: the centre is (10, 9)
    assert interior_point(mask) == (10, 9)
    assert list(tight_box(mask)) == [5, 4, 15, 14]
    edge = np.zeros((10, 10), bool)
    edge[:, :4] = True  # touching the image border: the border counts as boundary
    x, y = interior_point(edge)
    assert x in (1, 2) and edge[y, x]


def test_size_groups_cover_every_area_once_and_scale_with_the_scene():
    bounds = size_bounds(256)
    assert bounds == {"small": (0, 256), "medium": (256, 1024), "large": (1024, None)}
    assert [size_group(a, bounds) for a in (20, 255, 256, 1023, 1024, 65536)] == [
        "small", "small", "medium", "medium", "large", "large"]
    assert size_bounds(512) == {"small": (0, 1024), "medium": (1024, 4096), "large": (4096, None)}


@pytest.mark.slow
def test_cli_prints_json_with_all_keys(tmp_path):
    cmd = [sys.executable, "-m", "sam_core.training.evaluate", "--scenes", "4", "--kinds", "desk,sky,street,person",
           "--max-targets", "2", "--threads", "1", "--json"]
    if not NANO_WEIGHTS.exists():
        ckpt = tmp_path / "random_nano.safetensors"
        export_safetensors(sam_model_registry["nano"]().eval(), ckpt)
        cmd += ["--checkpoint", str(ckpt)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True)
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, out.stdout
    result = json.loads(lines[0])
    assert KEYS <= set(result)
    assert set(result["granularity_hit_rate"]) == {"handle", "mug", "mug_saucer", "button", "shirt", "person"}
    assert result["scenes"] == 4 and result["scenes_excluding_sky"] == 3 and result["sky"]["scenes"] == 1
    assert result["desk_scenes_with_handle"] == 1 and result["person_scenes_with_button"] == 1
    assert all(rate in (0.0, 1.0) for rate in result["granularity_hit_rate"].values())  # one scene each
    sky = result["sky"]
    assert sky["mean_max_pred_iou_centre_click"] >= sky["mean_pred_iou_centre_click"]
    assert sky["object_clicks_mean_max_pred_iou"] >= sky["object_clicks_mean_pred_iou"]
    assert result["first_seed"] == 1_000_000
    for key in ("miou_1click_oracle", "miou_1click_selected", "miou_box", "miou_3click"):
        assert 0.0 <= result[key] <= 1.0
    assert result["miou_1click_oracle"] >= result["miou_1click_selected"]
    by_size = result["by_size"]
    assert by_size["area_bounds_px"] == {"small": [0, 256], "medium": [256, 1024], "large": [1024, None]}
    assert sum(by_size[k]["targets"] for k in ("small", "medium", "large")) == result["targets"]
