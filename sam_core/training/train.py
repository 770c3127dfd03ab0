"""Train the embedded "nano" SAM with SAM's interactive recipe on the lesson's procedural scenes.

    python -m sam_core.training.train --out runs/nano --minutes 85 --seed 0        # the committed model (2 workers)
    python -m sam_core.training.train --out runs/nano --resume                     # continue after a stop
    python -m sam_core.training.train --out /tmp/smoke --smoke                     # ~1 minute check

The recipe (Kirillov et al. 2023, section 3 and appendix A), scaled to a 2-core CPU:
- data: scenes rendered on the fly at 256 px (every kind except "sky"), scene seeds < 1,000,000
  (seeds >= 1,000,000 are held out for `sam_core.training.evaluate`).
- `--workers 2` data-parallel processes (`sam_core.training.workers`), each with 1 thread on this 2-core
  machine and its own scene per step; their gradients are averaged, so a step sees 2 images. Two 1-thread
  workers did 2 images per 0.58 s; one 2-thread process did 1 image per 0.37 s (the same machine, idle).
- per worker, `--batch 1` image per step and `--prompts 8` target masks in it (in 12-minute runs, 1 x 8 beat 2 x 4 on
  the IoU head's choice, 0.19 against 0.11 mIoU, and on Pearson, 0.55-0.58 against 0.07, for a lower
  oracle, 0.275 against 0.312; two seeds each), each at a random granularity (part / object / group, uniformly
  among the levels the scene has, then an object of that level uniformly).
- first prompt, with equal probability: one point uniform in the target mask, or its bounding box with
  Gaussian noise on each coordinate (std 10% of the side, clipped to 20 px).
- then `--rounds - 1` correction rounds: a point sampled uniformly from the error region of the previous
  prediction (a missed pixel -> foreground click, a spurious pixel -> background click), with the previous
  low-res logits (detached) as `mask_input`.
- a single-point prompt uses multimask output (3 masks, loss only on the minimum-loss mask, IoU MSE on all
  3); every other prompt uses the single-mask output (token 0), as SAM does.
- loss = 20 focal + 1 dice + IoU MSE, averaged over prompt sets and rounds; AdamW, linear warm-up then
  cosine decay, gradient clipping at 1.0.

Five changes for training from random weights in minutes (SAM starts from an MAE-pretrained encoder and
trains for days); each is an option, and the defaults are what the committed model used:
- `--aux-weight 1`: a dense loss on the image embedding for every object of every scene at every
  granularity (`sam_core.training.dense_aux`; a training-only head, not exported). It stands in for the pretrained
  encoder: in 12-minute runs (1 thread each, two side by side, evaluated on 48 held-out scenes / 160
  targets) the 1-click oracle mIoU was 0.312 with it (two seeds: 0.312, 0.312) and 0.265 without; weight 3
  gave 0.314. The MODEL_CARD lists every comparison.
- focal-weight warm-up (`--focal-start 2 --focal-ramp 0.35 0.75`): 2 focal : 1 dice until 35% of the
  run, then a geometric ramp to SAM's 20 : 1, which the last quarter of the run uses. At 20 : 1 from
  step 0 every mask collapsed to "empty" within ~30 steps, and the first-prompt train IoU reached 0.1
  only after ~1,000 steps; at 2 : 1 after ~300 (two runs of this script on this CPU).
- `--pe-scale 3`: the prompt encoder's random Fourier frequencies are N(0, 3^2) instead of N(0, 1) at
  init (SAM's constructor has this `scale` argument; the matrix is stored in the weights), so the
  encoding of a point is sharp at the nano model's 32 x 32 grid (8 px cells).
- `--tie-qk 4` and `--content-scale 0.1` (init only): each decoder cross-attention starts with its key
  projection equal to its query projection (x4), and what is added to the positional encodings there
  (point-type and no-mask embeddings, the image embedding, the tokens after layer 0) starts 10x smaller.
  Then a click's token attends at the click and the image positions near the click attend to its token
  from step 0. Without this the decoder learned to ignore the prompt: after 2,000 steps, clicks on six
  different objects of one scene gave the same masks (within a few pixels); with it, the best masks for
  clicks on different objects overlapped at mean IoU 0.14 (street) and 0.02 (orchard) after 440 steps.

An optional encoder-only phase, `--dense-frac F`: the first F of the run (of its steps, or of its minutes)
trains the image encoder alone with the dense loss, on --batch images per worker and no prompts; the
prompt encoder and decoder get no gradient and keep their init. Then the interactive recipe runs with its
own warm-up, cosine decay and focal ramp over the rest. It stands in for SAM's pretrained encoder at a
quarter of the cost of an interactive step (0.16-0.25 s against 0.7-0.9 s for 2 images, 2 workers).
Off by default: in one full 85-minute run with `--dense-frac 0.08` (6.8 minutes of it, then 5,000
interactive steps; 6,609 steps in all) the held-out 1-click oracle mIoU was 0.702, against 0.704 for the
committed model's run without it (8,610 steps), and selected 0.614 / box 0.634 against 0.637 / 0.653. Per
interactive step it learned faster (first-round train IoU 0.264 against 0.181, 400-500 interactive steps
in), but by wall time the two runs were level; that run's steps were also slower (0.76-1.2 s against
0.56-0.61 s; the same code on another day of this shared machine), so it is not a clean comparison.

An optional negative example, `--sky-frac P`: with probability P a worker's step renders a sky scene
(no objects) instead, prompts it with uniform random points and boxes, and trains the IoU head to predict
0 for every mask there (no mask loss: there is no mask to learn). SAM's IoU head only ever sees prompts on
objects, so on the sky example it cannot say "nothing here"; this teaches it to. Off by default (SAM's
recipe); the MODEL_CARD says whether the committed model used it.

Deterministic by seed: all data and prompt randomness of step s comes from generators seeded with
(seed, s) (and the worker's rank with --workers > 1), so a resumed run sees the same data as an
uninterrupted one. With `--minutes` the schedule
follows max(step / steps, elapsed / minutes) and training stops when it reaches 1 — the run then ends on
time on a shared machine, at the price of bit-exact reproducibility (use `--steps` alone for that).

Outputs in --out: train_log.csv (every --log-every steps: step, wall time, lr, focal weight, focal, dice,
iou_mse, total,
train IoU per granularity, the dense loss and its soft IoU, sky_pred_iou (the mean predicted IoU on sky
prompts); the decoder's columns are NaN in the encoder-only phase, and a column is empty in a row whose
steps had none of it), last.pt (resumable checkpoint: model, optimizer, step, RNG), and at the end
sam_nano.safetensors; unless --no-export (or --smoke), the weights and the log are also copied to
assets/models/nano/ (sam_nano.safetensors, training_log.csv).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sam_core.losses import actual_iou, dice_loss, focal_loss, min_loss_assignment
from sam_core.sam1.build import NANO_DECODER, NANO_WEIGHTS, sam_model_registry
from sam_core.sam1.sam import Sam
from sam_core.sam1.transformer import Attention
from sam_core.scenes import SCENE_KINDS, render_scene
from sam_core.training.dense_aux import InstanceEmbeddingHead, instance_embedding_loss
from sam_core.training.workers import (
    average_gradients,
    check_same_weights,
    from_rank0,
    gather,
    launch,
    sync_parameters,
)

NANO_OUT_CHANS = NANO_DECODER.prompt_embed_dim  # the image embedding's channels
TRAIN_KINDS = tuple(k for k in SCENE_KINDS if k != "sky")
LEVELS = ("part", "object", "group")
HELD_OUT_SEED = 1_000_000  # training scene seeds are < this; evaluation uses seeds >= this
FOCAL_WEIGHT, DICE_WEIGHT = 20.0, 1.0
NO_OBJECT = "none"  # the level of a no-object target (a prompt on a sky scene: nothing to segment)
LOG_FIELDS = ["step", "wall_s", "lr", "focal_weight", "focal", "dice", "iou_mse", "total",
              "iou_part", "iou_object", "iou_group", "iou_first", "iou_last", "aux", "aux_iou",
              "sky_pred_iou", "s_per_step"]


# ----------------------------------------------------------------------------------------------- data
@dataclass
class Batch:
    images: torch.Tensor  # [B, 3, S, S] float 0-255
    targets: torch.Tensor  # [N, 1, S, S] float 0/1, N = B * prompts (all 0 for a no-object target)
    image_index: torch.Tensor  # [N] which image each target belongs to
    levels: list[str]  # [N] granularity of each target (NO_OBJECT: a prompt on a scene without objects)
    object_masks: list[torch.Tensor]  # [B] x [K_b, S, S] bool: every object of image b (for the dense loss)
    object_levels: list[list[str]]  # [B] x [K_b] their granularities


def sample_batch(rng: np.random.Generator, batch: int, prompts: int, size: int, kinds=TRAIN_KINDS) -> Batch:
    """Render `batch` scenes (seeds < HELD_OUT_SEED) and pick `prompts` targets in each."""
    images, targets, index, levels = [], [], [], []
    object_masks, object_levels = [], []
    b = 0
    while b < batch:
        kind = kinds[int(rng.integers(len(kinds)))]
        scene = render_scene(kind, int(rng.integers(HELD_OUT_SEED)), size)
        by_level = {lv: [o for o in scene.objects if o.level == lv] for lv in LEVELS}
        present = [lv for lv in LEVELS if by_level[lv]]
        if not present:
            continue
        if rng.random() < 0.5:  # cheap augmentation: horizontal flip
            image = scene.image[:, ::-1]
            flip = True
        else:
            image, flip = scene.image, False
        images.append(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float())
        every = np.stack([o.mask for o in scene.objects])
        object_masks.append(torch.from_numpy(np.ascontiguousarray(every[:, :, ::-1] if flip else every)))
        object_levels.append([o.level for o in scene.objects])
        chosen: set[int] = set()
        for _ in range(prompts):
            for _attempt in range(4):  # prefer distinct targets: the same image must give different masks
                level = present[int(rng.integers(len(present)))]
                obj = by_level[level][int(rng.integers(len(by_level[level])))]
                if id(obj) not in chosen:
                    break
            chosen.add(id(obj))
            mask = obj.mask[:, ::-1] if flip else obj.mask
            targets.append(torch.from_numpy(np.ascontiguousarray(mask)))
            index.append(b)
            levels.append(level)
        b += 1
    return Batch(
        images=torch.stack(images),
        targets=torch.stack(targets).unsqueeze(1).float() if targets else torch.zeros(0, 1, size, size),
        image_index=torch.tensor(index, dtype=torch.long),
        levels=levels,
        object_masks=object_masks,
        object_levels=object_levels,
    )


def sample_no_object_batch(rng: np.random.Generator, batch: int, prompts: int, size: int) -> Batch:
    """`batch` sky scenes (seeds < HELD_OUT_SEED) with `prompts` no-object targets each (empty masks).

    The negative examples of `--sky-frac`: a click or box on a sky scene has no object to find, so the IoU
    head is trained to predict 0 there and the masks get no loss (see interactive_loss)."""
    images = []
    for _ in range(batch):
        scene = render_scene("sky", int(rng.integers(HELD_OUT_SEED)), size)
        image = scene.image[:, ::-1] if rng.random() < 0.5 else scene.image
        images.append(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float())
    n = batch * prompts
    return Batch(
        images=torch.stack(images),
        targets=torch.zeros(n, 1, size, size),
        image_index=torch.arange(batch).repeat_interleave(prompts),
        levels=[NO_OBJECT] * n,
        object_masks=[torch.zeros(0, size, size, dtype=torch.bool) for _ in range(batch)],
        object_levels=[[] for _ in range(batch)],
    )


def random_prompts(n: int, size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts with no target to come from: points uniform over the image [n, 2] and boxes [n, 4]
    (x0, y0, x1, y1) with a uniform centre and sides uniform in [size/16, size/2]."""
    points = torch.rand(n, 2, generator=gen) * (size - 1)
    centre = torch.rand(n, 2, generator=gen) * (size - 1)
    half = size / 32 + torch.rand(n, 2, generator=gen) * (size / 4 - size / 32)
    boxes = torch.cat([centre - half, centre + half], 1).clamp(0, size - 1)
    return points, boxes


