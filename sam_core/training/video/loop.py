"""The training loop: seeded clips, AdamW with warm-up + cosine decay by wall time, CSV log, resume, export.

Run folder (`--out`): train_log.csv (LOG_FIELDS, one row per --log-every steps: means since the last row),
last.pt (model, optimizer, step, elapsed: `--resume` continues it), config.json, and the exported
weights-only sam2_nano.safetensors (the model's state_dict, nothing else), copied with the log to
assets/models/sam2_nano/ at the end unless --no-export.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from sam_core.sam2.nano import NANO_SAM2_WEIGHTS, NanoSAM2Base, build_sam2_nano_model, init_from_sam1
from sam_core.training.hardware import training_device
from sam_core.training.schedule import lr_at
from sam_core.training.video.clips import sample_clip
from sam_core.training.video.config import VideoTrainConfig, parse_args
from sam_core.training.video.episode import run_clip

LOG_FIELDS = ["step", "wall_s", "lr", "loss", "j_visible", "j_tracked", "j_first", "j_first_selected", "iou_head_abs_err",
              "score_acc", "hidden_recall", "s_per_step"]
EXPORT_DIR = NANO_SAM2_WEIGHTS.parent


def export_weights(model: torch.nn.Module, path: Path) -> None:
    """Weights only: the model's state_dict as safetensors (CPU, contiguous), written atomically."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "model": "sam_core sam2 nano"})
    os.replace(tmp, path)


def build_training_model(cfg: VideoTrainConfig, device: torch.device) -> NanoSAM2Base:
    torch.manual_seed(cfg.seed)
    model = build_sam2_nano_model(NanoSAM2Base)
    if cfg.init:
        from sam_core.weights.checkpoint import load_state_dict

        model.load_state_dict(load_state_dict(cfg.init), strict=True)
    else:
        init_from_sam1(model, *([cfg.sam1_weights] if cfg.sam1_weights else []))
        zero_init_memory_residuals(model)
    set_memory_dropout(model, cfg.memory_dropout)
    return model.to(device)


def zero_init_memory_residuals(model: torch.nn.Module) -> None:
    """Start the memory attention as (almost) the identity: the last projection of each residual branch
    (self-attention, cross-attention, FFN) at zero, so a tracked frame first reaches the embedded SAM 1's
    decoder as its own features (+ 0.1 x position, layer-normed) and the memory's contribution grows from 0."""
    for layer in model.memory_attention.layers:
        for linear in (layer.self_attn.out_proj, layer.cross_attn_image.out_proj, layer.linear2):
            torch.nn.init.zeros_(linear.weight)
            torch.nn.init.zeros_(linear.bias)


def set_memory_dropout(model: torch.nn.Module, p: float) -> None:
    """Dropout of the memory attention (its attention weights and residual branches)."""
    for module in model.memory_attention.modules():
        if hasattr(module, "dropout_p"):
            module.dropout_p = p
        if isinstance(module, torch.nn.Dropout):
            module.p = p


def make_optimizer(model: torch.nn.Module, cfg: VideoTrainConfig) -> torch.optim.AdamW:
    """Two groups: the image encoder at lr x encoder_lr_scale (if trained), the rest at lr; no decay on 1-d params."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in model.named_parameters():
        is_encoder = name.startswith("image_encoder.")
        if is_encoder and not cfg.train_encoder:
            p.requires_grad_(False)
            continue
        groups.setdefault((is_encoder, p.ndim <= 1), []).append(p)
    params = [{"params": ps, "lr_scale": cfg.encoder_lr_scale if enc else 1.0,
               "weight_decay": 0.0 if flat else cfg.weight_decay} for (enc, flat), ps in groups.items()]
    return torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.999))


def train(cfg: VideoTrainConfig) -> dict:
    torch.set_num_threads(cfg.threads)
    torch.set_flush_denormal(True)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = training_device(cfg.device, "off").device
    model = build_training_model(cfg, device)
    model.train()
    optimizer = make_optimizer(model, cfg)
    step, elapsed0 = 0, 0.0
    ckpt = out / "last.pt"
    if cfg.resume and ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed0 = state["step"], state["elapsed"]
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))
    log_path = out / "train_log.csv"
    if step == 0 or not log_path.exists():
        with log_path.open("w", newline="") as f:
            csv.DictWriter(f, fieldnames=LOG_FIELDS).writeheader()
    else:  # drop rows logged after the checkpoint
        with log_path.open() as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        with log_path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            w.writeheader()
            w.writerows(rows)
    t_start = time.time()

    def elapsed() -> float:
        return elapsed0 + time.time() - t_start

    def progress(s: int) -> float:
        p = s / cfg.steps
        return max(p, elapsed() / (cfg.minutes * 60)) if cfg.minutes > 0 else p

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    "elapsed": elapsed(), "args": dataclasses.asdict(cfg)}, tmp)
        os.replace(tmp, ckpt)

    sums: dict[str, list[float]] = {}
    t_row = time.time()
    while progress(step) < 1.0:
        rng = np.random.default_rng([cfg.seed, step % cfg.overfit_clips if cfg.overfit_clips > 0 else step])
        gen = torch.Generator().manual_seed(int(rng.integers(1 << 62)))
        clip = sample_clip(rng, gen, cfg.clip_frames, cfg.objects, p_point=cfg.p_point, p_box=cfg.p_box,
                           object_weight=cfg.object_weight)
        lr = lr_at(step, progress(step), cfg.lr, cfg.warmup)
        for g in optimizer.param_groups:
            g["lr"] = lr * g["lr_scale"]
        loss, stats = run_clip(model, clip, cfg, rng, gen, device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], cfg.clip_grad)
        optimizer.step()
        step += 1
        for k in LOG_FIELDS[3:-1]:
            if not np.isnan(stats[k]):
                sums.setdefault(k, []).append(stats[k])
        if step % cfg.log_every == 0:
            row = {"step": step, "wall_s": round(elapsed(), 1), "lr": f"{lr:.3e}",
                   "s_per_step": round((time.time() - t_row) / cfg.log_every, 3)}
            row.update({k: round(float(np.mean(sums[k])), 4) if sums.get(k) else "" for k in LOG_FIELDS[3:-1]})
            with log_path.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=LOG_FIELDS).writerow(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            sums, t_row = {}, time.time()
        if step % cfg.save_every == 0:
            save()
    save()
    export_weights(model, out / NANO_SAM2_WEIGHTS.name)
    if cfg.export:
        EXPORT_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / NANO_SAM2_WEIGHTS.name, NANO_SAM2_WEIGHTS)
        shutil.copy(log_path, EXPORT_DIR / "training_log.csv")
    return {"step": step, "elapsed": elapsed()}


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    result = train(cfg)
    print(f"done: {result['step']} steps in {result['elapsed'] / 60:.1f} min", flush=True)
    return 0
