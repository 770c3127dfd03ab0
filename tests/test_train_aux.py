"""The training-only dense loss of sam_core.training.dense_aux: coverage on the grid, and that it can be learned."""

from __future__ import annotations

import numpy as np
import torch

from sam_core.scenes import render_scene
from sam_core.training.dense_aux import InstanceEmbeddingHead, grid_coverage, instance_embedding_loss


def test_grid_coverage_is_the_covered_fraction_of_each_cell():
    mask = torch.zeros(1, 32, 32, dtype=torch.bool)
    mask[0, :8, :8] = True  # cell (0, 0) of a 4 x 4 grid: full
    mask[0, :8, 8:12] = True  # cell (0, 1): half
    cover = grid_coverage(mask, 4).reshape(4, 4)
    assert cover[0, 0] == 1.0 and cover[0, 1] == 0.5
    assert float(cover.sum()) == 1.5


def test_loss_separates_a_scenes_objects_when_optimised():
    """A free embedding optimised under the loss recovers the scene's objects at each granularity (IoU of
    the prototype masks > 0.5), while the loss of the random start is several times higher."""
    torch.manual_seed(0)
    scene = render_scene("desk", 5, 128)
    masks = [torch.from_numpy(np.stack([o.mask for o in scene.objects]))]
    levels = [[o.level for o in scene.objects]]
    assert set(levels[0]) == {"part", "object", "group"}
    head = InstanceEmbeddingHead(16, dim=8)
    emb = torch.randn(1, 16, 16, 16, requires_grad=True)
    opt = torch.optim.Adam([emb, *head.parameters()], lr=0.05)
    first = float(instance_embedding_loss(head, emb, masks, levels)[0].detach())
    for _ in range(150):
        loss, iou = instance_embedding_loss(head, emb, masks, levels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first
    assert iou > 0.5


def test_objects_smaller_than_half_a_cell_are_skipped_and_gradients_reach_the_embedding():
    head = InstanceEmbeddingHead(4, dim=4)
    emb = torch.randn(1, 4, 8, 8, requires_grad=True)
    tiny = torch.zeros(1, 64, 64, dtype=torch.bool)
    tiny[0, 0, 0] = True  # 1 pixel of a 8 x 8 px cell
    loss, iou = instance_embedding_loss(head, emb, [tiny], [["object"]])
    assert float(loss) == 0.0 and iou == 0.0
    big = torch.zeros(1, 64, 64, dtype=torch.bool)
    big[0, :32] = True
    loss, _ = instance_embedding_loss(head, emb, [big], [["group"]])
    loss.backward()
    assert emb.grad is not None and float(emb.grad.abs().sum()) > 0
