"""lesson_content.colour_probe: pooling over covered cells, the cross-validated linear probe, and a real run."""

from __future__ import annotations

import numpy as np
import torch

from lesson_content.colour_probe import PIXELS, colour_probe, cross_validated_accuracy, pooled_features


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
    assert cross_validated_accuracy(x, labels) > 0.95
    assert cross_validated_accuracy(rng.normal(0, 1, (120, 3)), labels) < 0.6  # chance is 1/3


def test_colour_probe_on_street_scenes_reads_car_colour_from_pixels_not_from_a_blurred_grey():
    """A feature map that keeps the image's colour (its 8x8 average) probes like the mean pixel colour; one
    that keeps only brightness does worse: the probe measures what the features keep."""
    def colour_map(image):
        return torch.nn.functional.avg_pool2d(torch.from_numpy(image).permute(2, 0, 1).float()[None], 8)[0]

    def grey_map(image):
        return colour_map(image).mean(0, keepdim=True)

    result = colour_probe({"colour": colour_map, "grey": grey_map}, {"street": ("car",)}, scenes=16,
                          first_seed=1_000_000)
    car = result["car"]
    assert car.objects >= 20 and len(car.colours) >= 4
    assert car.accuracy[PIXELS] > 0.8 and car.accuracy["colour"] > 0.8
    assert car.accuracy["grey"] < car.accuracy["colour"] - 0.2


def test_colour_phrase_benchmark_asks_trained_colour_phrases_and_computes_auc():
    from benchmarks.colour_phrases import auc, colour_phrases
    from sam_core.scenes.concepts import HELD_OUT_PHRASES

    cars = colour_phrases("car")
    assert "red car" in cars and "blue car" in cars
    assert "green car" not in cars  # a held-out composition is never asked
    assert not set(cars) & set(HELD_OUT_PHRASES) and "red car window" not in cars
    assert colour_phrases("mug") and all(p.endswith(" coffee mug") for p in colour_phrases("mug"))
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0 and auc([0.1], [0.9]) == 0.0 and auc([0.5], [0.5]) == 0.5
