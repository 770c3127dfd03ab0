"""Train the embedded SAM 3 on the scenes' concepts: `python -m sam_core.training.concepts --out runs/sam3`.

Resumable: `last.pt` (model, optimizer, step, elapsed seconds; loaded with weights_only=True) is written
every `save_every` steps and at the end; rerunning the same command continues from it. The data of step
s is a pure function of (seed, s), so a resumed run sees what the uninterrupted run would have seen.
At the end `sam3_nano.safetensors` (the model's state_dict) and `training_log.csv` are in `--out`.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from sam_core.sam3.nano import (
    TRUNK_PREFIX,
    build_sam3_nano,
    build_sam3_nano_from_config,
    load_sam1_image_encoder,
)
from sam_core.training.checkpoints import export_safetensors
from sam_core.training.concepts.alignment import model_alignment_loss
from sam_core.training.concepts.data import PromptMix, images_to_tensor, sample_batch
from sam_core.training.concepts.forward import forward_prompts
from sam_core.training.concepts.objectives import RECIPES, LossWeights, concept_losses
from sam_core.training.hardware import DEVICES, training_device

SAM1_NANO = Path(__file__).resolve().parents[3] / "assets" / "models" / "nano" / "sam_nano.safetensors"
LOG_FIELDS = ("step", "wall_s", "lr", "total", "cls", "l1", "giou", "mask", "presence", "align", "s_per_step")


@dataclass
class ConceptTrainConfig:
    out: str = "runs/sam3_nano"
    minutes: float = 3.0  # wall-clock budget of this invocation (a resumed run gets a fresh budget)
    max_steps: int = 100_000  # the schedule's length; the wall clock usually ends the run first
    seed: int = 0
    device: str = "auto"
    threads: int = 2  # the project's CPU has 2 cores
    n_images: int = 2  # images per step: the trunk runs once per image ...
    prompts_per_image: int = 4  # ... and the detector once per prompt (cheaper), so several prompts share it
    lr: float = 4e-4  # AdamW, for the detector and text tower (random init)
    trunk_lr_scale: float = 0.25  # the trunk starts from the nano SAM's weights: move it more gently
    freeze_trunk: int = 1  # 1: keep the nano SAM's image encoder fixed (its backward is a third of a CPU step)
    weight_decay: float = 0.05
    warmup: int = 150
    grad_clip: float = 1.0
    hard_negative: float = 0.5  # of the absent-phrase prompts, the share with a present phrase's noun (PromptMix)
    paired: float = 0.0  # share of images whose first two prompts are a contrast pair ("red car" / "blue car")
    align_weight: float = 0.0  # > 0: add the region-text alignment loss (alignment.py) at this weight
    align_temperature: float = 0.1  # its softmax temperature: lower asks for larger cosine gaps between phrases
    loss: str = "sam3"  # "sam3": Meta's SAM 3 loss forms and weights; "nano_v1": what stages 1-3 used (objectives.py)
    schedule_minutes: float = 0.0  # > 0: cosine decay over this many minutes of wall time instead of steps
    init: str = ""  # a sam3_nano.safetensors to continue from (a later stage); empty: random + SAM 1 trunk
    sam1: str = str(SAM1_NANO)  # the nano SAM's weights: its image encoder initialises the trunk
    save_every: int = 100
    log_every: int = 10


def _cli() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sam_core.training.concepts", description=__doc__)
    for f in dataclasses.fields(ConceptTrainConfig):
        kw = {"choices": DEVICES} if f.name == "device" else {"choices": RECIPES} if f.name == "loss" else {}
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default, **kw)
    return parser


def learning_rate_factor(cfg: ConceptTrainConfig, step: int, elapsed_s: float) -> float:
    """Linear warm-up, then cosine to 2% over max_steps (or over schedule_minutes of wall time)."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = elapsed_s / (cfg.schedule_minutes * 60) if cfg.schedule_minutes > 0 else step / cfg.max_steps
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_model(cfg: ConceptTrainConfig):
    if cfg.init:
        return build_sam3_nano(cfg.init)
    model = build_sam3_nano_from_config()
    if cfg.sam1:
        load_sam1_image_encoder(model, cfg.sam1)
    return model


