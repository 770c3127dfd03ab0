"""A training-only dense loss on the image embedding: every object of every scene, at every granularity.

SAM's own encoder arrives MAE-pretrained, so its embedding already separates things before the mask decoder
is trained. The nano encoder starts from random weights and, with the interactive loss alone, learns only
through the few prompts of each step (8 per step, back through the decoder's cross-attention). This loss
gives it a direct signal at every embedding cell, for every ground-truth object of the batch:

    image embedding E [B, C, g, g]  --1x1 conv-->  per level l in (part, object, group): e_l [B, D, g, g],
                                                   unit vectors per cell
    object k of level l, coverage t_k [g*g] (its mask area-averaged to the grid, 0..1)
    prototype   mu_k   = normalise(sum_p t_k[p] e_l[p])                  (what a click inside k reads)
    logits      z_k[p] = s * <mu_k, e_l[p]> + b                          (s, b learned)
    loss_k      = BCE(z_k, t_k) + dice(sigmoid(z_k), t_k)

averaged over objects, levels and images. The head (`InstanceEmbeddingHead`) is discarded after training:
the exported model is exactly the `Sam` module, and the decoder alone makes every mask.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.scenes.splits import LEVELS

LEVEL_INDEX = {level: i for i, level in enumerate(LEVELS)}  # {"part": 0, "object": 1, "group": 2}


class InstanceEmbeddingHead(nn.Module):
    """1x1 conv: image embedding [B, C, g, g] -> unit instance embeddings [B, levels, dim, g, g]."""

    def __init__(self, in_chans: int, dim: int = 32, levels: int = len(LEVEL_INDEX)) -> None:
        super().__init__()
        self.dim, self.levels = dim, levels
        self.proj = nn.Conv2d(in_chans, dim * levels, kernel_size=1)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))  # s = exp(log_scale), a cosine temperature
        self.bias = nn.Parameter(torch.tensor(-2.0))

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        b, _, h, w = emb.shape
        out = self.proj(emb).reshape(b, self.levels, self.dim, h, w)
        return F.normalize(out, dim=2)


def grid_coverage(masks: torch.Tensor, grid: int) -> torch.Tensor:
    """Bool/float masks [K, S, S] -> fraction of each grid cell covered [K, grid*grid]."""
    k, s, _ = masks.shape
    return F.adaptive_avg_pool2d(masks.float().unsqueeze(1), grid).reshape(k, grid * grid)


def instance_embedding_loss(
    head: InstanceEmbeddingHead,
    emb: torch.Tensor,
    object_masks: list[torch.Tensor],
    object_levels: list[list[str]],
    min_cells: float = 0.5,
) -> tuple[torch.Tensor, float]:
    """Loss (scalar) and mean soft IoU of the prototypes' masks, for image embeddings emb [B, C, g, g],
    object_masks[b] [K_b, S, S] (every object of image b) and object_levels[b] (K_b level names).
    Objects covering fewer than `min_cells` grid cells are skipped (too small to have a prototype)."""
    b, _, g, _ = emb.shape
    inst = head(emb).flatten(3)  # [B, levels, D, g*g]
    scale = head.log_scale.exp()
    losses, ious = [], []
    for i in range(b):
        if object_masks[i].shape[0] == 0:
            continue
        cover = grid_coverage(object_masks[i], g)  # [K, g*g]
        level_of = torch.tensor([LEVEL_INDEX[lv] for lv in object_levels[i]], device=cover.device)
        for lv in range(head.levels):
            sel = (level_of == lv) & (cover.sum(1) >= min_cells)
            if not sel.any():
                continue
            t = cover[sel]  # [k, g*g]
            e = inst[i, lv]  # [D, g*g]
            proto = F.normalize(t @ e.T, dim=1)  # [k, D]
            z = scale * (proto @ e) + head.bias  # [k, g*g]
            bce = F.binary_cross_entropy_with_logits(z, t)
            prob = torch.sigmoid(z)
            inter = (prob * t).sum(1)
            dice = 1 - (2 * inter + 1) / (prob.sum(1) + t.sum(1) + 1)
            losses.append(bce + dice.mean())
            with torch.no_grad():
                ious.append(float((inter / (prob.sum(1) + t.sum(1) - inter).clamp(min=1e-6)).mean()))
    if not losses:
        return emb.new_zeros(()), 0.0
    return torch.stack(losses).mean(), sum(ious) / len(ious)
