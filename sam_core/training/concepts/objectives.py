r"""SAM 3's training objectives: Hungarian matching of queries to instances, then box, class, mask and
presence losses, on every decoder layer (deep supervision; masks on the last layer, which has them).

Matching (per prompt, per layer; DETR's, with scipy's linear_sum_assignment):

    C[q, n] = w_cls · (FL⁺(p_q) − FL⁻(p_q)) + w_L1 · |b_q − b_n|₁ − w_giou · GIoU(b_q, b_n)

with FL⁺ = α(1−p)^γ·(−log p), FL⁻ = (1−α)p^γ·(−log(1−p)) (Deformable-DETR's focal cost).
Losses, normalised by the number of target instances N in the batch:

    L_cls  = Σ_q focal(logit_q, [q matched]) / N          (prompts whose concept is present only:
                                                            the presence head answers "is it there")
    L_box  = Σ_matched |b_q − b_n|₁ / N,   L_giou = Σ_matched (1 − GIoU) / N
    L_mask = Σ_matched (20 · focal + 1 · dice)(mask_q, mask_n) / N     (SAM's 20 : 1, last layer)
    L_pres = BCE(presence logit, [concept present])      (every prompt)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from sam_core.losses import FOCAL_ALPHA, FOCAL_GAMMA, mask_loss
from sam_core.sam3.common import box_cxcywh_to_xyxy


@dataclass(frozen=True)
class LossWeights:
    cls: float = 2.0  # DETR-family focal classification weight
    l1: float = 5.0  # box L1 (normalised coordinates)
    giou: float = 2.0
    mask: float = 1.0  # times SAM's 20 focal + 1 dice per mask
    presence: float = 1.0


def generalized_box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[N, 4], [M, 4] xyxy -> [N, M] GIoU (Rezatofighi et al. 2019)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    iou = inter / union.clamp(min=1e-7)
    hull = (torch.max(a[:, None, 2:], b[None, :, 2:]) - torch.min(a[:, None, :2], b[None, :, :2])).clamp(min=0).prod(-1)
    return iou - (hull - union) / hull.clamp(min=1e-7)


@torch.no_grad()
def hungarian_match(logits: torch.Tensor, boxes: torch.Tensor, target_boxes: torch.Tensor,
                    weights: LossWeights = LossWeights()) -> tuple[np.ndarray, np.ndarray]:
    """logits [Q], boxes [Q, 4] (cx, cy, w, h), target_boxes [N, 4] -> (query indices, target indices)."""
    if len(target_boxes) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    p = logits.float().sigmoid()
    neg = (1 - FOCAL_ALPHA) * p**FOCAL_GAMMA * -(1 - p + 1e-8).log()
    pos = FOCAL_ALPHA * (1 - p) ** FOCAL_GAMMA * -(p + 1e-8).log()
    cost = (weights.cls * (pos - neg)[:, None] + weights.l1 * torch.cdist(boxes.float(), target_boxes, p=1)
            - weights.giou * generalized_box_iou(box_cxcywh_to_xyxy(boxes.float()), box_cxcywh_to_xyxy(target_boxes)))
    rows, cols = linear_sum_assignment(cost.cpu().numpy())
    return rows.astype(np.int64), cols.astype(np.int64)


def sigmoid_focal(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Element-wise sigmoid focal loss (α = 0.25, γ = 2)."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    return (FOCAL_ALPHA * targets + (1 - FOCAL_ALPHA) * (1 - targets)) * ce * (1 - p_t) ** FOCAL_GAMMA


def concept_losses(outputs: dict, target_boxes: list[torch.Tensor], target_masks: list[torch.Tensor],
                   weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """SAM 3's losses over K prompts.

    Arguments:
      outputs: {"logits": [L, K, Q], "boxes": [L, K, Q, 4], "presence": [L, K], "masks": [K, Q, h, w]}.
      target_boxes: K tensors [N_k, 4] normalised (cx, cy, w, h); target_masks: K bool tensors [N_k, H, W].
    Returns:
      {"total", "cls", "l1", "giou", "mask", "presence"} scalars (the last five unweighted, summed over layers).
    """
    n_layers, n_prompts = outputs["logits"].shape[:2]
    n_targets = max(1, sum(len(t) for t in target_boxes))
    zero = outputs["logits"].sum() * 0
    terms = {k: zero.clone() for k in ("cls", "l1", "giou", "mask", "presence")}
    present = torch.tensor([len(t) > 0 for t in target_boxes], dtype=torch.float32, device=zero.device)
    for layer in range(n_layers):
        terms["presence"] = terms["presence"] + F.binary_cross_entropy_with_logits(outputs["presence"][layer], present)
        for k in range(n_prompts):
            if len(target_boxes[k]) == 0:
                continue
            logits, boxes = outputs["logits"][layer, k], outputs["boxes"][layer, k]
            q_idx, t_idx = hungarian_match(logits, boxes, target_boxes[k], weights)
            cls_target = torch.zeros_like(logits)
            cls_target[q_idx] = 1.0
            terms["cls"] = terms["cls"] + sigmoid_focal(logits, cls_target).sum() / n_targets
            matched, truth = boxes[q_idx], target_boxes[k][t_idx]
            terms["l1"] = terms["l1"] + (matched - truth).abs().sum() / n_targets
            giou = generalized_box_iou(box_cxcywh_to_xyxy(matched), box_cxcywh_to_xyxy(truth)).diagonal()
            terms["giou"] = terms["giou"] + (1 - giou).sum() / n_targets
            if layer == n_layers - 1:
                size = target_masks[k].shape[-2:]
                pred = F.interpolate(outputs["masks"][k, q_idx][None], size=size, mode="bilinear",
                                     align_corners=False)[0]  # N x H x W
                terms["mask"] = terms["mask"] + mask_loss(pred[None], target_masks[k][t_idx][None]).sum() / n_targets
    total = (weights.cls * terms["cls"] + weights.l1 * terms["l1"] + weights.giou * terms["giou"]
             + weights.mask * terms["mask"] + weights.presence * terms["presence"])
    return {"total": total, **terms}
