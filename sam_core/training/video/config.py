"""VideoTrainConfig: every flag of `python -m sam_core.training.video`, its default and why."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

IOU_LOSSES = ("l1", "mse")


@dataclass
class VideoTrainConfig:
    out: str = "runs/sam2_nano"  # run folder: train_log.csv, last.pt, config.json, the exported weights
    minutes: float = 0.0  # wall-time budget (the schedule follows max(step/steps, elapsed/minutes)); 0: by steps
    steps: int = 2000  # step budget (ends the run when --minutes is 0 or reached first)
    seed: int = 0  # data and init seed: step s draws its clip from (seed, s), so a resumed run sees the same data
    clip_frames: int = 8  # SAM 2 trains on 8-frame clips
    objects: int = 2  # tracked objects per clip (one batch through the memory path; SAM 2: up to 3 per video)
    object_weight: float = 1.0  # draw weight of whole-object tracks against parts and groups (clips.pick_tracks)
    memory_dropout: float = 0.0  # SAM 2: 0.1; on a CPU, dropout forces the unfused attention (~3x slower step)
    p_point: float = 0.4  # first-frame prompt: a click ... (SAM 2.1: 0.25; the evaluation starts from clicks)
    p_box: float = 0.3  # ... a noisy box (SAM 2.1: 0.25) ... and otherwise the ground-truth mask
    max_correction_frames: int = 2  # SAM 2: corrective clicks on up to 2 more frames, from the error region
    lr: float = 1e-3  # AdamW; the memory path starts from random weights, the rest from the embedded SAM 1
    encoder_lr_scale: float = 0.1  # the image encoder (trained by SAM 1) moves more slowly, as SAM 2's lr decay
    train_encoder: bool = False  # CPU default: the encoder is frozen (its backward is most of the step's cost)
    weight_decay: float = 0.05
    warmup: int = 30
    clip_grad: float = 0.1  # SAM 2.1's gradient clipping
    focal_weight: float = 20.0  # SAM 2's 20 focal : 1 dice : 1 IoU : 1 object score
    dice_weight: float = 1.0
    iou_weight: float = 1.0
    iou_loss: str = "l1"  # SAM 2.1's `iou_use_l1_loss: true`: |predicted - actual IoU|; "mse": stages 1-3 (SAM 1's)
    score_weight: float = 1.0
    threads: int = 1  # on the shared 2-core CPU one thread was 4x faster per step than two (contention)
    device: str = "auto"  # auto | cpu | cuda | mps (sam_core.training.hardware)
    init: str = ""  # initial weights: "" = the embedded SAM 1 (+ random memory path), or a sam2_nano .safetensors
    sam1_weights: str = ""  # the embedded SAM 1 to start from ("" = assets/models/nano/sam_nano.safetensors)
    resume: bool = False  # continue from OUT/last.pt
    overfit_clips: int = 0  # > 0: cycle through this many fixed clips (the smoke test: the loss must go down)
    log_every: int = 10
    save_every: int = 50
    export: bool = True  # copy the weights and log to assets/models/sam2_nano/ at the end


def parse_args(argv: list[str] | None = None) -> VideoTrainConfig:
    parser = argparse.ArgumentParser(prog="python -m sam_core.training.video", description=__doc__)
    for f in dataclasses.fields(VideoTrainConfig):
        name = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(name, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            kind = {"float": float, "int": int, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
            parser.add_argument(name, type=kind, default=f.default)
    cfg = VideoTrainConfig(**vars(parser.parse_args(argv)))
    if cfg.iou_loss not in IOU_LOSSES:
        parser.error(f"--iou-loss must be one of {', '.join(IOU_LOSSES)}, not {cfg.iou_loss!r}")
    if cfg.object_weight <= 0:
        parser.error("--object-weight must be > 0")
    return cfg
