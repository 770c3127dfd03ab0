"""SAM 3's interactive (click / box) head against Meta's predict_inst and transformers' Sam3TrackerModel.

Meta's side (test_predict_inst_matches_metas): sam3 0.1.4's Sam3Image built with the tracker neck and its
SAM3InteractiveImagePredictor over Meta's own prompt encoder / mask decoder (tests/sam3_oracle.py), on
identical tiny random weights loaded into ours under the sam3.pt names; masks at the image's size, IoUs
and low-res logits agree to 1e-4.

The tracker head is sam_core.sam2's prompt encoder and mask decoder on SAM 3's ViT through a second FPN
(`sam2_convs`). transformers' Sam3TrackerModel is the same network with its own names; its weights are
mapped by sam_core.weights.sam3_hf_keys.hf_tracker_to_sam3_state_dict. Compared: low-res mask logits
(288 x 288 at full size, 32 x 32 here), IoU predictions and the object-score logit, for clicks, a box, a
box with clicks, one mask and three. Meta's hole filling (max_hole_area) is its post-processing step,
outside both networks; it is checked on its own.

One documented difference: Meta's predict_inst adds `no_mem_embed` to the 72 x 72 map the decoder reads
(SAM3VLBackbone drops the tracker neck's 0.5x level first). transformers' Sam3TrackerModel keeps all four
levels and adds `no_memory_embedding` to the last one, the 36 x 36 map no head reads, so for it the
embedding has no effect. sam_core follows Meta; the comparison runs with that embedding at zero, and
test_no_memory_embedding_difference_is_shown shows what it changes.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from sam_core.sam3.build import SAM3_CONFIGS, build_sam3, build_sam3_from_config
from sam_core.sam3.interactive_predictor import Sam3InteractivePredictor, fill_small_holes
from sam_core.sam3.processor import Sam3Processor
from sam_core.weights.sam3_hf_keys import hf_to_sam3_state_dict, hf_tracker_to_sam3_state_dict

try:
    from transformers import Sam3TrackerConfig, Sam3TrackerModel
except ImportError as e:  # transformers < 5 has no SAM 3
    if os.environ.get("CI") == "true":
        pytest.fail(f"transformers with Sam3TrackerModel is required under CI: {e}")
    pytest.skip(f"transformers without Sam3TrackerModel: {e}", allow_module_level=True)

TOLERANCE = 1e-4
RECOMPUTED = ".attn.freqs_cis"
# What Sam3TrackerModel holds of ours: the ViT, the tracker FPN and the heads (not the concept detector).
TRACKER_PARTS = ("tracker.", "backbone.vision_backbone.sam2_convs.", "backbone.vision_backbone.trunk.")


def _tracker_keys(model) -> set[str]:
    return {k for k in model.state_dict() if k.startswith(TRACKER_PARTS) and not k.endswith(RECOMPUTED)}


def _tiny_hf_tracker(cfg) -> Sam3TrackerModel:
    side = cfg.image_size // cfg.patch_size
    vit = dict(model_type="sam3_vit_model", hidden_size=cfg.vit_dim,
               intermediate_size=int(cfg.vit_dim * cfg.vit_mlp_ratio), num_hidden_layers=cfg.vit_depth,
               num_attention_heads=cfg.vit_heads, image_size=cfg.image_size, window_size=cfg.window_size,
               global_attn_indexes=list(cfg.global_blocks), pretrain_image_size=cfg.pretrain_image_size,
               layer_norm_eps=1e-5)
    hf_cfg = Sam3TrackerConfig(
        vision_config=dict(model_type="sam3_vision_model", backbone_config=vit, fpn_hidden_size=cfg.d_model,
                           backbone_feature_sizes=[[4 * side] * 2, [2 * side] * 2, [side] * 2]),
        prompt_encoder_config=dict(hidden_size=cfg.d_model, image_size=cfg.image_size, patch_size=cfg.patch_size),
        mask_decoder_config=dict(hidden_size=cfg.d_model, mlp_dim=cfg.ffn_dim, num_attention_heads=cfg.heads))
    return Sam3TrackerModel(hf_cfg).eval()


@pytest.fixture(scope="module")
def hf_and_ours():
    cfg = SAM3_CONFIGS["tiny"]
    torch.manual_seed(0)
    hf = _tiny_hf_tracker(cfg)
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        # One Gaussian matrix, as in a converted checkpoint (a fresh model draws its two copies apart).
        hf.prompt_encoder.shared_embedding.positional_embedding.copy_(hf.shared_image_embedding.positional_embedding)
        hf.no_memory_embedding.zero_()  # see the module docstring
    ours = build_sam3_from_config(cfg, enable_inst_interactivity=True)
    mapped, unmapped = hf_tracker_to_sam3_state_dict(hf.state_dict())
    assert unmapped == []
    missing, unexpected = ours.load_state_dict(mapped, strict=False)
    assert unexpected == []
    assert not set(missing) & _tracker_keys(ours)
    return cfg, hf, ours


def test_every_tracker_key_maps_onto_ours(hf_and_ours):
    cfg, hf, ours = hf_and_ours
    mapped, _ = hf_tracker_to_sam3_state_dict(hf.state_dict())
    ours_sd = ours.state_dict()
    assert set(mapped) == _tracker_keys(ours)
    assert all(mapped[k].shape == ours_sd[k].shape for k in mapped)


def test_full_size_tracker_keys_map_onto_ours():
    with torch.device("meta"):
        hf = Sam3TrackerModel(Sam3TrackerConfig())
        ours = build_sam3_from_config(SAM3_CONFIGS["sam3"], enable_inst_interactivity=True)
    mapped, unmapped = hf_tracker_to_sam3_state_dict(hf.state_dict())
    assert unmapped == []
    ours_sd = ours.state_dict()
    assert set(mapped) == _tracker_keys(ours)
    assert all(mapped[k].shape == ours_sd[k].shape for k in mapped)
    head = sum(p.numel() for n, p in ours.named_parameters() if n.startswith(("tracker.", "backbone.vision_backbone.sam2")))
    print(f"tracker neck + head: {head:,} parameters")


PROMPTS = {
    "one_click": dict(points=[[40.0, 60.0]], labels=[1]),
    "clicks_pos_neg": dict(points=[[40.0, 60.0], [80.0, 20.0]], labels=[1, 0]),
    "box": dict(box=[20.0, 30.0, 90.0, 100.0]),
    "box_and_click": dict(points=[[50.0, 60.0]], labels=[0], box=[20.0, 30.0, 90.0, 100.0]),
}


@pytest.mark.parametrize("multimask", [True, False], ids=["three_masks", "one_mask"])
@pytest.mark.parametrize("case", list(PROMPTS))
def test_predict_matches_transformers(hf_and_ours, case, multimask):
    cfg, hf, ours = hf_and_ours
    prompt = PROMPTS[case]
    torch.manual_seed(1)
    pixels = torch.randn(1, 3, cfg.image_size, cfg.image_size)
    inputs = {}
    if "points" in prompt:
        inputs["input_points"] = torch.tensor([[prompt["points"]]])
        inputs["input_labels"] = torch.tensor([[prompt["labels"]]], dtype=torch.int)
    if "box" in prompt:
        inputs["input_boxes"] = torch.tensor([[prompt["box"]]])
    with torch.no_grad():
        theirs = hf(pixel_values=pixels, multimask_output=multimask, **inputs)
        predictor = Sam3InteractivePredictor(ours, max_hole_area=0)
        predictor.set_backbone_out(ours.backbone.forward_image(pixels), cfg.image_size, cfg.image_size)
        _, ious, low_res = predictor.predict(
            point_coords=np.array(prompt["points"]) if "points" in prompt else None,
            point_labels=np.array(prompt["labels"]) if "points" in prompt else None,
            box=np.array(prompt["box"]) if "box" in prompt else None,
            multimask_output=multimask)  # pixels of the 112 x 112 image = input frame
    expected_masks = theirs.pred_masks[0, 0]
    assert low_res.shape == tuple(expected_masks.shape) == ((3 if multimask else 1), 32, 32)
    assert np.abs(low_res - expected_masks.numpy()).max() <= TOLERANCE
    assert np.abs(ious - theirs.iou_scores[0, 0].numpy()).max() <= TOLERANCE
    assert abs(predictor.last_object_score_logits.item() - theirs.object_score_logits.item()) <= TOLERANCE


def test_no_memory_embedding_difference_is_shown(hf_and_ours):
    """With a non-zero no_mem_embed, ours (as Meta) adds it to the 72 x 72 embedding and the masks change;
    transformers' outputs stay as they were (its addition lands on the unused 36 x 36 level)."""
    cfg, hf, ours = hf_and_ours
    torch.manual_seed(2)
    pixels = torch.randn(1, 3, cfg.image_size, cfg.image_size)
    click = {"point_coords": np.array([[40.0, 60.0]]), "point_labels": np.array([1])}
    hf_inputs = {"input_points": torch.tensor([[[[40.0, 60.0]]]]), "input_labels": torch.tensor([[[1]]], dtype=torch.int)}
    with torch.no_grad():
        backbone_out = ours.backbone.forward_image(pixels)
        predictor = Sam3InteractivePredictor(ours, max_hole_area=0)
        predictor.set_backbone_out(backbone_out, cfg.image_size, cfg.image_size)
        _, _, before = predictor.predict(**click)
        hf_before = hf(pixel_values=pixels, **hf_inputs).pred_masks
        embed = torch.randn_like(ours.tracker.no_mem_embed) * 0.1
        ours.tracker.no_mem_embed.copy_(embed)
        hf.no_memory_embedding.copy_(embed)
        try:
            features = ours.tracker.image_features(backbone_out["sam2_backbone_out"])
            coarse = backbone_out["sam2_backbone_out"]["backbone_fpn"][-1]
            assert torch.allclose(features["image_embed"], coarse + embed.view(1, -1, 1, 1))
            predictor.set_backbone_out(backbone_out, cfg.image_size, cfg.image_size)
            _, _, after = predictor.predict(**click)
            hf_after = hf(pixel_values=pixels, **hf_inputs).pred_masks
        finally:
            ours.tracker.no_mem_embed.zero_()
            hf.no_memory_embedding.zero_()
    assert np.abs(after - before).max() > 1e-3
    assert torch.equal(hf_after, hf_before)