def sample_points_in(masks: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One pixel uniformly from each mask: masks [N, H, W] bool -> (x, y) [N, 2] float; empty -> centre.

    The r-th set pixel (r uniform) found by binary search in the running count: ~8x faster than
    torch.multinomial over H*W weights."""
    n, h, w = masks.shape
    running = masks.reshape(n, -1).cumsum(1, dtype=torch.int32)  # [N, H*W]
    count = running[:, -1]
    r = (torch.rand(n, generator=gen) * count).long().clamp(min=0)
    r = torch.minimum(r, (count - 1).clamp(min=0).long())
    idx = torch.searchsorted(running, (r + 1).to(torch.int32).unsqueeze(1)).squeeze(1)
    idx = torch.where(count > 0, idx, torch.full_like(idx, (h // 2) * w + w // 2))
    return torch.stack([(idx % w).float(), (idx // w).float()], dim=1)


def noisy_boxes(masks: torch.Tensor, gen: torch.Generator, noise: float = 0.1, max_px: float = 20.0) -> torch.Tensor:
    """Tight boxes of masks [N, H, W] with N(0, noise * side) on each coordinate, clipped to max_px."""
    n, h, w = masks.shape
    rows, cols = masks.any(2), masks.any(1)
    ar_h, ar_w = torch.arange(h), torch.arange(w)
    big = 10**6
    y0 = torch.where(rows, ar_h, big).min(1).values
    y1 = torch.where(rows, ar_h, -1).max(1).values
    x0 = torch.where(cols, ar_w, big).min(1).values
    x1 = torch.where(cols, ar_w, -1).max(1).values
    box = torch.stack([x0, y0, x1, y1], 1).float()
    side = torch.stack([x1 - x0, y1 - y0, x1 - x0, y1 - y0], 1).float().clamp(min=1)
    jitter = (torch.randn(n, 4, generator=gen) * noise * side).clamp(-max_px, max_px)
    box = box + jitter
    box[:, 0::2] = box[:, 0::2].clamp(0, w - 1)
    box[:, 1::2] = box[:, 1::2].clamp(0, h - 1)
    x_lo, x_hi = torch.minimum(box[:, 0], box[:, 2]), torch.maximum(box[:, 0], box[:, 2])
    y_lo, y_hi = torch.minimum(box[:, 1], box[:, 3]), torch.maximum(box[:, 1], box[:, 3])
    return torch.stack([x_lo, y_lo, x_hi, y_hi], 1)


def correction_points(
    logits: torch.Tensor, targets: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A click uniform in each error region: logits, targets [N, 1, H, W] -> (xy [N, 2], label [N]).

    Label 1 where the model missed target pixels, 0 where it claimed background; -1 (not a point) when
    the prediction is already exact.
    """
    gt = targets[:, 0] > 0.5
    err = (logits[:, 0] > 0) != gt
    xy = sample_points_in(err, gen)
    n = xy.shape[0]
    x, y = xy[:, 0].long(), xy[:, 1].long()
    label = gt[torch.arange(n), y, x].float()
    label[err.reshape(n, -1).sum(1) == 0] = -1.0
    return xy, label


# ---------------------------------------------------------------------------------------------- model
def set_fused_attention(model: Sam, on: bool) -> None:
    for module in model.mask_decoder.modules():
        if isinstance(module, Attention):
            module.use_fused = on


def tie_cross_attention_init(model: Sam, gain: float) -> None:
    """Start every decoder cross-attention with k_proj = q_proj (scaled by gain): then a query's positional
    encoding scores highest against keys at the same place, so a click attends near itself from step 0."""
    transformer = model.mask_decoder.transformer
    attns = [transformer.final_attn_token_to_image]
    for layer in transformer.layers:
        attns += [layer.cross_attn_token_to_image, layer.cross_attn_image_to_token]
    with torch.no_grad():
        for attn in attns:
            attn.q_proj.weight.mul_(gain)
            attn.k_proj.weight.copy_(attn.q_proj.weight)
            attn.k_proj.bias.copy_(attn.q_proj.bias)


def shrink_content_init(model: Sam, scale: float) -> None:
    """Scale down, at init, what is added to the positional encodings where attention compares positions:
    the point-type embeddings, the no-mask embedding, the image embedding (the neck's last LayerNorm2d
    weight) and the tokens after layer 0's self-attention (norm1 weight). With scale << 1 the position
    terms dominate the scores, so a click's token attends at the click and image positions near it attend
    to the click's token from step 0, instead of the decoder first learning a prompt-free mask."""
    pe = model.prompt_encoder
    with torch.no_grad():
        for emb in [*pe.point_embeddings, pe.not_a_point_embed, pe.no_mask_embed]:
            emb.weight.mul_(scale)
        model.image_encoder.neck[-1].weight.mul_(scale)
        model.mask_decoder.transformer.layers[0].norm1.weight.mul_(scale)


def to_target_size(low_res: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Bilinear upsampling of low-res logits [n, M, h, w] to the targets' [.., S, S] (as postprocessing does)."""
    size = targets.shape[-2:]
    if low_res.shape[-2:] == size:
        return low_res
    return torch.nn.functional.interpolate(low_res, size=size, mode="bilinear", align_corners=False)


def decode(model: Sam, emb: torch.Tensor, points, boxes, mask_input) -> tuple[torch.Tensor, torch.Tensor]:
    """All 4 low-res masks [n, 4, 4*grid, 4*grid] and IoU predictions [n, 4] for n prompt sets."""
    sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
    return model.mask_decoder.predict_masks(emb, model.prompt_encoder.get_dense_pe(), sparse, dense)


def interactive_loss(
    model: Sam, batch: Batch, gen: torch.Generator, rounds: int, focal_weight: float = FOCAL_WEIGHT,
    aux_head: InstanceEmbeddingHead | None = None, aux_weight: float = 0.0,
) -> tuple[torch.Tensor, dict]:
    """SAM's interactive training episode for one batch; returns (loss, stats).

    loss = focal_weight * focal + dice + IoU MSE (SAM: focal_weight 20), plus aux_weight x the dense
    instance-embedding loss of `train_aux` on the image embedding when aux_head is given.

    No-object targets (level NO_OBJECT, an empty mask: prompts on a sky scene) start from a uniform random
    point or box, get no mask loss, and their IoU target is 0 for every mask: the IoU head learns to say
    that there is nothing here. Their stats are kept apart (sky_pred_iou); the mask stats are over objects
    (None when a batch has none)."""
    images = torch.stack([model.preprocess(im) for im in batch.images])
    emb_all = model.image_encoder(images)  # [B, C, grid, grid], computed once for every round
    aux_loss, aux_iou = emb_all.new_zeros(()), 0.0
    if aux_head is not None and aux_weight > 0:
        aux_loss, aux_iou = instance_embedding_loss(aux_head, emb_all, batch.object_masks, batch.object_levels)
    n = batch.targets.shape[0]
    # Half the prompt sets start from a point, half from a box (random which): fixed group sizes keep
    # tensor shapes constant from step to step (oneDNN re-plans convolutions for every new shape).
    use_box = torch.zeros(n, dtype=torch.bool)
    use_box[torch.randperm(n, generator=gen)[: n // 2]] = True
    gt_masks = batch.targets[:, 0] > 0.5
    has_object = torch.tensor([lv != NO_OBJECT for lv in batch.levels], dtype=torch.bool)
    first_points = sample_points_in(gt_masks, gen)
    first_boxes = noisy_boxes(gt_masks, gen)
    if not has_object.all():
        free_points, free_boxes = random_prompts(n, gt_masks.shape[-1], gen)
        first_points = torch.where(has_object.unsqueeze(1), first_points, free_points)
        first_boxes = torch.where(has_object.unsqueeze(1), first_boxes, free_boxes)

    totals = {"focal": 0.0, "dice": 0.0, "iou_mse": 0.0}
    loss = emb_all.new_zeros(())
    level_iou = {lv: [] for lv in LEVELS}
    first_iou = last_iou = 0.0
    sky_pred = []
    terms = object_terms = 0
    for group_is_box in (False, True):
        sel = torch.nonzero(use_box == group_is_box).squeeze(1)
        if sel.numel() == 0:
            continue
        emb = emb_all[batch.image_index[sel]]
        tgt = batch.targets[sel]
        real = has_object[sel]  # [n] False for no-object targets
        coords = first_points[sel].unsqueeze(1)  # [n, 1, 2]
        labels = torch.ones(sel.numel(), 1)
        boxes = first_boxes[sel] if group_is_box else None
        mask_input = None
        for r in range(rounds):
            if r == 0 and group_is_box:
                points = None
            elif group_is_box:
                points = (coords[:, 1:], labels[:, 1:])
            else:
                points = (coords, labels)
            masks, iou_pred = decode(model, emb, points, boxes, mask_input)
            multimask = r == 0 and not group_is_box
            low_res, iou_p = (masks[:, 1:], iou_pred[:, 1:]) if multimask else (masks[:, :1], iou_pred[:, :1])
            logits = to_target_size(low_res, tgt)
            focal = focal_loss(logits, tgt.expand_as(logits))  # [n, M]
            dice = dice_loss(logits, tgt.expand_as(logits))
            # No object: no mask loss. The losses are still computed for those rows (and zeroed), so a sky
            # step has the same tensor shapes as any other.
            per_mask = (focal_weight * focal + DICE_WEIGHT * dice) * real.unsqueeze(1)
            best_loss, best = min_loss_assignment(per_mask)
            true_iou = actual_iou(logits, tgt) * real.unsqueeze(1)  # [n, M], detached; no object: 0
            iou_term = ((iou_p - true_iou) ** 2).mean(1)  # MSE on every returned mask
            loss = loss + (best_loss + iou_term).sum()
            terms += sel.numel()
            rows = torch.arange(sel.numel())
            totals["focal"] += float(focal[rows, best].detach()[real].sum())
            totals["dice"] += float(dice[rows, best].detach()[real].sum())
            totals["iou_mse"] += float(iou_term.detach()[real].sum())
            object_terms += int(real.sum())
            chosen = logits[rows, best].unsqueeze(1).detach()  # [n, 1, S, S] at the target's size
            chosen_iou = true_iou[rows, best]
            if r == 0:
                first_iou += float(chosen_iou[real].sum())
                sky_pred += iou_p.detach()[~real].mean(1).tolist()
                for i, k in enumerate(sel.tolist()):
                    if real[i]:
                        level_iou[batch.levels[k]].append(float(chosen_iou[i]))
            if r == rounds - 1:
                last_iou += float(chosen_iou[real].sum())
                break
            xy, lab = correction_points(chosen, tgt, gen)
            coords = torch.cat([coords, xy.unsqueeze(1)], 1)
            labels = torch.cat([labels, lab.unsqueeze(1)], 1)
            mask_input = low_res[rows, best].unsqueeze(1).detach()  # [n, 1, 4*grid, 4*grid], as SAM feeds it back
    loss = loss / terms + aux_weight * aux_loss
    objects = int(has_object.sum())
    stats = {k: v / object_terms if object_terms else None for k, v in totals.items()}
    no_dense_target = aux_head is not None and aux_weight > 0 and not any(m.shape[0] for m in batch.object_masks)
    stats["aux"], stats["aux_iou"] = (None, None) if no_dense_target else (float(aux_loss.detach()), aux_iou)
    stats["total"] = float(loss.detach())
    stats["iou_first"] = first_iou / objects if objects else None
    stats["iou_last"] = last_iou / objects if objects else None
    stats["sky_pred_iou"] = float(np.mean(sky_pred)) if sky_pred else None
    stats["level_iou"] = level_iou
    return loss, stats


def dense_only_loss(model: Sam, batch: Batch, aux_head: InstanceEmbeddingHead) -> tuple[torch.Tensor, dict]:
    """The encoder-only phase (`--dense-frac`): the dense instance-embedding loss alone, no prompts, no
    decoder; the stand-in for SAM's pretrained encoder. Stats of the decoder's losses are NaN (not run)."""
    images = torch.stack([model.preprocess(im) for im in batch.images])
    emb = model.image_encoder(images)  # [B, C, grid, grid]
    loss, aux_iou = instance_embedding_loss(aux_head, emb, batch.object_masks, batch.object_levels)
    nan = float("nan")
    stats = {k: nan for k in ("focal", "dice", "iou_mse", "iou_first", "iou_last")}
    stats.update(aux=float(loss.detach()), aux_iou=aux_iou, total=float(loss.detach()), level_iou={},
                 sky_pred_iou=None)
    return loss, stats


def phase_progress(progress: float, dense_frac: float) -> tuple[bool, float]:
    """(dense phase?, progress within the phase, 0..1): the first `dense_frac` of the run is the
    encoder-only phase, the rest the interactive phase, each with its own warm-up and cosine decay."""
    if progress < dense_frac:
        return True, progress / dense_frac
    return False, (progress - dense_frac) / (1.0 - dense_frac)  # parse_args keeps dense_frac < 1


# ------------------------------------------------------------------------------------------- schedule
def focal_weight_at(progress: float, start: float, end: float, ramp: tuple[float, float]) -> float:
    """Focal weight: `start` until progress ramp[0], geometric ramp to `end` (SAM's 20) at ramp[1], then `end`.

    From random weights, 20 focal : 1 dice drives the decoder to empty masks before it has learned to use
    the prompt (SAM itself starts from an MAE-pretrained encoder); a dice-heavy start avoids that, and the
    run ends with SAM's ratio."""
    lo, hi = ramp
    if progress <= lo or hi <= lo:
        return start if progress <= lo else end
    if progress >= hi:
        return end
    return start * (end / start) ** ((progress - lo) / (hi - lo))


def lr_at(step: int, progress: float, base_lr: float, warmup: int, final_frac: float = 0.02) -> float:
    if step < warmup:
        return base_lr * (step + 1) / warmup
    p = min(max(progress, 0.0), 1.0)
    return base_lr * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * p)))


def export_safetensors(model: Sam, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "model": "sam_core nano"})
    os.replace(tmp, path)


