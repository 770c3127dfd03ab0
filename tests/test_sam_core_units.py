"""Small, fast checks of sam_core pieces: transforms, builders, predictor input handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core import SamPredictor, build_sam
from sam_core.sam1.build import NANO_DECODER, VIT_SIZES, sam_model_registry
from sam_core.transforms import ResizeLongestSide


def test_preprocess_shape_rounds_half_up():
    assert ResizeLongestSide.get_preprocess_shape(480, 640, 1024) == (768, 1024)
    assert ResizeLongestSide.get_preprocess_shape(333, 500, 1024) == (682, 1024)  # 681.98 -> 682
    assert ResizeLongestSide.get_preprocess_shape(1000, 10, 256) == (256, 3)  # 2.56 -> 3


def test_coords_scale_with_the_image():
    t = ResizeLongestSide(1024)
    coords = t.apply_coords(np.array([[320.0, 240.0]]), (480, 640))
    np.testing.assert_allclose(coords, [[512.0, 384.0]])
    boxes = t.apply_boxes(np.array([0, 0, 640, 480]), (480, 640))
    np.testing.assert_allclose(boxes, [[0, 0, 1024, 768]])


def test_registry_has_every_model_type():
    assert {"vit_b", "vit_l", "vit_h", "vit_t", "nano", "default"} <= set(sam_model_registry)
    assert VIT_SIZES["vit_h"].embed_dim == 1280 and VIT_SIZES["vit_h"].depth == 32


def test_unknown_model_type_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown model type"):
        build_sam("vit_x")


def test_vit_h_shapes_on_meta_device():
    with torch.device("meta"):
        model = sam_model_registry["vit_h"]()
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(641_090_608, rel=1e-6)


@pytest.fixture(scope="module")
def nano_predictor():
    torch.manual_seed(0)
    return SamPredictor(sam_model_registry["nano"]().eval())


def test_predict_shapes_and_types(nano_predictor):
    nano_predictor.set_image(np.zeros((120, 90, 3), dtype=np.uint8))
    masks, scores, logits = nano_predictor.predict(point_coords=np.array([[45, 60]]), point_labels=np.array([1]))
    assert masks.shape == (3, 120, 90) and masks.dtype == bool
    assert scores.shape == (3,) and scores.dtype == np.float32
    low = 4 * NANO_DECODER.embedding_grid  # low-res logits are 4x the embedding grid (SAM: 4 x 64 = 256)
    assert logits.shape == (3, low, low)
    masks, scores, logits = nano_predictor.predict(box=np.array([10, 10, 80, 100]), multimask_output=False)
    assert masks.shape == (1, 120, 90) and logits.shape == (1, low, low)
    raw, _, _ = nano_predictor.predict(point_coords=[[1, 1]], point_labels=[1], return_logits=True)
    assert raw.dtype == np.float32


def test_set_image_rejects_non_rgb_uint8(nano_predictor):
    with pytest.raises(ValueError, match="uint8"):
        nano_predictor.set_image(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        nano_predictor.set_image(np.zeros((10, 10, 3), dtype=np.float32))


def test_bgr_input_is_flipped(nano_predictor):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (50, 60, 3), dtype=np.uint8)
    nano_predictor.set_image(rgb)
    a = nano_predictor.get_image_embedding().clone()
    nano_predictor.set_image(np.ascontiguousarray(rgb[..., ::-1]), image_format="BGR")
    torch.testing.assert_close(nano_predictor.get_image_embedding(), a)


def test_vit_t_has_the_full_mobile_sam_key_set():
    """MobileSAM = TinyViT image encoder + SAM's own prompt encoder and mask decoder (same keys as vit_b)."""
    from pathlib import Path

    fixture = Path(__file__).parent / "fixtures" / "mobile_sam_image_encoder_keys.txt"
    encoder_keys = {
        line.split()[0] for line in fixture.read_text().splitlines() if line.strip() and not line.startswith("#")
    }
    mobile = sam_model_registry["vit_t"]()  # small; TinyViT builds index buffers with real data
    with torch.device("meta"):
        vit_b = sam_model_registry["vit_b"]()
    decoder_side = {k for k in vit_b.state_dict() if not k.startswith("image_encoder.")}
    assert set(mobile.state_dict()) == encoder_keys | decoder_side
