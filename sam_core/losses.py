"""SAM's training losses: focal + dice per mask (20 : 1), IoU-prediction MSE, minimum-loss assignment.

The same functions the lesson's Loss page calls and `sam_core.training` optimises.

Shapes: ``logits`` and ``targets`` are [..., H, W] (any leading dims, typically [B, M, H, W] with
M = masks per prompt set); targets are 0/1 (float or bool). Per-mask results drop the last two dims:
[..., H, W] -> [...].

- focal:  FL = -alpha_t (1 - p_t)^gamma log(p_t), p_t = p (target 1) or 1 - p (target 0),
          alpha_t = alpha (target 1) or 1 - alpha (target 0); averaged over the pixels of each mask.
- dice:   1 - (2 sum(p g) + s) / (sum p + sum g + s), p = sigmoid(logits), s = smooth (1).
- mask:   20 focal + 1 dice (SAM's weights: FOCAL_WEIGHT, DICE_WEIGHT, the one home of that default).
- IoU:    MSE between the IoU head's prediction and the actual IoU of the thresholded mask (logit > 0),
          the actual IoU detached (it is a target, not a path for gradients).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["DICE_WEIGHT", "FOCAL_WEIGHT", "actual_iou", "dice_loss", "focal_loss", "iou_mse", "mask_loss",
           "min_loss_assignment"]

# SAM's mask loss weights (Kirillov et al. 2023, appendix A: "a linear combination of focal loss and dice
# loss in a 20:1 ratio"). Training, the lesson pages and the demos read them from here.
FOCAL_WEIGHT = 20.0
DICE_WEIGHT = 1.0
FOCAL_ALPHA = 0.25  # focal loss: weight of the positive class (Lin et al. 2017's default, SAM's too)
FOCAL_GAMMA = 2.0  # focal loss: how fast easy pixels are down-weighted
DICE_SMOOTH = 1.0  # dice loss: added to numerator and denominator (an empty mask and target give 0 loss)


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    alpha: float = FOCAL_ALPHA,
    gamma: float = FOCAL_GAMMA,
    reduction: str = "mean",
) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al. 2017).

    logits, targets: [..., H, W]. reduction: "mean" -> per-mask mean over pixels [...];
    "none" -> per-pixel [..., H, W]; "sum" -> per-mask sum [...]. alpha < 0 disables the alpha weighting.
    """
    targets = targets.to(logits.dtype)
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # -log(p_t), stable
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean(dim=(-2, -1))
    if reduction == "sum":
        return loss.sum(dim=(-2, -1))
    raise ValueError(f"unknown reduction {reduction!r}; expected 'mean', 'sum' or 'none'")


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, smooth: float = DICE_SMOOTH) -> torch.Tensor:
    """Soft dice loss per mask: [..., H, W] -> [...]; 0 = perfect overlap, -> 1 = none."""
    targets = targets.to(logits.dtype)
    p = torch.sigmoid(logits)
    inter = (p * targets).sum(dim=(-2, -1))
    return 1 - (2 * inter + smooth) / (p.sum(dim=(-2, -1)) + targets.sum(dim=(-2, -1)) + smooth)


def mask_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    focal_weight: float = FOCAL_WEIGHT,
    dice_weight: float = DICE_WEIGHT,
) -> torch.Tensor:
    """SAM's per-mask loss 20 focal + 1 dice: [B, M, H, W] (targets broadcastable) -> [B, M]."""
    targets = targets.to(logits.dtype).expand_as(logits)
    return focal_weight * focal_loss(logits, targets) + dice_weight * dice_loss(logits, targets)


@torch.no_grad()
def actual_iou(logits: torch.Tensor, targets: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """IoU of the thresholded masks (logit > threshold) with the targets: [..., H, W] -> [...] (no grad).

    Both empty -> 1 (nothing to find, nothing found).
    """
    pred = logits > threshold
    gt = (targets > 0.5).expand_as(pred)
    inter = (pred & gt).sum(dim=(-2, -1)).to(torch.float32)
    union = (pred | gt).sum(dim=(-2, -1)).to(torch.float32)
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).to(logits.dtype)


def iou_mse(pred_iou: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-mask squared error of the IoU head: pred_iou [B, M], logits [B, M, H, W] -> [B, M].

    The target is the actual IoU of each thresholded mask, detached. Take .mean() for the scalar MSE.
    """
    return (pred_iou - actual_iou(logits, targets).detach()) ** 2


def min_loss_assignment(per_mask_loss: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep only the best of the M candidate masks: per_mask_loss [B, M] -> (min_loss [B], best_index [B]).

    Gradients flow only through the selected mask (the others get none), which lets each output token
    specialise in a granularity (part / object / group).
    """
    min_loss, best_index = per_mask_loss.min(dim=-1)
    return min_loss, best_index