def save_checkpoint(path: Path, model, optimizer, step: int, elapsed: float, args: argparse.Namespace,
                    aux_head: torch.nn.Module | None = None, interactive_from: int | None = None) -> None:
    tmp = path.with_suffix(".tmp")
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "elapsed": elapsed, "args": vars(args), "torch_rng": torch.get_rng_state(),
             "interactive_from": interactive_from}
    if aux_head is not None:
        state["aux_head"] = aux_head.state_dict()
    torch.save(state, tmp)
    os.replace(tmp, path)


def _truncate_log(path: Path, step: int) -> None:
    if not path.exists():
        return
    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        w.writeheader()
        w.writerows(rows)


def measure_fused(model: Sam, args, gen_seed: int = 123) -> dict:
    """Time one training step with the explicit and the fused decoder attention."""
    rng = np.random.default_rng(gen_seed)
    batch = sample_batch(rng, args.batch, args.prompts, args.size)
    out = {}
    for on in (False, True, False, True):
        set_fused_attention(model, on)
        gen = torch.Generator().manual_seed(gen_seed)
        t = time.perf_counter()
        loss, _ = interactive_loss(model, batch, gen, args.rounds)
        loss.backward()
        model.zero_grad(set_to_none=True)
        out[on] = time.perf_counter() - t
    return out


