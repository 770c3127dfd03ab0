"""The encoder-only phase (`--dense-frac`): the first part of the run trains the image encoder alone with
the dense loss; the decoder keeps its init until the interactive phase, which has its own schedule."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from safetensors.torch import load_file

from sam_core.training.config import parse_args
from sam_core.training.data import sample_batch
from sam_core.training.loop import main
from sam_core.training.model_setup import initial_model
from sam_core.training.schedule import phase_progress

ARGS = ["--smoke", "--batch", "1", "--prompts", "2", "--rounds", "2", "--threads", "1", "--log-every", "1",
        "--fused", "off", "--seed", "4", "--steps", "8", "--dense-frac", "0.5"]


def test_phase_progress_splits_the_run():
    assert phase_progress(0.0, 0.2) == (True, 0.0)
    assert phase_progress(0.1, 0.2) == (True, pytest.approx(0.5))
    assert phase_progress(0.2, 0.2) == (False, 0.0)
    assert phase_progress(0.6, 0.2) == (False, pytest.approx(0.5))
    assert phase_progress(0.6, 0.0) == (False, pytest.approx(0.6))  # no dense phase: the old schedule


def test_dense_frac_is_checked():
    with pytest.raises(SystemExit):
        parse_args(["--dense-frac", "1.0"])
    with pytest.raises(SystemExit):
        parse_args(["--dense-frac", "0.3", "--aux-weight", "0"])


def test_dense_batch_has_no_prompts():
    import numpy as np

    batch = sample_batch(np.random.default_rng(0), 1, 0, 64)
    assert batch.targets.shape == (0, 1, 64, 64) and batch.object_masks[0].shape[0] > 0


@pytest.mark.slow
def test_dense_phase_trains_only_the_encoder_then_the_interactive_phase_runs(tmp_path):
    out = tmp_path / "run"
    assert main(["--out", str(out), "--stop-at", "4", *ARGS]) == 0  # 4 of 8 steps: the dense phase
    ck = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert ck["interactive_from"] is None
    init = initial_model(parse_args(["--out", str(out), *ARGS])).state_dict()
    for name, value in ck["model"].items():
        if name.startswith(("mask_decoder.", "prompt_encoder.")):
            assert torch.equal(value, init[name]), f"{name} changed in the dense phase"
    moved = [n for n, v in ck["model"].items() if n.startswith("image_encoder.") and v.is_floating_point()
             and not torch.equal(v, init[n])]
    assert moved, "the dense phase did not train the image encoder"

    assert main(["--out", str(out), "--resume", *ARGS]) == 0
    with open(out / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 9))
    dense, interactive = rows[:4], rows[4:]
    assert all(math.isnan(float(r["focal"])) and float(r["aux"]) > 0 for r in dense)
    assert all(math.isfinite(float(r["focal"])) and math.isfinite(float(r["iou_first"])) for r in interactive)
    # each phase starts with its own warm-up: step 1 of 5 at the smoke run's lr 1e-3
    assert float(dense[0]["lr"]) == pytest.approx(2e-4) and float(interactive[0]["lr"]) == pytest.approx(2e-4)
    ck = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert ck["interactive_from"] == 4
    weights = load_file(str(out / "sam_nano.safetensors"))
    key = "mask_decoder.iou_prediction_head.layers.0.weight"
    assert not torch.equal(weights[key], init[key]), "the interactive phase did not train the decoder"
