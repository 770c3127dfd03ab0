"""The training configuration: TrainConfig -> the command line, presets, and where a run computes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sam_core.losses import FOCAL_WEIGHT
from sam_core.training.config import PRESETS, TrainConfig, build_parser, field_help, finalize, parse_args
from sam_core.training.hardware import choose_training_device, training_device

# The flags of the training command before the split into modules (sam_core/training/train.py, a49fd09).
OLD_FLAGS = ["--out", "--minutes", "--steps", "--resume", "--init", "--stop-at", "--batch", "--prompts",
             "--rounds", "--lr", "--encoder-lr-mult", "--weight-decay", "--warmup", "--clip", "--size",
             "--focal-weight", "--focal-start", "--focal-ramp", "--tie-qk", "--content-scale", "--pe-scale",
             "--aux-weight", "--aux-dim", "--dense-frac", "--sky-frac", "--seed", "--workers", "--threads",
             "--fused", "--log-every", "--ckpt-minutes", "--smoke", "--no-export"]


def test_every_field_is_a_flag_with_its_why_comment_as_help():
    flags = {a.option_strings[0]: a for a in build_parser()._actions if a.option_strings[0] != "-h"}
    fields = dataclasses.fields(TrainConfig)
    assert set(flags) == {"--" + f.name.replace("_", "-") for f in fields}
    assert set(OLD_FLAGS) | {"--device", "--amp", "--preset"} <= set(flags)
    helps = field_help()
    assert set(helps) == {f.name for f in fields} and all(len(h) > 10 for h in helps.values())
    assert flags["--lr"].help.startswith(helps["lr"])


def test_defaults_are_the_committed_recipe_and_flags_parse_to_their_types():
    cfg = parse_args(["--device", "cpu"])
    assert (cfg.batch, cfg.prompts, cfg.rounds, cfg.lr, cfg.workers, cfg.steps) == (1, 8, 2, 1e-3, 2, 4000)
    assert cfg.focal_weight == FOCAL_WEIGHT and cfg.focal_ramp == (0.35, 0.75)
    cfg = parse_args(["--focal-ramp", "0.1", "0.2", "--minutes", "3", "--resume", "--fused", "on"])
    assert cfg.focal_ramp == (0.1, 0.2) and cfg.minutes == 3.0 and cfg.resume and cfg.fused == "on"
    assert cfg.steps == 10**9  # unbounded: the minutes decide
    with pytest.raises(SystemExit):
        parse_args(["--fused", "maybe"])


def test_gpu_preset_is_one_short_single_process_run_and_flags_given_win():
    gpu = PRESETS["gpu"]
    assert gpu["device"] == "cuda" and gpu["workers"] == 1 and gpu["minutes"] <= 10
    # The preset's own device is checked like any other: without CUDA it is an error, not a CPU run.
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            parse_args(["--preset", "gpu"])
    cfg = parse_args(["--preset", "gpu", "--device", "cpu", "--batch", "4"])
    assert (cfg.device, cfg.batch, cfg.minutes, cfg.workers, cfg.fused) == ("cpu", 4, gpu["minutes"], 1, "on")


def test_accelerators_get_one_worker():
    assert finalize(TrainConfig(), "cuda").workers == 1
    assert finalize(TrainConfig(), "mps").workers == 1
    assert finalize(TrainConfig(), "cpu").workers == 2
    with pytest.raises(ValueError, match="workers"):
        finalize(TrainConfig(workers=2), "cuda")


@pytest.mark.parametrize("requested, cuda, mps, bf16, expected, autocast", [
    ("auto", True, False, True, "cuda", True),
    ("auto", True, True, True, "cuda", True),  # cuda before mps
    ("auto", True, False, False, "cuda", False),  # a GPU without bf16: float32
    ("auto", False, True, False, "mps", False),  # never autocast on MPS
    ("auto", False, False, False, "cpu", False),
    ("cpu", True, True, True, "cpu", False),  # never autocast on the CPU
    ("cuda", True, False, True, "cuda", True),
    ("mps", False, True, False, "mps", False),
])
def test_device_decision(requested, cuda, mps, bf16, expected, autocast):
    choice = choose_training_device(requested, "bf16", cuda, mps, bf16)
    assert choice.device == torch.device(expected) and choice.bf16 is autocast
    assert choose_training_device(requested, "off", cuda, mps, bf16).bf16 is False


def test_an_unavailable_or_unknown_device_is_an_error():
    with pytest.raises(ValueError, match="not available"):
        choose_training_device("cuda", "bf16", cuda=False, mps=True, cuda_bf16=False)
    with pytest.raises(ValueError, match="not available"):
        choose_training_device("mps", "bf16", cuda=True, mps=False, cuda_bf16=True)
    with pytest.raises(ValueError, match="expected one of"):
        choose_training_device("tpu", "bf16", cuda=False, mps=False, cuda_bf16=False)


def test_this_machine():
    here = training_device("cpu")
    assert here.device == torch.device("cpu") and not here.bf16
    assert training_device("auto").device.type == ("cuda" if torch.cuda.is_available() else
                                                   "mps" if torch.backends.mps.is_available() else "cpu")