STAT_KEYS = ("focal", "dice", "iou_mse", "total", "iou_first", "iou_last", "aux", "aux_iou", "sky_pred_iou")


class TrainLog:
    """train_log.csv (appended to, so a resumed run continues it) and the console line for each row."""

    def __init__(self, path: Path) -> None:
        new = not path.exists()
        self.file = path.open("a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=LOG_FIELDS)
        if new:
            self.writer.writeheader()

    def write(self, step: int, wall_s: float, lr: float, fw: float, s_per_step: float,
              every: list[tuple[dict, int]]) -> None:
        """One row from the workers' (sums since the last row, steps) pairs: means over the steps that
        have each stat (a sky step has no mask stats, an object step no sky_pred_iou); "" when none do."""
        row = {"step": step, "wall_s": round(wall_s, 1), "lr": f"{lr:.3e}", "focal_weight": round(fw, 3),
               "s_per_step": round(s_per_step, 3)}
        for k in STAT_KEYS:
            n = sum(acc.get("n_" + k, 0) for acc, _ in every)
            row[k] = round(sum(acc.get(k, 0.0) for acc, _ in every) / n, 5) if n else ""
        for lv in LEVELS:
            vals = [v for acc, _ in every for v in acc.get("lv_" + lv, [])]
            row["iou_" + lv] = round(float(np.mean(vals)), 4) if vals else ""
        self.writer.writerow(row)
        self.file.flush()
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)

    def close(self) -> None:
        self.file.close()