def test_predict_inst_from_a_processor_state_shares_the_backbone(hf_and_ours):
    """Meta's API: Sam3Processor.set_image once, then concept prompts and clicks on the same state."""
    cfg, _, ours = hf_and_ours
    processor = Sam3Processor(ours, resolution=cfg.image_size, confidence_threshold=0.0)
    image = torch.randint(0, 256, (3, 60, 90), dtype=torch.uint8)
    state = processor.set_image(image)
    masks, ious, low_res = ours.predict_inst(state, point_coords=np.array([[45.0, 30.0]]), point_labels=np.array([1]))
    assert masks.shape == (3, 60, 90) and masks.dtype == bool and ious.shape == (3,) and low_res.shape == (3, 32, 32)
    predictor = Sam3InteractivePredictor(ours)
    predictor.set_image(image.permute(1, 2, 0).numpy())
    again, _, again_low = predictor.predict(point_coords=np.array([[45.0, 30.0]]), point_labels=np.array([1]))
    assert np.array_equal(masks, again) and np.allclose(low_res, again_low, atol=1e-6)
    state = processor.set_text_prompt("a red car", state)  # the detector still works on the same state
    assert state["scores"].shape == (cfg.num_queries,)


def test_image_only_model_refuses_clicks_and_loads_without_tracker(tmp_path):
    model = build_sam3("tiny")
    assert model.tracker is None and model.backbone.vision_backbone.sam2_convs is None
    with pytest.raises(ValueError, match="enable_inst_interactivity"):
        Sam3InteractivePredictor(model)
    source = build_sam3_from_config(SAM3_CONFIGS["tiny"], enable_inst_interactivity=True)
    state = {f"detector.{k}": v for k, v in source.state_dict().items() if not k.startswith("tracker.")}
    state.update({k: v for k, v in source.state_dict().items() if k.startswith("tracker.")})
    state["tracker.maskmem_backbone.fuser.layers.0.weight"] = torch.zeros(1)  # video memory: set aside
    path = tmp_path / "sam3.pt"
    torch.save({"model": state}, path)
    interactive = build_sam3("tiny", checkpoint=path, enable_inst_interactivity=True)
    image_only = build_sam3("tiny", checkpoint=path)
    for k, v in source.state_dict().items():
        assert torch.equal(interactive.state_dict()[k], v), k
    assert set(image_only.state_dict()) < set(interactive.state_dict())


