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

Two recipes (`LossWeights.recipe`):
- "nano_v1" (stages 1-3 of the embedded model): L_cls as above (α = 0.25, γ = 2), weights
  cls 2, L1 5, GIoU 2, mask 1 x (20 focal + 1 dice), presence 1.
- "sam3" (Meta's SAM 3 training config: IABCEMdetr, Boxes, Masks): the classification is IoU-aware BCE,

    L_cls = mean over prompts x queries of
              pos_weight · BCE(logit_q, t_q),  t_q = p_q^α · IoU(b_q, b_n)^(1−α) ≥ 0.01   for a matched query q
              p_q^γ · BCE(logit_q, 0)                                              for the others
            (α = 0.25, γ = 2, pos_weight = 10; a prompt without instances counts 0)

  (Meta averages over 200 query slots and has 200 queries; the nano has 24, averaged the same way),
  presence focal with α = 0.5, γ = 0 (= 0.5 · BCE), and weights cls 20, presence 20, L1 5, GIoU 2,
  mask 200 focal + 10 dice. Against "nano_v1" this weighs presence ten times more (the weak part of stages 1-3:
  the presence said "absent" on half the present phrases) and trains positives toward a calibrated score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from sam_core.losses import FOCAL_ALPHA, FOCAL_GAMMA, mask_loss
from sam_core.sam3.common import box_cxcywh_to_xyxy

RECIPES = ("nano_v1", "sam3")


@dataclass(frozen=True)
class LossWeights:
    """Weights and loss forms; `for_recipe(name)` gives a recipe's. The defaults are "nano_v1"."""

    cls: float = 2.0  # DETR-family focal classification weight
    l1: float = 5.0  # box L1 (normalised coordinates)
    giou: float = 2.0
    mask: float = 1.0  # times SAM's 20 focal + 1 dice per mask
    presence: float = 1.0
    recipe: str = "nano_v1"  # the loss forms: "nano_v1" focal classification + BCE presence; "sam3" Meta's
    pos_weight: float = 10.0  # "sam3": weight of the matched queries' BCE (IABCEMdetr pos_weight)
    iou_alpha: float = 0.25  # "sam3": soft target p^alpha * IoU^(1 - alpha)
    neg_gamma: float = 2.0  # "sam3": unmatched queries' BCE times p^gamma
    presence_alpha: float = 0.5  # "sam3": presence focal alpha (gamma 0): alpha-weighted BCE

    @staticmethod
    def for_recipe(name: str) -> "LossWeights":
        if name == "nano_v1":
            return LossWeights()
        if name == "sam3":  # Meta's SAM 3 config: loss_ce 20, presence_loss 20, bbox 5, giou 2, mask 200, dice 10
            return LossWeights(cls=20.0, l1=5.0, giou=2.0, mask=10.0, presence=20.0, recipe="sam3")
        raise ValueError(f"unknown loss recipe {name!r}; choose one of {RECIPES}")


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


def box_iou_diagonal(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[N, 4], [N, 4] xyxy -> [N]: IoU of each pair a[i], b[i]."""
    lt, rb = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]).clamp(min=0) * (x[:, 3] - x[:, 1]).clamp(min=0)  # noqa: E731
    return inter / (area(a) + area(b) - inter).clamp(min=1e-7)


def sigmoid_focal(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Element-wise sigmoid focal loss (α = 0.25, γ = 2)."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    return (FOCAL_ALPHA * targets + (1 - FOCAL_ALPHA) * (1 - targets)) * ce * (1 - p_t) ** FOCAL_GAMMA


def iou_aware_bce(logits: torch.Tensor, matched: np.ndarray, matched_iou: torch.Tensor,
                  weights: LossWeights) -> torch.Tensor:
    """SAM 3's IABCEMdetr classification for one prompt: logits [Q], matched query indices, their box IoU with
    the matched instance [len(matched)] -> the mean over queries (see the module docstring)."""
    prob = logits.sigmoid()
    is_pos = torch.zeros_like(logits)
    is_pos[matched] = 1.0
    with torch.no_grad():
        soft = torch.zeros_like(logits)
        soft[matched] = (prob[matched] ** weights.iou_alpha * matched_iou.clamp(min=0) ** (1 - weights.iou_alpha)
                         ).clamp(min=0.01)
    pos = F.binary_cross_entropy_with_logits(logits, soft, reduction="none") * is_pos * weights.pos_weight
    neg = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="none") * (1 - is_pos)
    neg = neg * prob.detach() ** weights.neg_gamma if weights.neg_gamma else neg
    return (pos + neg).mean()


def presence_loss(logits: torch.Tensor, present: torch.Tensor, weights: LossWeights) -> torch.Tensor:
    """[K] presence logits, [K] 0/1 -> scalar: BCE ("nano_v1") or SAM 3's alpha-weighted BCE (focal, gamma 0)."""
    if weights.recipe != "sam3":
        return F.binary_cross_entropy_with_logits(logits, present)
    ce = F.binary_cross_entropy_with_logits(logits, present, reduction="none")
    alpha = weights.presence_alpha * present + (1 - weights.presence_alpha) * (1 - present)
    return (alpha * ce).mean()


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
        terms["presence"] = terms["presence"] + presence_loss(outputs["presence"][layer], present, weights)
        for k in range(n_prompts):
            if len(target_boxes[k]) == 0:
                continue
            logits, boxes = outputs["logits"][layer, k], outputs["boxes"][layer, k]
            q_idx, t_idx = hungarian_match(logits, boxes, target_boxes[k], weights)
            matched, truth = boxes[q_idx], target_boxes[k][t_idx]
            pairs = generalized_box_iou(box_cxcywh_to_xyxy(matched), box_cxcywh_to_xyxy(truth))
            giou = pairs.diagonal()
            if weights.recipe == "sam3":  # Meta: mean over all prompts x queries, absent prompts counted as 0
                box_iou = box_iou_diagonal(box_cxcywh_to_xyxy(matched.detach()), box_cxcywh_to_xyxy(truth))
                terms["cls"] = terms["cls"] + iou_aware_bce(logits, q_idx, box_iou, weights) / n_prompts
            else:
                cls_target = torch.zeros_like(logits)
                cls_target[q_idx] = 1.0
                terms["cls"] = terms["cls"] + sigmoid_focal(logits, cls_target).sum() / n_targets
            terms["l1"] = terms["l1"] + (matched - truth).abs().sum() / n_targets
            terms["giou"] = terms["giou"] + (1 - giou).sum() / n_targets
            if layer == n_layers - 1:
                size = target_masks[k].shape[-2:]
                pred = F.interpolate(outputs["masks"][k, q_idx][None], size=size, mode="bilinear",
                                     align_corners=False)[0]  # N x H x W
                terms["mask"] = terms["mask"] + mask_loss(pred[None], target_masks[k][t_idx][None]).sum() / n_targets
    total = (weights.cls * terms["cls"] + weights.l1 * terms["l1"] + weights.giou * terms["giou"]
             + weights.mask * terms["mask"] + weights.presence * terms["presence"])
    return {"total": total, **terms}
