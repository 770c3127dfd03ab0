"""The training run's settings: one dataclass, a why-comment per default, and the command line made from it.

Every field of TrainConfig is a flag (`lr` -> `--lr`, `log_every` -> `--log-every`); the comment after a
field is its `--help` text. The defaults are the committed model's recipe (85 minutes on the 2-core CPU);
`--preset gpu` is the one-command retrain on a single NVIDIA H100 / H200 (flags given with it win).
Measurements quoted below are from this project's runs (assets/models/nano/MODEL_CARD.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import re
import types
import typing
from dataclasses import dataclass
from typing import Literal

from sam_core.losses import FOCAL_WEIGHT


@dataclass
class TrainConfig:
    out: str = "runs/nano"  # run folder: train_log.csv, last.pt, config.json, sam_nano.safetensors
    minutes: float | None = None  # wall-clock budget; the schedule follows it, so a run ends on time
    steps: int | None = None  # total steps (default 4000, unbounded with --minutes); alone: bit-exact reruns
    resume: bool = False  # continue from OUT/last.pt: same data, schedule and RNG as an uninterrupted run
    init: str | None = None  # start from these weights (.safetensors or a last.pt) with a new optimizer
    stop_at: int | None = None  # checkpoint and exit at this step (same schedule), to --resume later
    batch: int = 1  # images per worker and step: 1 x 8 prompts beat 2 x 4 (selected mIoU 0.19 vs 0.11)
    prompts: int = 8  # target masks per image: one encoder pass serves 8 decoder passes
    rounds: int = 2  # decoder rounds, first prompt + corrections: teaches clicks and mask_input cheaply
    lr: float = 1e-3  # AdamW peak lr: a test of 2e-3 was behind at every logged step up to 400
    encoder_lr_mult: float = 1.0  # image encoder lr = this x --lr: x3 cut the 12-min oracle from 0.312 to 0.103
    weight_decay: float = 0.05  # AdamW decay (none on norms, biases, embeddings): mild for a 2 M model
    warmup: int = 100  # linear lr warm-up steps: lets AdamW's moment estimates settle before the peak lr
    clip: float = 1.0  # gradient-norm clip: a from-scratch decoder's early steps spike
    size: int = 256  # scene side in px: the nano encoder's input, a 32 x 32 embedding at stride 8
    focal_weight: float = FOCAL_WEIGHT  # final focal weight (dice: 1): SAM's 20 : 1
    focal_start: float = 2.0  # first focal weight: at 20 from step 0 every mask went empty within ~30 steps
    focal_ramp: tuple[float, float] = (0.35, 0.75)  # progress span of the geometric ramp to --focal-weight
    tie_qk: float = 4.0  # init: cross-attention k_proj = q_proj x this (0: off), a click attends at itself
    content_scale: float = 0.1  # init: content added to positional encodings x this; 1: decoder ignored prompts
    pe_scale: float = 3.0  # init std of the prompt encoder's Fourier matrix (SAM: 1): sharp at 8 px cells
    aux_weight: float = 1.0  # dense embedding loss weight (0: off): 12-min oracle 0.312 with it, 0.265 without
    aux_dim: int = 32  # instance-embedding width per granularity: unit vectors for a scene's few dozen objects
    dense_frac: float = 0.0  # first fraction trained encoder-only (needs aux); 0.08 ended level, 0.702 vs 0.704
    sky_frac: float = 0.0  # chance of a no-object sky step; 0.05 fixed the sky score but cost mIoU (0.660)
    nested_frac: float = 0.0  # share of targets clicked inside one of their parts (button -> person); data.py
    seed: int = 0  # all init and data randomness: step s draws from (seed, s[, rank])
    workers: int | None = None  # data-parallel processes (default 2 on a CPU, else 1): 2 images/0.58 s vs 1/0.37 s
    threads: int | None = None  # torch threads per worker (default: the CPUs / --workers, at least 1)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"  # auto: cuda -> mps -> cpu, use what is there
    amp: Literal["bf16", "off"] = "bf16"  # bf16 autocast on CUDA only; CPU and MPS always compute in float32
    fused: Literal["auto", "on", "off"] = "auto"  # fused decoder attention (auto: time both, keep if 3% faster)
    log_every: int = 10  # steps per log row: ~6 s of CPU training, fine enough for the Loss page's curves
    ckpt_minutes: float = 4.0  # minutes between checkpoints: a stopped run loses at most this much
    smoke: bool = False  # a ~1-minute check: 40 steps, small batches, no export
    no_export: bool = False  # keep the result in OUT, do not copy it to assets/models/nano
    preset: Literal["none", "gpu"] = "none"  # a named set of defaults (PRESETS); flags given with it win


# The one-command retrain on a single NVIDIA H100 / H200 in <= 10 minutes (9 of training, then export).
# One process (scenes render on its CPU core, the model runs on the GPU), 16 images x 8 prompts per step,
# fused attention and bf16 autocast. Not yet run on a GPU by this project: the MODEL_CARD says so.
PRESETS: dict[str, dict] = {
    "none": {},
    "gpu": {"device": "cuda", "workers": 1, "batch": 16, "minutes": 9.0, "fused": "on", "amp": "bf16"},
}


def field_help() -> dict[str, str]:
    """Each field's why-comment (the text after `#` on its line in TrainConfig's source), for --help."""
    source = inspect.getsource(TrainConfig)
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^    (\w+):[^#\n]*#(.*)$", source, re.M)}


def _argument(name: str, kind, default, help_text: str) -> tuple[str, dict]:
    """The add_argument call for one field, from its type: bool -> a switch, X | None -> type X,
    tuple[float, float] -> two values, Literal[...] -> choices."""
    flag = "--" + name.replace("_", "-")
    help_text = help_text.replace("%", "%%")  # argparse formats help with %
    if kind is bool:
        return flag, {"action": "store_true", "help": help_text}
    shown = help_text if default is None else f"{help_text} (default: %(default)s)"
    opts: dict = {"default": default, "help": shown}
    if isinstance(kind, types.UnionType):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if typing.get_origin(kind) is Literal:
        return flag, {**opts, "choices": typing.get_args(kind)}
    if typing.get_origin(kind) is tuple:
        items = typing.get_args(kind)
        return flag, {**opts, "type": items[0], "nargs": len(items)}
    return flag, {**opts, "type": kind}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sam_core.training",
                                description="Train the embedded nano SAM on the procedural scenes.")
    hints, helps = typing.get_type_hints(TrainConfig), field_help()
    for f in dataclasses.fields(TrainConfig):
        flag, opts = _argument(f.name, hints[f.name], f.default, helps[f.name])
        p.add_argument(flag, **opts)
    return p


def finalize(cfg: TrainConfig, device_type: str) -> TrainConfig:
    """Fill the defaults that depend on other settings (and --smoke), then check the whole; `device_type`
    is where the run will compute ("cpu", "cuda", "mps"). Raises ValueError for an impossible config."""
    c = dataclasses.replace(cfg, focal_ramp=tuple(cfg.focal_ramp))
    if c.smoke:
        c = dataclasses.replace(
            c, no_export=True, steps=40 if c.steps is None and c.minutes is None else c.steps,
            batch=min(c.batch, 2), prompts=min(c.prompts, 4), rounds=min(c.rounds, 2), warmup=min(c.warmup, 5),
            log_every=min(c.log_every, 2), lr=max(c.lr, 1e-3), fused="off" if c.fused == "auto" else c.fused)
    if c.workers is None:  # an accelerator is one device: one process feeds it
        c = dataclasses.replace(c, workers=1 if c.smoke or device_type != "cpu" else 2)
    if c.threads is None:
        c = dataclasses.replace(c, threads=max(1, (os.cpu_count() or 1) // max(1, c.workers)))
    if c.workers < 1 or c.threads < 1:
        raise ValueError("--workers and --threads must be at least 1")
    if c.workers > 1 and device_type != "cpu":
        raise ValueError(f"--workers {c.workers}: data-parallel workers share CPU cores; use 1 on {device_type}")
    if not 0.0 <= c.sky_frac < 1.0:
        raise ValueError("--sky-frac must be in [0, 1)")
    if not 0.0 <= c.nested_frac <= 1.0:
        raise ValueError("--nested-frac must be in [0, 1]")
    if not 0.0 <= c.dense_frac < 1.0 or (c.dense_frac > 0 and c.aux_weight <= 0):
        raise ValueError("--dense-frac must be in [0, 1) and needs --aux-weight > 0")
    if c.steps is None:
        c = dataclasses.replace(c, steps=10**9 if c.minutes else 4000)
    return c


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """The command line -> a finalized TrainConfig (exits with a usage message if it is impossible)."""
    from sam_core.training.hardware import training_device

    parser = build_parser()
    preset = parser.parse_known_args(argv)[0].preset
    parser.set_defaults(**PRESETS[preset])
    cfg = TrainConfig(**vars(parser.parse_args(argv)))
    try:
        return finalize(cfg, training_device(cfg.device, cfg.amp).device.type)
    except ValueError as err:
        parser.error(str(err))
