"""Data-parallel training (`--workers N`): gradients are averaged over the worker processes, the workers
stay identical, and a 2-worker run of the real script trains and logs like a 1-worker run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sam_core.sam1.build import sam_model_registry
from sam_core.training.config import parse_args
from sam_core.training.loop import main
from sam_core.training.workers import average_gradients, check_same_weights, from_rank0, gather, launch


def _collectives_in_worker(out_dir: str, rank: int) -> int:
    """Runs in each of 2 spawned workers; writes what it saw for the test to check."""
    layer = torch.nn.Linear(2, 1, bias=True)
    layer.weight.grad = torch.full_like(layer.weight, float(rank + 1))  # 1 on rank 0, 2 on rank 1
    layer.bias.grad = None if rank == 0 else torch.full_like(layer.bias, 4.0)  # missing counts as 0
    average_gradients(list(layer.parameters()))
    diverged = torch.nn.Linear(1, 1)
    with torch.no_grad():
        diverged.weight.fill_(float(rank))
    try:
        check_same_weights(diverged)
        caught = False
    except RuntimeError:
        caught = True
    seen = {"weight_grad": layer.weight.grad.tolist(), "bias_grad": layer.bias.grad.tolist(),
            "divergence_caught": caught, "from_rank0": from_rank0(f"rank {rank}"), "gathered": gather(rank * 10)}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(seen))
    return 0


def test_gradients_are_averaged_and_divergence_is_caught(tmp_path):
    assert launch(_collectives_in_worker, str(tmp_path), 2) == 0
    for rank in (0, 1):
        seen = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert seen["weight_grad"] == [[1.5, 1.5]]
        assert seen["bias_grad"] == [2.0]
        assert seen["divergence_caught"] is True
        assert seen["from_rank0"] == "rank 0"
        assert seen["gathered"] == [0, 10]


def test_one_worker_helpers_are_no_ops():
    layer = torch.nn.Linear(2, 1)
    layer.weight.grad = torch.ones_like(layer.weight)
    average_gradients(list(layer.parameters()))
    assert torch.equal(layer.weight.grad, torch.ones_like(layer.weight)) and layer.bias.grad is None
    assert from_rank0(3) == 3 and gather(3) == [3]
    check_same_weights(layer)


def test_defaults_give_each_worker_a_share_of_the_cpus():
    args = parse_args(["--workers", "2"])
    assert args.threads >= 1 and args.workers == 2
    assert parse_args(["--smoke"]).workers == 1
    with pytest.raises(SystemExit):
        parse_args(["--workers", "0"])


@pytest.mark.slow
def test_two_worker_run_trains_logs_and_exports_one_model(tmp_path):
    common = ["--smoke", "--steps", "6", "--threads", "1", "--batch", "1", "--prompts", "2", "--log-every", "1",
              "--fused", "off", "--seed", "5"]
    two, one = tmp_path / "two", tmp_path / "one"
    assert main(["--out", str(two), "--workers", "2", *common]) == 0
    with open(two / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert json.loads((two / "config.json").read_text())["workers"] == 2
    weights = load_file(str(two / "sam_nano.safetensors"))
    assert set(weights) == set(sam_model_registry["nano"]().state_dict())

    # Worker 1 trains on other scenes than worker 0, so the averaged run is not the 1-worker run.
    assert main(["--out", str(one), "--workers", "1", *common]) == 0
    alone = load_file(str(one / "sam_nano.safetensors"))
    key = "mask_decoder.iou_prediction_head.layers.0.weight"
    assert not torch.allclose(weights[key], alone[key])