def test_hub_layout_tracker_keys_map(hf_and_ours):
    """The hub's model.safetensors puts the tracker under tracker_model.* and its FPN under tracker_neck.*:
    the same tensors land on the same keys as from a Sam3TrackerModel; video-only parts stay unmapped."""
    _, hf, _ = hf_and_ours
    sd = hf.state_dict()
    state = {f"tracker_model.{k}": v for k, v in sd.items() if not k.startswith("vision_encoder.")}
    state.update({f"tracker_neck.{k[len('vision_encoder.neck.'):]}": v for k, v in sd.items()
                  if k.startswith("vision_encoder.neck.")})
    video_key = "tracker_model.memory_attention.layers.0.self_attn.q_proj.weight"
    state[video_key] = torch.zeros(2, 2)
    mapped, unmapped = hf_to_sam3_state_dict(state)
    assert unmapped == [video_key]
    from_tracker, _ = hf_tracker_to_sam3_state_dict(sd)
    head_keys = {k for k in from_tracker if not k.startswith("backbone.vision_backbone.trunk.")}
    assert set(mapped) == head_keys
    assert all(torch.equal(mapped[k], from_tracker[k]) for k in head_keys)


def test_fill_small_holes_fills_only_small_background_components():
    logits = torch.full((1, 1, 12, 12), 5.0)
    logits[0, 0, 2:4, 2:4] = -5.0  # a 4-pixel hole inside the mask: filled
    logits[0, 0, 6:12, 6:12] = -5.0  # 36 background pixels touching the border: kept
    logits[0, 0, 0, 11] = -1.0  # a 1-pixel corner diagonal to nothing else: filled (8-connected alone)
    filled = fill_small_holes(logits, threshold=0.0, max_area=10)
    assert (filled[0, 0, 2:4, 2:4] == 10.0).all() and filled[0, 0, 0, 11] == 10.0
    assert (filled[0, 0, 6:12, 6:12] == -5.0).all()
    assert torch.equal(filled[logits > 0], logits[logits > 0])
    diagonal = torch.full((1, 1, 5, 5), 5.0)
    diagonal[0, 0, 1, 1] = diagonal[0, 0, 2, 2] = -5.0  # two pixels touching at a corner: one component of 2
    assert (fill_small_holes(diagonal, 0.0, 1)[0, 0, 1, 1] == -5.0) and (fill_small_holes(diagonal, 0.0, 2)[0, 0, 1, 1] == 10.0)


