"""A tiny run of the real training script: the loss goes down, and a resumed run matches an uninterrupted one."""

from __future__ import annotations

import csv

import pytest
import torch
from safetensors.torch import load_file

from sam_core.sam1.build import sam_model_registry
from sam_core.training.loop import main

ARGS = ["--smoke", "--batch", "1", "--prompts", "2", "--rounds", "2", "--threads", "1", "--log-every", "1",
        "--fused", "off", "--seed", "3", "--focal-start", "20"]  # SAM's 20:1 throughout: one loss scale


def _totals(path):
    with open(path) as f:
        return [float(r["total"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_smoke_loss_goes_down_and_resume_matches(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["--out", str(full), "--steps", "12", *ARGS]) == 0
    totals = _totals(full / "train_log.csv")
    assert len(totals) == 12
    # A random decoder starts near p = 0.5 everywhere (20 x focal ~ 2.4); within a few steps it learns
    # that most pixels are background, which alone removes most of the focal term.
    first, last = sum(totals[:3]) / 3, sum(totals[-3:]) / 3
    assert last < 0.75 * first, totals

    weights = load_file(str(full / "sam_nano.safetensors"))
    assert set(weights) == set(sam_model_registry["nano"]().state_dict())

    assert main(["--out", str(part), "--steps", "12", "--stop-at", "6", *ARGS]) == 0
    assert not (part / "sam_nano.safetensors").exists()
    assert len(_totals(part / "train_log.csv")) == 6
    assert main(["--out", str(part), "--steps", "12", "--resume", *ARGS]) == 0
    resumed = load_file(str(part / "sam_nano.safetensors"))
    assert len(_totals(part / "train_log.csv")) == 12
    ck = torch.load(part / "last.pt", map_location="cpu", weights_only=True)
    assert ck["step"] == 12
    for name, value in weights.items():
        if value.is_floating_point():
            assert torch.allclose(value, resumed[name], atol=1e-5, rtol=1e-4), name
