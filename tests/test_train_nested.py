"""--nested-frac: targets clicked inside one of their parts, so "button -> person" is a training example."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core.training.config import TrainConfig, finalize
from sam_core.training.data import ancestry, sample_batch
from sam_core.training.episode import first_prompts

SIZE = 256


def test_nested_0_draws_exactly_the_batches_of_before():
    a = sample_batch(np.random.default_rng(4), 2, 4, SIZE)
    b = sample_batch(np.random.default_rng(4), 2, 4, SIZE, nested=0.0)
    assert a.click_regions is None and b.click_regions is None
    assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets) and a.levels == b.levels


def test_nested_targets_contain_their_click_region_and_reach_every_level():
    levels = set()
    for seed in range(6):
        batch = sample_batch(np.random.default_rng(seed), 2, 4, SIZE, kinds=("person", "desk"), nested=1.0)
        regions, targets = batch.click_regions[:, 0] > 0.5, batch.targets[:, 0] > 0.5
        assert regions.shape == targets.shape
        assert all(bool(r.any()) for r in regions)
        assert not (regions & ~targets).any()  # every click region lies inside its target
        levels |= set(batch.levels)
        gen = torch.Generator().manual_seed(seed)
        points = first_prompts(batch, gen, torch.device("cpu")).points  # [N, 2] (x, y)
        for k, (x, y) in enumerate(points.round().long().tolist()):
            assert regions[k, min(y, SIZE - 1), min(x, SIZE - 1)]
    assert levels == {"part", "object", "group"}


def test_ancestry_of_a_shirt_button_is_button_shirt_person():
    from sam_core.scenes import render_scene

    scene = render_scene("person", 3)
    button = next(i for i, o in enumerate(scene.objects) if o.name == "button")
    assert [o.name for o in ancestry(scene.objects, button)] == ["button", "shirt", "person"]


def test_nested_frac_is_checked():
    with pytest.raises(ValueError, match="nested-frac"):
        finalize(TrainConfig(nested_frac=1.5), "cpu")
