"""The automatic mask generator: its pieces against references, and the whole against Meta's class."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from sam_core import SamPredictor, build_sam
from sam_core.amg_utils import (
    area_from_rle,
    batched_mask_to_box,
    batched_nms,
    calculate_stability_score,
    mask_to_rle_pytorch,
    nms,
    remove_small_regions,
    rle_to_mask,
)
from sam_core.automatic_mask_generator import CPU_POINTS_PER_BATCH, SamAutomaticMaskGenerator
from sam_core.masks import iou_matrix, tight_box
from sam_core.scenes import render_scene
from tests.amg_oracle_helpers import brute_force_nms, meta_generator
from tests.conftest import require

segment_anything = require("segment_anything")

# The embedded model's masks have soft edges (stability < 0.95 at offset 1), so Meta's ViT-H defaults
# keep nothing on it; looser thresholds give masks to compare.
NANO_PARAMS = dict(points_per_side=8, pred_iou_thresh=0.5, stability_score_thresh=0.5)


@pytest.mark.parametrize("seed", range(5))
def test_nms_matches_brute_force(seed):
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(60, 2, generator=gen) * 100
    wh = torch.rand(60, 2, generator=gen) * 40 + 1
    boxes = torch.cat([xy, xy + wh], 1).round()
    scores = torch.rand(60, generator=gen)
    for threshold in (0.3, 0.5, 0.7):
        assert nms(boxes, scores, threshold).tolist() == brute_force_nms(boxes, scores, threshold)


def test_batched_nms_keeps_categories_apart():
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]], dtype=torch.float)
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0]), 0.5).tolist() == [0, 1]


def test_rle_round_trip_and_boxes():
    rng = np.random.default_rng(0)
    masks = rng.random((4, 13, 17)) > 0.6
    masks[1] = False
    masks[2, 0, 0] = True
    rles = mask_to_rle_pytorch(torch.as_tensor(masks))
    for mask, rle in zip(masks, rles, strict=True):
        assert np.array_equal(rle_to_mask(rle), mask)
        assert area_from_rle(rle) == mask.sum()
    boxes = batched_mask_to_box(torch.as_tensor(masks)).tolist()
    assert boxes[1] == [0, 0, 0, 0]
    assert [tuple(b) for i, b in enumerate(boxes) if i != 1] == [tight_box(m) for i, m in enumerate(masks) if i != 1]


def test_stability_score_is_iou_of_the_two_thresholds():
    logits = torch.randn(3, 20, 20) * 3
    inner, outer = logits > 1.0, logits > -1.0
    expected = (inner & outer).sum((1, 2)) / (inner | outer).sum((1, 2))
    assert torch.allclose(calculate_stability_score(logits, 0.0, 1.0), expected.float())


def test_remove_small_regions():
    mask = np.zeros((30, 30), dtype=bool)
    mask[2:20, 2:20] = True
    mask[8, 8] = False  # a 1-px hole
    mask[25:27, 25:27] = True  # a 4-px island
    filled, changed = remove_small_regions(mask, 5, "holes")
    assert changed and filled[8, 8] and filled.sum() == mask.sum() + 1
    cleaned, changed = remove_small_regions(filled, 5, "islands")
    assert changed and not cleaned[25:27, 25:27].any() and cleaned.sum() == 18 * 18
    same, changed = remove_small_regions(cleaned, 5, "islands")
    assert not changed and np.array_equal(same, cleaned)


def _assert_same_masks(ours, theirs):
    assert len(ours) == len(theirs) > 0
    ious = iou_matrix(np.stack([r["segmentation"] for r in ours]), [r["segmentation"] for r in theirs])
    rows, cols = linear_sum_assignment(-ious)
    assert ious[rows, cols].min() >= 0.99, ious[rows, cols].min()
    return float(ious[rows, cols].min())


@pytest.fixture(scope="module")
def nano():
    return build_sam("nano")


@pytest.mark.parametrize("kind", ["desk", "street", "orchard"])
def test_matches_meta_on_embedded_model(nano, kind):
    image = render_scene(kind, 1_000_000, 256).image
    ours = SamAutomaticMaskGenerator(nano, **NANO_PARAMS).generate(image)
    theirs = meta_generator(nano, **NANO_PARAMS).generate(image)
    _assert_same_masks(ours, theirs)
    for mine, ref in zip(ours, theirs, strict=True):  # same order: NMS by decreasing predicted IoU
        assert mine["bbox"] == ref["bbox"] and mine["area"] == ref["area"]
        assert mine["point_coords"] == ref["point_coords"] and mine["crop_box"] == ref["crop_box"]


def test_output_modes_and_progress(nano):
    image = render_scene("desk", 1_000_001, 256).image
    calls = []
    binary = SamAutomaticMaskGenerator(nano, **NANO_PARAMS).generate(image, progress=lambda d, t: calls.append((d, t)))
    rle = SamAutomaticMaskGenerator(nano, output_mode="uncompressed_rle", **NANO_PARAMS).generate(image)
    assert calls == [(1, 1)]  # 64 points in one batch
    assert len(rle) == len(binary) > 0
    assert all(np.array_equal(rle_to_mask(r["segmentation"]), b["segmentation"]) for r, b in zip(rle, binary, strict=True))
    with pytest.raises(ValueError):
        SamAutomaticMaskGenerator(nano, output_mode="polygons")


def test_cpu_batch_size_and_low_res_filtering_change_no_mask(nano):
    """Speed-ups of the CPU path keep the masks: 16-point batches vs Meta's 64, and the predicted-IoU filter
    applied before upsampling (decode_low_res) vs after (a predictor with only predict_torch)."""

    class PredictTorchOnly:  # another family's predictor: SamPredictor's interface without decode_low_res
        def __init__(self, inner):
            self._inner = inner
            self.transform, self.model = inner.transform, inner.model

        def __getattr__(self, name):
            if name == "decode_low_res":
                raise AttributeError(name)
            return getattr(self._inner, name)

    image = render_scene("street", 1_000_000, 256).image
    reference = SamAutomaticMaskGenerator(nano, points_per_batch=64, **NANO_PARAMS).generate(image)
    small = SamAutomaticMaskGenerator(nano, points_per_batch=CPU_POINTS_PER_BATCH, **NANO_PARAMS).generate(image)
    plain = SamAutomaticMaskGenerator(PredictTorchOnly(SamPredictor(nano)), **NANO_PARAMS).generate(image)
    assert len(reference) > 3
    for other in (small, plain):
        _assert_same_masks(other, reference)
        assert [r["bbox"] for r in other] == [r["bbox"] for r in reference]


def test_same_size_resize_is_skipped_exactly(nano):
    low_res = torch.randn(2, 3, 64, 64)
    skipped = nano.postprocess_masks(low_res, (256, 256), (256, 256))
    up = torch.nn.functional.interpolate(low_res, (256, 256), mode="bilinear", align_corners=False)
    resized = torch.nn.functional.interpolate(up, (256, 256), mode="bilinear", align_corners=False)
    assert torch.equal(skipped, resized)


def _random_vit_b():
    """Meta's vit_b with its own random init, and sam_core's vit_b loading the same state_dict."""
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    official = sam_model_registry["vit_b"]().eval()
    return official


@pytest.mark.slow
def test_matches_meta_end_to_end_on_random_vit_b(tmp_path):
    """Meta's whole stack (its Sam, SamPredictor and generator) against ours on identical random vit_b
    weights, at 1024 px, on 3 scenes (one non-square: the resize and padding path).

    Random decoders hardly depend on the prompt: every mask covers most of the image, with nearly the same
    box, so box NMS at Meta's 0.7 keeps one mask. With NMS at 1.0 every one of the 4 x 4 x 3 masks is kept
    and compared, in order; with Meta's 0.7 both must keep the same single mask.
    """
    from segment_anything import SamAutomaticMaskGenerator as MetaGenerator

    official = _random_vit_b()
    path = tmp_path / "vit_b_random.pth"
    torch.save(official.state_dict(), path)
    ours = build_sam("vit_b", checkpoint=path)
    keep_all = dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0)
    images = [render_scene("street", 1_000_000, 1024).image, render_scene("desk", 1_000_001, 1024).image[:, :768],
              render_scene("orchard", 1_000_002, 1024).image]
    for image in images:
        theirs = MetaGenerator(official, **keep_all).generate(image)
        mine = SamAutomaticMaskGenerator(ours, **keep_all).generate(image)
        assert len(theirs) == 4 * 4 * 3
        _assert_same_masks(mine, theirs)
        for a, b in zip(mine, theirs, strict=True):  # the same order: by decreasing predicted IoU
            assert a["bbox"] == b["bbox"] and abs(a["predicted_iou"] - b["predicted_iou"]) < 1e-4
            assert abs(a["stability_score"] - b["stability_score"]) < 1e-3
    nms = dict(keep_all, box_nms_thresh=0.7)
    theirs = MetaGenerator(official, **nms).generate(images[0])
    mine = SamAutomaticMaskGenerator(ours, **nms).generate(images[0])
    _assert_same_masks(mine, theirs)
