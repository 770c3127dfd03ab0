"""One interactive training episode (Kirillov et al. 2023, appendix A) and the encoder-only step.

For each target of a batch: a first prompt (half the targets a point, half a noisy box), then
`rounds - 1` correction clicks, each from the error region of the previous prediction, with the previous
low-res logits (detached) as `mask_input`. A single point uses the multimask output (3 masks, the mask
loss on the minimum-loss one, IoU MSE on all 3); every other prompt the single-mask output (token 0).

    loss = mean over prompt sets and rounds of  min_m [w_f focal_m + w_d dice_m]  +  mean_m IoU-MSE_m
           + aux_weight x the dense instance-embedding loss (`dense_aux`) on the image embedding

with `sam_core.losses` (mask_loss, min_loss_assignment, iou_mse): SAM's w_f : w_d = 20 : 1 by default,
w_f ramped up from a dice-heavy start by the loop (`schedule.focal_weight_at`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from sam_core.device import autocast_context
from sam_core.losses import (
    DICE_WEIGHT,
    FOCAL_WEIGHT,
    actual_iou,
    dice_loss,
    focal_loss,
    iou_mse,
    mask_loss,
    min_loss_assignment,
)
from sam_core.prompts import FOREGROUND
from sam_core.sam1.sam import Sam
from sam_core.scenes.splits import LEVELS
from sam_core.training.data import (
    NO_OBJECT,
    Batch,
    correction_points,
    noisy_boxes,
    random_prompts,
    sample_batch,
    sample_points_in,
)
from sam_core.training.dense_aux import InstanceEmbeddingHead, instance_embedding_loss
from sam_core.training.model_setup import set_fused_attention


def to_target_size(low_res: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Bilinear upsampling of low-res logits [n, M, h, w] to the targets' [.., S, S] (as postprocessing does)."""
    size = targets.shape[-2:]
    if low_res.shape[-2:] == size:
        return low_res
    return torch.nn.functional.interpolate(low_res, size=size, mode="bilinear", align_corners=False)


