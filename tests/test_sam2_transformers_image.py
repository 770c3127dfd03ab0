"""SAM 2 image path vs transformers' Sam2Model on identical random weights (mapped by sam2_hf_keys).

Our SAM2ImagePredictor's low-res logits and IoUs, and the object score of the SAM heads, against
Sam2Model fed the same pixel_values (its image processor needs torchvision) and the prompts scaled to the
model's input size as its processor does: a point with multimask on / off, a box, a box with two points.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_core.sam2.build import build_sam2
from sam_core.sam2.image_predictor import SAM2ImagePredictor, preprocess_image
from sam_core.weights.sam2_hf_keys import sam2_hf_to_original_state_dict
from tests.conftest import require
from tests.test_sam2_hf_keys import hf_image_config, tie_gaussians_
from tests.test_sam2_oracle import randomize_

TOL = 1e-4


def _compare(image_size: int, image_hw: tuple[int, int]) -> dict[str, float]:
    transformers = require("transformers")
    torch.manual_seed(0)
    hf = transformers.Sam2Model(hf_image_config("hiera_tiny", image_size)).eval()
    randomize_(hf)
    tie_gaussians_(hf)
    ours = build_sam2("hiera_tiny", image_size=image_size)
    missing, unexpected = ours.load_state_dict(sam2_hf_to_original_state_dict(hf.state_dict()), strict=False)
    assert unexpected == [] and all(not k.startswith(("image_encoder.", "sam_")) for k in missing)
    predictor = SAM2ImagePredictor(ours)
    h, w = image_hw
    image = np.random.default_rng(0).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    predictor.set_image(image)
    pixel_values = preprocess_image(image, image_size).reshape(1, 3, image_size, image_size)
    scale = np.array([image_size / w, image_size / h])
    point, box = np.array([[w * 0.4, h * 0.55]]), np.array([w * 0.2, h * 0.3, w * 0.7, h * 0.8])
    two_points = np.array([[w * 0.5, h * 0.5], [w * 0.3, h * 0.4]])
    prompts = {
        "point_multi": (dict(point_coords=point, point_labels=np.array([1])), True),
        "point_single": (dict(point_coords=point, point_labels=np.array([1])), False),
        "box_single": (dict(box=box), False),
        "box_point_multi": (dict(box=box, point_coords=two_points, point_labels=np.array([1, 0])), True),
    }
    errors: dict[str, float] = {}
    for name, (prompt, multimask) in prompts.items():
        _, o_iou, o_low = predictor.predict(**prompt, multimask_output=multimask, return_logits=True)
        hf_inputs = {}
        if "point_coords" in prompt:
            hf_inputs["input_points"] = torch.tensor(prompt["point_coords"] * scale, dtype=torch.float32)[None, None]
            hf_inputs["input_labels"] = torch.tensor(prompt["point_labels"])[None, None]
        if "box" in prompt:
            hf_inputs["input_boxes"] = torch.tensor(prompt["box"].reshape(2, 2) * scale, dtype=torch.float32).reshape(1, 1, 4)
        with torch.no_grad():
            hf_out = hf(pixel_values=pixel_values, multimask_output=multimask, **hf_inputs)
        errors[f"{name}.low_res"] = float(np.abs(o_low - hf_out.pred_masks[0, 0].numpy()).max())
        errors[f"{name}.iou"] = float(np.abs(o_iou - hf_out.iou_scores[0, 0].numpy()).max())
        if name == "point_multi":
            points = {"point_coords": hf_inputs["input_points"][0], "point_labels": hf_inputs["input_labels"][0]}
            with torch.no_grad():
                heads = ours._forward_sam_heads(
                    predictor._features["image_embed"], point_inputs=points,
                    high_res_features=predictor._features["high_res_feats"], multimask_output=True,
                )
            errors["object_score"] = (heads[6].reshape(-1) - hf_out.object_score_logits.reshape(-1)).abs().max().item()
    return errors


def test_image_predictor_matches_transformers_small():
    errors = _compare(256, (200, 300))
    assert max(errors.values()) <= TOL, errors


@pytest.mark.slow
def test_image_predictor_matches_transformers_1024():
    errors = _compare(1024, (480, 640))
    assert max(errors.values()) <= TOL, errors