@pytest.fixture(scope="module")
def meta_and_ours():
    """Meta's Sam3Image with enable_inst_interactivity (tests/sam3_oracle.py) and ours, same weights."""
    from sam_core.sam3.tokenizer import DEFAULT_BPE_PATH
    from tests.sam3_oracle import build_meta_image_model

    cfg = SAM3_CONFIGS["tiny"]
    torch.manual_seed(0)
    meta = build_meta_image_model(cfg, str(DEFAULT_BPE_PATH), interactive=True)
    with torch.no_grad():
        for p in meta.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    prefix = "inst_interactive_predictor.model."  # Meta's _load_checkpoint: "tracker." -> this prefix
    state = {("tracker." + k[len(prefix):]) if k.startswith(prefix) else k: v for k, v in meta.state_dict().items()}
    ours = build_sam3_from_config(cfg, enable_inst_interactivity=True)
    ours.load_state_dict(state, strict=True)
    return cfg, meta, ours


@pytest.mark.parametrize("multimask", [True, False], ids=["three_masks", "one_mask"])
@pytest.mark.parametrize("case", list(PROMPTS))
def test_predict_inst_matches_metas(meta_and_ours, case, multimask):
    """Meta's Sam3Image.predict_inst on a 50 x 70 image (pixel coordinates, upsampled masks), hole filling
    off on both sides: Meta's needs skimage or a GPU kernel here and skips it with a warning."""
    from tests.sam3_oracle import no_pin_memory

    cfg, meta, ours = meta_and_ours
    prompt = {k: np.array(v) * (0.5 if k != "labels" else 1) for k, v in PROMPTS[case].items()}
    kwargs = {"multimask_output": multimask, "return_logits": True}
    if "points" in prompt:
        kwargs.update(point_coords=prompt["points"], point_labels=prompt["labels"])
    if "box" in prompt:
        kwargs["box"] = prompt["box"]
    torch.manual_seed(4)
    pixels = torch.randn(1, 3, cfg.image_size, cfg.image_size)
    with torch.inference_mode(), no_pin_memory():
        backbone_out = meta.backbone.forward_image(pixels)
        tracker_fpn = backbone_out["sam2_backbone_out"]["backbone_fpn"]  # what Meta's Sam3Processor.set_image does
        decoder = meta.inst_interactive_predictor.model.sam_mask_decoder
        tracker_fpn[0], tracker_fpn[1] = decoder.conv_s0(tracker_fpn[0]), decoder.conv_s1(tracker_fpn[1])
        masks, ious, low_res = meta.predict_inst({"backbone_out": backbone_out, "original_height": 50,
                                                  "original_width": 70}, **kwargs)
    predictor = Sam3InteractivePredictor(ours, max_hole_area=0)
    predictor.set_backbone_out(ours.backbone.forward_image(pixels), 50, 70)
    our_masks, our_ious, our_low_res = predictor.predict(**kwargs)
    assert our_masks.shape == masks.shape == ((3 if multimask else 1), 50, 70)
    for ours_array, theirs_array in ((our_masks, masks), (our_ious, ious), (our_low_res, low_res)):
        assert np.abs(ours_array - theirs_array).max() <= TOLERANCE