def make_optimizer(model, cfg: ConceptTrainConfig) -> torch.optim.AdamW:
    # the nano SAM's encoder; the trunk's new pixel-colour branch trains at the full rate and is never frozen
    trunk = [p for n, p in model.named_parameters() if n.startswith(TRUNK_PREFIX)]
    if cfg.freeze_trunk:
        for p in trunk:
            p.requires_grad_(False)
        trunk = []
    trunk_ids = {id(p) for p in trunk}
    rest = [p for p in model.parameters() if id(p) not in trunk_ids]
    return torch.optim.AdamW([{"params": rest, "lr_scale": 1.0}, {"params": trunk, "lr_scale": cfg.trunk_lr_scale}],
                             lr=cfg.lr, weight_decay=cfg.weight_decay)


def train_step(model, optimizer, cfg: ConceptTrainConfig, step: int, device, weights: LossWeights) -> dict:
    mix = PromptMix(hard_negative=cfg.hard_negative, paired=cfg.paired)
    batch = sample_batch(step, cfg.seed, cfg.n_images, cfg.prompts_per_image, mix)
    pixels = images_to_tensor(batch.images, device)
    outputs = forward_prompts(model, pixels, batch.prompts)
    boxes = [torch.from_numpy(p.boxes).to(device) for p in batch.prompts]
    masks = [torch.from_numpy(p.masks).to(device) for p in batch.prompts]
    losses = concept_losses(outputs, boxes, masks, weights)
    losses["align"] = model_alignment_loss(model, outputs["vision_features"], batch.regions, cfg.align_temperature)
    if cfg.align_weight > 0:
        losses["total"] = losses["total"] + cfg.align_weight * losses["align"]
    optimizer.zero_grad(set_to_none=True)
    losses["total"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return {k: float(v.detach()) for k, v in losses.items()}


def save_state(path: Path, model, optimizer, step: int, elapsed: float) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "elapsed": elapsed},
               tmp)
    os.replace(tmp, path)


def train(cfg: ConceptTrainConfig) -> Path:
    """Run (or resume) training; returns the exported safetensors path."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = training_device(cfg.device).device
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model = make_model(cfg).to(device).train()
    optimizer = make_optimizer(model, cfg)
    step, elapsed = 0, 0.0
    last = out / "last.pt"
    if last.exists():
        state = torch.load(last, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed = int(state["step"]), float(state["elapsed"])
        print(f"resumed at step {step} ({elapsed / 60:.1f} min)", flush=True)
    log_path = out / "training_log.csv"
    new_log = not log_path.exists()
    weights = LossWeights.for_recipe(cfg.loss)
    start = time.perf_counter()
    sums: dict[str, float] = {}
    n_sum = 0
    with open(log_path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, LOG_FIELDS)
        if new_log:
            writer.writeheader()
        while step < cfg.max_steps and time.perf_counter() - start < cfg.minutes * 60:
            now = elapsed + time.perf_counter() - start
            factor = learning_rate_factor(cfg, step, now)
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * factor * group["lr_scale"]
            t0 = time.perf_counter()
            stats = train_step(model, optimizer, cfg, step, device, weights)
            stats["s_per_step"] = time.perf_counter() - t0
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
            n_sum += 1
            step += 1
            if step % cfg.log_every == 0:
                row = {k: round(v / n_sum, 5) for k, v in sums.items()}
                writer.writerow({"step": step, "wall_s": round(elapsed + time.perf_counter() - start, 1),
                                 "lr": cfg.lr * factor, **row})
                fh.flush()
                print(f"step {step} loss {row['total']:.3f} mask {row['mask']:.3f} pres {row['presence']:.3f}"
                      f" align {row['align']:.3f}"
                      f" {row['s_per_step']:.2f}s/step", flush=True)
                sums, n_sum = {}, 0
            if step % cfg.save_every == 0:
                save_state(last, model, optimizer, step, elapsed + time.perf_counter() - start)
    elapsed += time.perf_counter() - start
    save_state(last, model, optimizer, step, elapsed)
    export = out / "sam3_nano.safetensors"
    export_safetensors(model.eval(), export)
    print(f"done: {step} steps, {elapsed / 60:.1f} min; weights {export}", flush=True)
    return export


def main(argv: list[str] | None = None) -> int:
    train(ConceptTrainConfig(**vars(_cli().parse_args(argv))))
    return 0
