"""The training loop: `python -m sam_core.training` (see `config.TrainConfig` for every flag).

    python -m sam_core.training --out runs/nano --minutes 85 --seed 0   # the committed model (2 CPU workers)
    python -m sam_core.training --out runs/nano --resume                # continue after a stop
    python -m sam_core.training --out runs/gpu --preset gpu             # one NVIDIA H100 / H200, <= 10 min
    python -m sam_core.training --out /tmp/smoke --smoke                # ~1 minute check

Each step: render the step's scenes, run one interactive episode per worker (`episode`), average the
gradients over the workers (`workers`), clip, AdamW step with the scheduled lr (`schedule`). Deterministic
by seed: the data and prompts of step s come from generators seeded with (seed, s) (and the worker's rank
with --workers > 1), so a resumed run sees the same data as an uninterrupted one. With `--minutes` the
schedule follows max(step / steps, elapsed / minutes) and training stops when it reaches 1: the run ends on
time, at the price of bit-exact reproducibility (use `--steps` alone for that).

Outputs in --out: train_log.csv (`log`), config.json, last.pt (resumable) and at the end
sam_nano.safetensors; unless --no-export (or --smoke), the weights and the log are also copied to
assets/models/nano/ (sam_nano.safetensors, training_log.csv).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sam_core.sam1.build import NANO_DECODER, NANO_WEIGHTS
from sam_core.training.checkpoints import (
    export_safetensors,
    load_checkpoint,
    load_init_weights,
    save_checkpoint,
)
from sam_core.training.config import TrainConfig, parse_args
from sam_core.training.data import sample_batch, sample_no_object_batch
from sam_core.training.dense_aux import InstanceEmbeddingHead
from sam_core.training.episode import dense_only_loss, interactive_loss, measure_fused
from sam_core.training.hardware import training_device
from sam_core.training.log import StatSums, TrainLog, truncate_log
from sam_core.training.model_setup import build_optimizer, initial_model, set_fused_attention
from sam_core.training.schedule import focal_weight_at, lr_at, phase_progress
from sam_core.training.workers import (
    average_gradients,
    check_same_weights,
    from_rank0,
    gather,
    launch,
    sync_parameters,
)


def main(argv: list[str] | None = None) -> int:
    """Parse the flags and train (in --workers processes); 0 on success."""
    cfg = parse_args(argv)
    if cfg.workers > 1:
        return launch(train_worker, cfg, cfg.workers)
    # Subnormal floats appear as the model trains and slow CPU kernels down: a step of a model trained
    # for 1,400 steps took 1.1 s without flushing them to zero and 0.72 s with it (1 thread, busy CPU).
    # The setting is process-wide, so it is switched back off (torch's default) when training returns.
    torch.set_flush_denormal(True)
    try:
        return train_worker(cfg)
    finally:
        torch.set_flush_denormal(False)


def step_batch(cfg: TrainConfig, step: int, dense: bool, data_key: list[int]):
    """The scenes and prompt generator of one worker's step: (batch on the CPU, torch generator)."""
    rng = np.random.default_rng([cfg.seed, step, 1, *data_key])
    gen = torch.Generator().manual_seed(int(np.random.default_rng([cfg.seed, step, 2, *data_key]).integers(2**62)))
    sky = (not dense and cfg.sky_frac > 0
           and np.random.default_rng([cfg.seed, step, 3, *data_key]).random() < cfg.sky_frac)
    if sky:
        return sample_no_object_batch(rng, cfg.batch, cfg.prompts, cfg.size), gen
    return sample_batch(rng, cfg.batch, 0 if dense else cfg.prompts, cfg.size, nested=cfg.nested_frac), gen