def decode(model: Sam, emb: torch.Tensor, points, boxes, mask_input,
           bf16: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """All 4 low-res masks [n, 4, 4*grid, 4*grid] and IoU predictions [n, 4] for n prompt sets (float32).

    The prompt encoder always runs in float32: the phases 2 pi (x G) of its Fourier features need more
    than bfloat16's 8-bit mantissa. The decoder runs in bf16 autocast if asked (CUDA only)."""
    sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
    image_pe = model.prompt_encoder.get_dense_pe()
    with autocast_context(emb.device, bf16):
        masks, iou_pred = model.mask_decoder.predict_masks(emb, image_pe, sparse, dense)
    return masks.float(), iou_pred.float()  # the losses in float32 (a no-op without autocast)


def embed_images(model: Sam, batch: Batch, bf16: bool = False) -> torch.Tensor:
    """Image embeddings [B, C, grid, grid] (float32; the encoder runs in bf16 autocast on CUDA if asked)."""
    images = torch.stack([model.preprocess(im) for im in batch.images])
    with autocast_context(images.device, bf16):
        return model.image_encoder(images).float()  # a no-op for float32


@dataclass
class FirstPrompts:
    use_box: torch.Tensor  # [N] bool: this prompt set starts from a box (else from a point)
    has_object: torch.Tensor  # [N] bool: False for a no-object target (a prompt on a sky scene)
    points: torch.Tensor  # [N, 2] (x, y): a pixel uniform in the target (no object: uniform in the image)
    boxes: torch.Tensor  # [N, 4] (x0, y0, x1, y1): the target's noisy box (no object: a random box)


def first_prompts(batch: Batch, gen: torch.Generator, device: torch.device) -> FirstPrompts:
    """The first prompt of every target. Half the prompt sets start from a point, half from a box (random
    which): fixed group sizes keep tensor shapes constant from step to step (oneDNN re-plans convolutions
    for every new shape)."""
    n = batch.targets.shape[0]
    use_box = torch.zeros(n, dtype=torch.bool)
    use_box[torch.randperm(n, generator=gen)[: n // 2]] = True
    gt_masks = batch.targets[:, 0] > 0.5
    has_object = torch.tensor([lv != NO_OBJECT for lv in batch.levels], dtype=torch.bool, device=device)
    points, boxes = sample_points_in(batch.first_click_masks, gen), noisy_boxes(gt_masks, gen)
    if not has_object.all():
        free_points, free_boxes = random_prompts(n, gt_masks.shape[-1], gen, device)
        points = torch.where(has_object.unsqueeze(1), points, free_points)
        boxes = torch.where(has_object.unsqueeze(1), boxes, free_boxes)
    return FirstPrompts(use_box.to(device), has_object, points, boxes)


class EpisodeStats:
    """The log's view of an episode: loss terms and train IoU of the masks the loss chose, over targets
    with an object; the predicted IoU on no-object targets apart (sky_pred_iou)."""

    def __init__(self) -> None:
        self.totals = {"focal": 0.0, "dice": 0.0, "iou_mse": 0.0}
        self.object_terms = 0
        self.first_iou = self.last_iou = 0.0
        self.level_iou: dict[str, list[float]] = {lv: [] for lv in LEVELS}
        self.sky_pred: list[float] = []

    @torch.no_grad()
    def add_round(self, chosen: torch.Tensor, tgt: torch.Tensor, iou_term: torch.Tensor, iou_p: torch.Tensor,
                  on_object: torch.Tensor, levels: list[str], first: bool, last: bool) -> None:
        """One round of one prompt group: chosen logits, targets [n, 1, S, S], iou_term [n], iou_p [n, M],
        on_object [n] bool, levels [n]."""
        self.totals["focal"] += float(focal_loss(chosen, tgt)[on_object].sum())
        self.totals["dice"] += float(dice_loss(chosen, tgt)[on_object].sum())
        self.totals["iou_mse"] += float(iou_term[on_object].sum())
        self.object_terms += int(on_object.sum())
        chosen_iou = actual_iou(chosen, tgt)[:, 0]  # [n]
        if first:
            self.first_iou += float(chosen_iou[on_object].sum())
            self.sky_pred += iou_p[~on_object].mean(1).tolist()
            for i, level in enumerate(levels):
                if on_object[i]:
                    self.level_iou[level].append(float(chosen_iou[i]))
        if last:
            self.last_iou += float(chosen_iou[on_object].sum())

    def result(self, objects: int) -> dict:
        stats = {k: v / self.object_terms if self.object_terms else None for k, v in self.totals.items()}
        stats["iou_first"] = self.first_iou / objects if objects else None
        stats["iou_last"] = self.last_iou / objects if objects else None
        stats["sky_pred_iou"] = float(np.mean(self.sky_pred)) if self.sky_pred else None
        stats["level_iou"] = self.level_iou
        return stats


def interactive_loss(
    model: Sam, batch: Batch, gen: torch.Generator, rounds: int, focal_weight: float = FOCAL_WEIGHT,
    aux_head: InstanceEmbeddingHead | None = None, aux_weight: float = 0.0, bf16: bool = False,
) -> tuple[torch.Tensor, dict]:
    """SAM's interactive training episode for one batch; returns (loss, stats).

    No-object targets (level NO_OBJECT, an empty mask: prompts on a sky scene) start from a uniform random
    point or box, get no mask loss, and their IoU target is 0 for every mask: the IoU head learns to say
    that there is nothing here. Their stats are kept apart (sky_pred_iou); the mask stats are over objects
    (None when a batch has none). `gen` (a CPU generator) draws every prompt."""
    emb_all = embed_images(model, batch, bf16)  # computed once for every round
    device = emb_all.device
    aux_loss, aux_iou = emb_all.new_zeros(()), 0.0
    if aux_head is not None and aux_weight > 0:
        aux_loss, aux_iou = instance_embedding_loss(aux_head, emb_all, batch.object_masks, batch.object_levels)
    first = first_prompts(batch, gen, device)
    log = EpisodeStats()
    loss = emb_all.new_zeros(())
    terms = 0
    for group_is_box in (False, True):
        sel = torch.nonzero(first.use_box == group_is_box).squeeze(1)
        if sel.numel() == 0:
            continue
        emb = emb_all[batch.image_index[sel]]
        tgt = batch.targets[sel]
        real = first.has_object[sel].unsqueeze(1)  # [n, 1] False for no-object targets
        coords = first.points[sel].unsqueeze(1)  # [n, 1, 2]
        labels = torch.full((sel.numel(), 1), float(FOREGROUND), device=device)
        boxes = first.boxes[sel] if group_is_box else None
        rows = torch.arange(sel.numel(), device=device)
        mask_input = None
        for r in range(rounds):
            if r == 0 and group_is_box:
                points = None
            elif group_is_box:
                points = (coords[:, 1:], labels[:, 1:])
            else:
                points = (coords, labels)
            masks, iou_pred = decode(model, emb, points, boxes, mask_input, bf16)
            multimask = r == 0 and not group_is_box
            low_res, iou_p = (masks[:, 1:], iou_pred[:, 1:]) if multimask else (masks[:, :1], iou_pred[:, :1])
            logits = to_target_size(low_res, tgt)  # [n, M, S, S]
            # No object: no mask loss. It is still computed for those rows (and zeroed), so a sky step has
            # the same tensor shapes as any other; their IoU target is 0, not the IoU of an empty mask.
            per_mask = mask_loss(logits, tgt, focal_weight, DICE_WEIGHT) * real  # [n, M]
            best_loss, best = min_loss_assignment(per_mask)
            iou_term = torch.where(real, iou_mse(iou_p, logits, tgt), iou_p**2).mean(1)  # every returned mask
            loss = loss + (best_loss + iou_term).sum()
            terms += sel.numel()
            chosen = logits[rows, best].unsqueeze(1).detach()  # [n, 1, S, S] at the target's size
            log.add_round(chosen, tgt, iou_term.detach(), iou_p.detach(), real[:, 0],
                          [batch.levels[k] for k in sel.tolist()], first=r == 0, last=r == rounds - 1)
            if r == rounds - 1:
                break
            xy, lab = correction_points(chosen, tgt, gen)
            coords = torch.cat([coords, xy.unsqueeze(1)], 1)
            labels = torch.cat([labels, lab.unsqueeze(1)], 1)
            mask_input = low_res[rows, best].unsqueeze(1).detach()  # [n, 1, 4*grid, 4*grid], as SAM feeds it back
    loss = loss / terms + aux_weight * aux_loss
    stats = log.result(objects=int(first.has_object.sum()))
    no_dense_target = aux_head is not None and aux_weight > 0 and not any(m.shape[0] for m in batch.object_masks)
    stats["aux"], stats["aux_iou"] = (None, None) if no_dense_target else (float(aux_loss.detach()), aux_iou)
    stats["total"] = float(loss.detach())
    return loss, stats


def dense_only_loss(model: Sam, batch: Batch, aux_head: InstanceEmbeddingHead,
                    bf16: bool = False) -> tuple[torch.Tensor, dict]:
    """The encoder-only phase (`--dense-frac`): the dense instance-embedding loss alone, no prompts, no
    decoder; the stand-in for SAM's pretrained encoder. Stats of the decoder's losses are NaN (not run)."""
    emb = embed_images(model, batch, bf16)  # [B, C, grid, grid]
    loss, aux_iou = instance_embedding_loss(aux_head, emb, batch.object_masks, batch.object_levels)
    nan = float("nan")
    stats = {k: nan for k in ("focal", "dice", "iou_mse", "iou_first", "iou_last")}
    stats.update(aux=float(loss.detach()), aux_iou=aux_iou, total=float(loss.detach()), level_iou={},
                 sky_pred_iou=None)
    return loss, stats


def measure_fused(model: Sam, batch_size: int, prompts: int, rounds: int, size: int, device: torch.device,
                  gen_seed: int = 123) -> dict[bool, float]:
    """Seconds of one training step with the explicit (False) and the fused (True) decoder attention."""
    batch = sample_batch(np.random.default_rng(gen_seed), batch_size, prompts, size).to(device)
    out = {}
    for on in (False, True, False, True):
        set_fused_attention(model, on)
        gen = torch.Generator().manual_seed(gen_seed)
        t = time.perf_counter()
        loss, _ = interactive_loss(model, batch, gen, rounds)
        loss.backward()
        model.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        out[on] = time.perf_counter() - t
    return out