# ----------------------------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/nano")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget (schedule follows it)")
    p.add_argument("--steps", type=int, default=None, help="total steps (default: 4000, or unbounded with --minutes)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--init", default=None, help="start from these weights (.safetensors or a last.pt), new optimizer")
    p.add_argument("--stop-at", type=int, default=None,
                   help="checkpoint and exit at this step without finishing (same schedule; for --resume)")
    p.add_argument("--batch", type=int, default=1, help="images per step")
    p.add_argument("--prompts", type=int, default=8, help="target masks per image")
    p.add_argument("--rounds", type=int, default=2, help="decoder rounds: first prompt + corrections")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--encoder-lr-mult", type=float, default=1.0, help="image encoder lr = this x --lr")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--focal-weight", type=float, default=FOCAL_WEIGHT, help="final focal weight (SAM: 20; dice: 1)")
    p.add_argument("--focal-start", type=float, default=2.0, help="focal weight at the start (see focal_weight_at)")
    p.add_argument("--focal-ramp", type=float, nargs=2, default=(0.35, 0.75), metavar=("FROM", "TO"),
                   help="progress interval over which the focal weight goes from --focal-start to --focal-weight")
    p.add_argument("--tie-qk", type=float, default=4.0,
                   help="init: decoder cross-attention key projection = query projection, both times this gain "
                        "(0: off), so query and key positional encodings line up from step 0")
    p.add_argument("--content-scale", type=float, default=0.1,
                   help="init: scale of the content added to positional encodings in attention (see shrink_content_init)")
    p.add_argument("--pe-scale", type=float, default=3.0,
                   help="std of the prompt encoder's random Gaussian frequencies at init (SAM: 1.0)")
    p.add_argument("--aux-weight", type=float, default=1.0,
                   help="weight of the dense instance-embedding loss on the image embedding (train_aux; 0: off)")
    p.add_argument("--aux-dim", type=int, default=32, help="instance-embedding width per granularity")
    p.add_argument("--dense-frac", type=float, default=0.0,
                   help="first fraction of the run (steps or minutes) that trains the image encoder alone with the "
                        "dense loss (needs --aux-weight > 0); then the interactive recipe, with its own warm-up")
    p.add_argument("--sky-frac", type=float, default=0.0,
                   help="probability that a worker's step trains on a sky scene instead: no-object prompts, IoU "
                        "target 0, no mask loss (0: off, SAM's recipe)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None,
                   help="data-parallel worker processes, each with its own image per step (default 2; 1 with --smoke)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per worker (default: the machine's CPUs / --workers, at least 1)")
    p.add_argument("--fused", choices=("auto", "on", "off"), default="auto",
                   help="fused decoder attention in training (auto: measure, keep it if faster)")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--ckpt-minutes", type=float, default=4.0)
    p.add_argument("--smoke", action="store_true", help="tiny quick run (no export)")
    p.add_argument("--no-export", action="store_true", help="do not copy the result to assets/models/nano")
    args = p.parse_args(argv)
    if args.smoke:
        args.no_export = True
        if args.steps is None and args.minutes is None:
            args.steps = 40
        args.batch = min(args.batch, 2)
        args.prompts = min(args.prompts, 4)
        args.rounds = min(args.rounds, 2)
        args.warmup = min(args.warmup, 5)
        args.log_every = min(args.log_every, 2)
        args.lr = max(args.lr, 1e-3)
        if args.fused == "auto":
            args.fused = "off"
    if args.workers is None:
        args.workers = 1 if args.smoke else 2
    if args.threads is None:
        args.threads = max(1, (os.cpu_count() or 1) // max(1, args.workers))
    if args.workers < 1 or args.threads < 1:
        p.error("--workers and --threads must be at least 1")
    if not 0.0 <= args.sky_frac < 1.0:
        p.error("--sky-frac must be in [0, 1)")
    if not 0.0 <= args.dense_frac < 1.0 or (args.dense_frac > 0 and args.aux_weight <= 0):
        p.error("--dense-frac must be in [0, 1) and needs --aux-weight > 0")
    if args.steps is None:
        args.steps = 10**9 if args.minutes else 4000
    return args


def main(argv=None) -> int:
    # Subnormal floats appear as the model trains and slow CPU kernels down: a step of a model trained
    # for 1,400 steps took 1.1 s without flushing them to zero and 0.72 s with it (1 thread, busy CPU).
    # The setting is process-wide, so it is switched back off (torch's default) when training returns.
    args = parse_args(argv)
    if args.workers > 1:
        return launch(_train, args, args.workers)
    torch.set_flush_denormal(True)
    try:
        return _train(args)
    finally:
        torch.set_flush_denormal(False)


def initial_model(args: argparse.Namespace) -> Sam:
    """The nano model at step 0 of a run from scratch: seeded init plus the from-scratch init options."""
    torch.manual_seed(args.seed)
    model = sam_model_registry["nano"]()
    with torch.no_grad():  # stored in the weights, so it only matters for a run from scratch
        model.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix.mul_(args.pe_scale)
    if args.tie_qk > 0:
        tie_cross_attention_init(model, args.tie_qk)
    if args.content_scale != 1.0:
        shrink_content_init(model, args.content_scale)
    return model


def _train(args: argparse.Namespace, rank: int = 0) -> int:
    """The training loop of one worker (rank 0 of 1 without --workers; see train_workers)."""
    torch.set_num_threads(args.threads)
    main_worker = rank == 0
    say = (lambda msg: print(msg, flush=True)) if main_worker else (lambda msg: None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / "last.pt", out / "train_log.csv"

    model = initial_model(args)
    aux_head = InstanceEmbeddingHead(NANO_OUT_CHANS, args.aux_dim) if args.aux_weight > 0 else None
    model.train()
    named = list(model.named_parameters())
    if aux_head is not None:
        named += [("aux_head." + n, q) for n, q in aux_head.named_parameters()]
    groups = {}  # (weight decay?, lr multiplier) -> parameters
    for name, prm in named:
        decays = not (prm.ndim <= 1 or "embed" in name or "token" in name)
        mult = args.encoder_lr_mult if name.startswith("image_encoder.") else 1.0
        groups.setdefault((decays, mult), []).append(prm)
    optimizer = torch.optim.AdamW(
        [{"params": prms, "weight_decay": args.weight_decay if decays else 0.0, "lr_mult": mult}
         for (decays, mult), prms in groups.items()],
        lr=args.lr, betas=(0.9, 0.999),
    )
    step, elapsed0 = 0, 0.0
    interactive_from = None  # first step of the interactive phase (after --dense-frac)
    if args.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        if aux_head is not None and "aux_head" in ck:
            aux_head.load_state_dict(ck["aux_head"])
        optimizer.load_state_dict(ck["optimizer"])
        step, elapsed0 = int(ck["step"]), float(ck["elapsed"])
        interactive_from = ck.get("interactive_from")
        torch.set_rng_state(ck["torch_rng"])
        if main_worker:
            _truncate_log(log_path, step)
        say(f"resumed from {ckpt_path} at step {step} ({elapsed0 / 60:.1f} min)")
    else:
        if log_path.exists() and main_worker:
            log_path.unlink()
        if args.init:
            if args.init.endswith(".pt"):
                init_state = torch.load(args.init, map_location="cpu", weights_only=True)["model"]
            else:
                from safetensors.torch import load_file

                init_state = load_file(args.init)
            model.load_state_dict(init_state)
            say(f"initialised from {args.init}")
    sync_parameters(model)  # the same seed gives the same init on every worker; this makes sure of it
    if aux_head is not None:
        sync_parameters(aux_head)

    if args.fused == "auto":
        times = measure_fused(model, args)
        use_fused = from_rank0(times[True] < 0.97 * times[False])
        say(f"decoder attention: explicit {times[False]:.2f} s/step, fused {times[True]:.2f} s/step -> "
            f"{'fused' if use_fused else 'explicit'}")
    else:
        use_fused = args.fused == "on"
    set_fused_attention(model, use_fused)
    if main_worker:
        (out / "config.json").write_text(json.dumps({**vars(args), "use_fused": use_fused,
                                                      "python": sys.version.split()[0], "torch": torch.__version__,
                                                      "machine": platform.machine()}, indent=2))
    log = TrainLog(log_path) if main_worker else None
    budget = args.minutes * 60 if args.minutes else None
    t_start = time.perf_counter()
    last_ckpt = t_start
    acc: dict = {}
    acc_steps, acc_t = 0, time.perf_counter()

    def elapsed() -> float:
        return elapsed0 + time.perf_counter() - t_start

    def progress(s: int) -> float:  # rank 0's clock decides, so every worker stops at the same step
        p = s / args.steps
        if budget:
            p = max(p, from_rank0(elapsed()) / budget)
        return p

    all_params = [q for _, q in named]
    encoder_side_params = [q for name, q in named if not name.startswith(("prompt_encoder.", "mask_decoder."))]
    data_key = [] if args.workers == 1 else [rank]  # one worker: the same scenes as before workers existed
    while step < args.steps and (prog := progress(step)) < 1.0:
        if args.stop_at is not None and step >= args.stop_at:
            if main_worker:
                log.close()
                save_checkpoint(ckpt_path, model, optimizer, step, elapsed(), args, aux_head, interactive_from)
            say(f"stopped at step {step}; continue with --resume")
            return 0
        rng = np.random.default_rng([args.seed, step, 1, *data_key])
        gen = torch.Generator().manual_seed(int(np.random.default_rng([args.seed, step, 2, *data_key]).integers(2**62)))
        dense, phase_prog = phase_progress(prog, args.dense_frac)
        if not dense and interactive_from is None:
            interactive_from = step
        phase_step = step if dense else step - interactive_from
        sky = (not dense and args.sky_frac > 0
               and np.random.default_rng([args.seed, step, 3, *data_key]).random() < args.sky_frac)
        if sky:
            batch = sample_no_object_batch(rng, args.batch, args.prompts, args.size)
        else:
            batch = sample_batch(rng, args.batch, 0 if dense else args.prompts, args.size)
        lr = lr_at(phase_step, phase_prog, args.lr, args.warmup)
        for g in optimizer.param_groups:
            g["lr"] = lr * g["lr_mult"]
        fw = focal_weight_at(0.0 if dense else phase_prog, args.focal_start, args.focal_weight,
                             tuple(args.focal_ramp))
        if dense:
            loss, stats = dense_only_loss(model, batch, aux_head)
        else:
            loss, stats = interactive_loss(model, batch, gen, args.rounds, focal_weight=fw,
                                           aux_head=aux_head, aux_weight=args.aux_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # The dense phase leaves the prompt encoder and decoder without gradients: AdamW then skips them
        # (no update, no weight decay), so the decoder keeps its init for the interactive phase.
        params = encoder_side_params if dense else all_params
        average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, args.clip)
        optimizer.step()
        step += 1

        for k in STAT_KEYS:
            if stats[k] is not None:
                acc[k] = acc.get(k, 0.0) + stats[k]
                acc["n_" + k] = acc.get("n_" + k, 0) + 1
        for lv, vals in stats["level_iou"].items():
            acc.setdefault("lv_" + lv, []).extend(vals)
        acc_steps += 1
        if step % args.log_every == 0 or step == args.steps:
            now = time.perf_counter()
            every = gather((acc, acc_steps))  # every worker's sums, so the log covers all of the batch
            if main_worker:
                log.write(step, elapsed(), lr, fw, (now - acc_t) / acc_steps, every)
            acc, acc_steps, acc_t = {}, 0, now
        if main_worker and time.perf_counter() - last_ckpt > args.ckpt_minutes * 60:
            save_checkpoint(ckpt_path, model, optimizer, step, elapsed(), args, aux_head, interactive_from)
            last_ckpt = time.perf_counter()

    check_same_weights(model)
    if not main_worker:
        return 0
    log.close()
    save_checkpoint(ckpt_path, model, optimizer, step, elapsed(), args, aux_head, interactive_from)
    model.eval()
    set_fused_attention(model, False)
    export_safetensors(model, out / "sam_nano.safetensors")
    say(f"done: {step} steps in {elapsed() / 60:.1f} min -> {out / 'sam_nano.safetensors'}")
    if not args.no_export:
        NANO_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "sam_nano.safetensors", NANO_WEIGHTS)
        shutil.copyfile(log_path, NANO_WEIGHTS.parent / "training_log.csv")
        say(f"exported to {NANO_WEIGHTS} and {NANO_WEIGHTS.parent / 'training_log.csv'}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