def train_worker(cfg: TrainConfig, rank: int = 0) -> int:
    """The training loop of one worker (rank 0 of 1 without --workers; see `workers`)."""
    torch.set_num_threads(cfg.threads)
    hw = training_device(cfg.device, cfg.amp)
    if hw.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # every step has the same shapes
    main_worker = rank == 0
    say = (lambda msg: print(msg, flush=True)) if main_worker else (lambda msg: None)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / "last.pt", out / "train_log.csv"

    model = initial_model(cfg)
    aux_head = InstanceEmbeddingHead(NANO_DECODER.prompt_embed_dim, cfg.aux_dim) if cfg.aux_weight > 0 else None
    model.to(hw.device).train()
    named = list(model.named_parameters())
    if aux_head is not None:
        aux_head.to(hw.device)
        named += [("aux_head." + n, q) for n, q in aux_head.named_parameters()]
    optimizer = build_optimizer(named, cfg.lr, cfg.weight_decay, cfg.encoder_lr_mult)
    step, elapsed0 = 0, 0.0
    interactive_from = None  # first step of the interactive phase (after --dense-frac)
    if cfg.resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        model.load_state_dict(ck["model"])
        if aux_head is not None and "aux_head" in ck:
            aux_head.load_state_dict(ck["aux_head"])
        optimizer.load_state_dict(ck["optimizer"])
        step, elapsed0 = int(ck["step"]), float(ck["elapsed"])
        interactive_from = ck.get("interactive_from")
        torch.set_rng_state(ck["torch_rng"])
        if main_worker:
            truncate_log(log_path, step)
        say(f"resumed from {ckpt_path} at step {step} ({elapsed0 / 60:.1f} min)")
    else:
        if log_path.exists() and main_worker:
            log_path.unlink()
        if cfg.init:
            model.load_state_dict(load_init_weights(cfg.init))
            say(f"initialised from {cfg.init}")
    sync_parameters(model)  # the same seed gives the same init on every worker; this makes sure of it
    if aux_head is not None:
        sync_parameters(aux_head)

    if cfg.fused == "auto":
        times = measure_fused(model, cfg.batch, cfg.prompts, cfg.rounds, cfg.size, hw.device)
        use_fused = from_rank0(times[True] < 0.97 * times[False])
        say(f"decoder attention: explicit {times[False]:.2f} s/step, fused {times[True]:.2f} s/step -> "
            f"{'fused' if use_fused else 'explicit'}")
    else:
        use_fused = cfg.fused == "on"
    set_fused_attention(model, use_fused)
    if main_worker:
        (out / "config.json").write_text(json.dumps(
            {**dataclasses.asdict(cfg), "use_fused": use_fused, "device_used": str(hw.device), "bf16": hw.bf16,
             "python": sys.version.split()[0], "torch": torch.__version__, "machine": platform.machine()},
            indent=2))
    say(f"training on {hw.device}{' with bf16 autocast' if hw.bf16 else ''}")
    log = TrainLog(log_path) if main_worker else None
    budget = cfg.minutes * 60 if cfg.minutes else None
    t_start = time.perf_counter()
    last_ckpt = t_start
    sums, sums_t = StatSums(), time.perf_counter()

    def elapsed() -> float:
        return elapsed0 + time.perf_counter() - t_start

    def progress(s: int) -> float:  # rank 0's clock decides, so every worker stops at the same step
        p = s / cfg.steps
        if budget:
            p = max(p, from_rank0(elapsed()) / budget)
        return p

    def checkpoint() -> None:
        save_checkpoint(ckpt_path, model, optimizer, step, elapsed(), cfg, aux_head, interactive_from)

    all_params = [q for _, q in named]
    encoder_side_params = [q for name, q in named if not name.startswith(("prompt_encoder.", "mask_decoder."))]
    data_key = [] if cfg.workers == 1 else [rank]  # one worker: the same scenes as before workers existed
    while step < cfg.steps and (prog := progress(step)) < 1.0:
        if cfg.stop_at is not None and step >= cfg.stop_at:
            if main_worker:
                log.close()
                checkpoint()
            say(f"stopped at step {step}; continue with --resume")
            return 0
        dense, phase_prog = phase_progress(prog, cfg.dense_frac)
        if not dense and interactive_from is None:
            interactive_from = step
        phase_step = step if dense else step - interactive_from
        batch, gen = step_batch(cfg, step, dense, data_key)
        batch = batch.to(hw.device)
        lr = lr_at(phase_step, phase_prog, cfg.lr, cfg.warmup)
        for g in optimizer.param_groups:
            g["lr"] = lr * g["lr_mult"]
        fw = focal_weight_at(0.0 if dense else phase_prog, cfg.focal_start, cfg.focal_weight, cfg.focal_ramp)
        if dense:
            loss, stats = dense_only_loss(model, batch, aux_head, hw.bf16)
        else:
            loss, stats = interactive_loss(model, batch, gen, cfg.rounds, focal_weight=fw, aux_head=aux_head,
                                           aux_weight=cfg.aux_weight, bf16=hw.bf16)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # The dense phase leaves the prompt encoder and decoder without gradients: AdamW then skips them
        # (no update, no weight decay), so the decoder keeps its init for the interactive phase.
        params = encoder_side_params if dense else all_params
        average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        optimizer.step()
        step += 1

        sums.add(stats)
        if step % cfg.log_every == 0 or step == cfg.steps:
            now = time.perf_counter()
            every = gather((sums.sums, sums.steps))  # every worker's sums, so the log covers all of the batch
            if main_worker:
                log.write(step, elapsed(), lr, fw, (now - sums_t) / sums.steps, every)
            sums, sums_t = StatSums(), now
        if main_worker and time.perf_counter() - last_ckpt > cfg.ckpt_minutes * 60:
            checkpoint()
            last_ckpt = time.perf_counter()

    check_same_weights(model)
    if not main_worker:
        return 0
    log.close()
    checkpoint()
    model.eval()
    set_fused_attention(model, False)
    export_safetensors(model, out / "sam_nano.safetensors")
    say(f"done: {step} steps in {elapsed() / 60:.1f} min -> {out / 'sam_nano.safetensors'}")
    if not cfg.no_export:
        NANO_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "sam_nano.safetensors", NANO_WEIGHTS)
        shutil.copyfile(log_path, NANO_WEIGHTS.parent / "training_log.csv")
        say(f"exported to {NANO_WEIGHTS} and {NANO_WEIGHTS.parent / 'training_log.csv'}")
    return 0
