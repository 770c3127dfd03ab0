"""Why minimum-loss assignment: a train-free demonstration on three free masks and one ambiguous click.

A click on a mug handle is ambiguous: the annotator may have meant the handle, the mug, or the mug on
its saucer. Give three candidate masks (free logit maps, no network) the specialised answer — mask i
equals ground-truth level i — and follow the gradient of each objective over all three targets:

  average loss:  mean over targets and masks of L(mask_i, target_j)   -> every mask is pulled toward
                 every target, so the three become the same compromise mask;
  minimum loss:  mean over targets of min_i L(mask_i, target_j)       -> each target only pulls the
                 mask closest to it, so the specialised answer is a fixed point and stays.

L is sam_core.losses.mask_loss (20 focal + 1 dice) and the minimum is sam_core.losses.min_loss_assignment,
the same calls as training. Imports no Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sam_core.losses import DICE_WEIGHT, FOCAL_WEIGHT
from sam_core.masks import iou_matrix, mask_iou

GRID = 64  # side of the free masks (the embedding grid's side; small enough to run in about a second)
STEPS = 100  # gradient steps per objective
LEARNING_RATE = 0.1  # Adam
START_LOGIT = 3.0  # the specialised start: +3 inside target i, -3 outside (sigmoid 0.95 / 0.05)


def downsample(mask: np.ndarray, grid: int = GRID) -> np.ndarray:
    """bool [H, W] -> float 0/1 [grid, grid] by area (a cell is foreground if half of it is)."""
    from PIL import Image

    small = Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255).resize((grid, grid), Image.Resampling.BOX)
    return (np.asarray(small) >= 128).astype(np.float32)


@dataclass(frozen=True)
class DemoResult:
    objective: str  # "average" or "minimum"
    iou: np.ndarray  # [3 masks, 3 targets] IoU of the final masks (logit > 0) with each target
    agreement: float  # mean IoU between pairs of final masks (1 = the three masks are identical)
    loss_start: float
    loss_end: float
    grad_norm_start: list[float]  # gradient norm of each mask at the specialised start
    masks: np.ndarray  # bool [3, grid, grid] at the end


def _pairwise_agreement(masks: np.ndarray) -> float:
    values = [mask_iou(masks[i], masks[j]) for i in range(len(masks)) for j in range(i + 1, len(masks))]
    return float(np.mean(values))


def run_demo(target_masks: Sequence[np.ndarray], objective: str, steps: int = STEPS, grid: int = GRID,
             focal_weight: float = FOCAL_WEIGHT, dice_weight: float = DICE_WEIGHT) -> DemoResult:
    """Gradient descent on three free masks, starting at mask i = target i, under one objective."""
    import torch

    from sam_core import losses

    targets = torch.from_numpy(np.stack([downsample(m, grid) for m in target_masks]))  # T x g x g
    n = targets.shape[0]
    logits = ((targets * 2 - 1) * START_LOGIT).clone().requires_grad_(True)  # M x g x g, M = T
    optimizer = torch.optim.Adam([logits], lr=LEARNING_RATE)

    def objective_value() -> torch.Tensor:
        # per[i, j] = loss of mask i against target j
        per = losses.mask_loss(logits[:, None].expand(n, n, grid, grid), targets[None].expand(n, n, grid, grid),
                               focal_weight, dice_weight)
        if objective == "average":
            return per.mean()
        best, _ = losses.min_loss_assignment(per.T)  # for each target, the best mask
        return best.mean()

    grad_start: list[float] = []
    loss_start = loss_end = 0.0
    with torch.enable_grad():
        for step in range(steps):
            value = objective_value()
            optimizer.zero_grad()
            value.backward()
            if step == 0:
                loss_start = float(value.detach())
                grad_start = [float(g) for g in logits.grad.flatten(1).norm(dim=1)]
            optimizer.step()
        loss_end = float(objective_value().detach())
    final = (logits.detach() > 0).numpy()
    iou = iou_matrix(final, list(targets.numpy() > 0.5))
    return DemoResult(objective, iou, _pairwise_agreement(final), loss_start, loss_end, grad_start, final)
