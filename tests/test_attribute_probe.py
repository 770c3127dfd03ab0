"""benchmarks.attribute_probe: the pooling over covered cells and the cross-validated linear probe."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.attribute_probe import pooled_features, probe_accuracy


def test_pooled_features_average_the_cells_the_object_half_covers():
    features = torch.arange(16, dtype=torch.float32).view(1, 4, 4)  # one channel, cell value = its index
    mask = np.zeros((8, 8), bool)
    mask[:4, :3] = True  # cells (0,0), (1,0) full; (0,1), (1,1) half covered -> kept
    assert pooled_features(features, mask).tolist() == [np.mean([0, 1, 4, 5])]
    mask[:] = False
    mask[0, 0] = True  # a quarter of one cell: no cell half covered
    assert pooled_features(features, mask) is None


def test_probe_separates_separable_colours_and_not_noise():
    rng = np.random.default_rng(0)
    labels = ["red", "blue", "green"] * 40
    centres = {"red": [2.0, 0, 0], "blue": [0, 2.0, 0], "green": [0, 0, 2.0]}
    x = np.array([centres[c] for c in labels]) + rng.normal(0, 0.3, (120, 3))
    assert probe_accuracy(x, labels) > 0.95
    assert probe_accuracy(rng.normal(0, 1, (120, 3)), labels) < 0.6  # chance is 1/3
