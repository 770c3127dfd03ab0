"""sam_core.losses against hand-checked values."""

from __future__ import annotations

import math

import pytest
import torch

from sam_core.losses import actual_iou, dice_loss, focal_loss, iou_mse, mask_loss, min_loss_assignment


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def test_focal_easy_background_pixel():
    # Background pixel, predicted foreground probability 0.05 -> p_t = 0.95.
    logits = torch.tensor([[[_logit(0.05)]]], dtype=torch.float64)
    value = focal_loss(logits, torch.zeros_like(logits))
    expected = 0.75 * (1 - 0.95) ** 2 * -math.log(0.95)  # (1 - alpha) weights background
    assert value.shape == (1,)
    assert float(value[0]) == pytest.approx(expected, rel=1e-9)
    assert (1 - 0.95) ** 2 * -math.log(0.95) == pytest.approx(0.000128, abs=5e-7)  # the lesson's number


def test_focal_hard_foreground_pixel_and_ratio():
    logits = torch.tensor([[[_logit(0.1)]]], dtype=torch.float64)
    hard = float(focal_loss(logits, torch.ones_like(logits), alpha=-1)[0])
    assert hard == pytest.approx(0.81 * math.log(10), rel=1e-9)  # 1.865
    easy = float(focal_loss(torch.tensor([[[_logit(0.05)]]], dtype=torch.float64),
                            torch.zeros(1, 1, 1, dtype=torch.float64), alpha=-1)[0])
    assert hard / easy == pytest.approx(14545, rel=1e-3)


def test_focal_gamma_zero_is_bce_and_reductions():
    logits = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    targets = (torch.rand(2, 3, 8, 8) > 0.5).double()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    assert torch.allclose(focal_loss(logits, targets, alpha=-1, gamma=0, reduction="none"), bce)
    assert focal_loss(logits, targets).shape == (2, 3)
    assert torch.allclose(focal_loss(logits, targets, reduction="sum"), focal_loss(logits, targets) * 64)
    with pytest.raises(ValueError):
        focal_loss(logits, targets, reduction="max")


def test_dice_identical_and_disjoint():
    mask = torch.zeros(1, 1, 10, 10)
    mask[..., 2:6, 2:6] = 1  # 16 pixels
    sure = (mask * 2 - 1) * 50  # logits with sigmoid ~ exactly the mask
    assert float(dice_loss(sure, mask)[0, 0]) == pytest.approx(0.0, abs=1e-6)
    other = torch.zeros_like(mask)
    other[..., 7:9, 7:9] = 1
    # disjoint: 1 - (0 + 1) / (16 + 4 + 1)
    assert float(dice_loss(sure, other)[0, 0]) == pytest.approx(1 - 1 / 21, abs=1e-6)
    # both empty: smoothing gives 0 loss
    empty = torch.zeros_like(mask)
    assert float(dice_loss(torch.full_like(mask, -50.0), empty)[0, 0]) == pytest.approx(0.0, abs=1e-6)
    # half-probability everywhere: p = 0.5 on 100 pixels, g = 16 -> 1 - (2*8 + 1) / (50 + 16 + 1)
    assert float(dice_loss(torch.zeros_like(mask), mask)[0, 0]) == pytest.approx(1 - 17 / 67, rel=1e-6)


def test_mask_loss_is_20_to_1_per_mask():
    logits = torch.randn(2, 3, 16, 16)
    targets = (torch.rand(2, 1, 16, 16) > 0.7).float()
    out = mask_loss(logits, targets)
    assert out.shape == (2, 3)
    t = targets.expand_as(logits)
    assert torch.allclose(out, 20 * focal_loss(logits, t) + dice_loss(logits, t))


def test_actual_iou_and_iou_mse():
    gt = torch.zeros(1, 2, 4, 4)
    gt[..., :2, :] = 1  # 8 pixels
    logits = torch.full((1, 2, 4, 4), -5.0)
    logits[0, 0, :2, :] = 5  # exact
    logits[0, 1, :1, :] = 5  # 4 of 8
    logits.requires_grad_(True)
    iou = actual_iou(logits, gt)
    assert iou.tolist() == [[1.0, 0.5]]
    assert not iou.requires_grad
    pred = torch.tensor([[0.5, 0.5]], requires_grad=True)
    err = iou_mse(pred, logits, gt)
    assert err.detach().tolist() == [[0.25, 0.0]]
    err.sum().backward()
    assert logits.grad is None  # the IoU target is detached
    assert pred.grad.tolist() == [[-1.0, 0.0]]
    assert float(actual_iou(torch.full((1, 4, 4), -1.0), torch.zeros(1, 4, 4))[0]) == 1.0


def test_min_loss_assignment_picks_the_lowest():
    losses = torch.tensor([[0.9, 0.2, 0.5], [0.1, 0.3, 0.05]], requires_grad=True)
    best, index = min_loss_assignment(losses)
    assert index.tolist() == [1, 2]
    assert best.detach().tolist() == pytest.approx([0.2, 0.05])
    best.sum().backward()
    assert losses.grad.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # gradient only through the winner
