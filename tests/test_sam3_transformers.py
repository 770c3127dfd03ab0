"""sam_core.sam3 against transformers' Sam3Model: the key map, and outputs where the two official paths agree.

Every key of a transformers Sam3Model (tiny and full size) maps onto ours through
sam_core.weights.sam3_hf_keys. On identical tiny random weights:
- image features (the FPN maps) and text features (the phrase's own tokens) agree;
- with exemplar boxes, every detection output agrees (logits, boxes, presence, masks, semantic seg);
- with a phrase alone they differ, and the test shows it: Meta's code always appends the geometry
  encoder's CLS token to the prompt (32 text tokens + 1 geometry token), transformers skips the
  geometry encoder when there are no boxes. sam_core follows Meta (the released weights were trained
  that way).
Text padding positions also differ (transformers masks padding keys inside CLIP, Meta's tower only
applies the causal mask); every later stage masks them, so only the phrase's tokens are compared.
transformers' box path calls torchvision's roi_align, which this machine lacks: it is given the
brute-force reference of tests/sam3_oracle.py (itself checked against sam_core's roi_align).
"""

from __future__ import annotations

import os
import types

import pytest
import torch

from sam_core.sam3.build import SAM3_CONFIGS, build_sam3, build_sam3_from_config
from sam_core.sam3.geometry_encoder import GeometricPrompt
from sam_core.weights.sam3_hf_keys import POINT_KEYS, hf_to_sam3_state_dict
from tests.sam3_oracle import roi_align_reference

try:
    from transformers import Sam3Config, Sam3Model
except ImportError as e:  # transformers < 5 has no SAM 3
    if os.environ.get("CI") == "true":
        pytest.fail(f"transformers with Sam3Model is required under CI: {e}")
    pytest.skip(f"transformers without Sam3Model: {e}", allow_module_level=True)


def _tiny_hf_model(cfg) -> Sam3Model:
    vit = dict(model_type="sam3_vit_model", hidden_size=cfg.vit_dim, intermediate_size=int(cfg.vit_dim * cfg.vit_mlp_ratio),
               num_hidden_layers=cfg.vit_depth, num_attention_heads=cfg.vit_heads, image_size=cfg.image_size,
               window_size=cfg.window_size, global_attn_indexes=list(cfg.global_blocks),
               pretrain_image_size=cfg.pretrain_image_size, layer_norm_eps=1e-5)  # Meta's ViT LayerNorm eps
    side = cfg.image_size // cfg.patch_size
    hf_cfg = Sam3Config(
        vision_config=dict(backbone_config=vit, fpn_hidden_size=cfg.d_model,
                           backbone_feature_sizes=[[4 * side] * 2, [2 * side] * 2, [side] * 2]),
        text_config=dict(hidden_size=cfg.text_width, intermediate_size=4 * cfg.text_width,
                         num_hidden_layers=cfg.text_layers, num_attention_heads=cfg.text_heads, projection_dim=512,
                         max_position_embeddings=cfg.context_length, hidden_act="gelu"),
        geometry_encoder_config=dict(hidden_size=cfg.d_model, num_layers=cfg.geometry_layers,
                                     num_attention_heads=cfg.heads, intermediate_size=cfg.ffn_dim),
        detr_encoder_config=dict(hidden_size=cfg.d_model, num_layers=cfg.encoder_layers,
                                 num_attention_heads=cfg.heads, intermediate_size=cfg.ffn_dim),
        detr_decoder_config=dict(hidden_size=cfg.d_model, num_layers=cfg.decoder_layers,
                                 num_attention_heads=cfg.heads, intermediate_size=cfg.ffn_dim,
                                 num_queries=cfg.num_queries),
        mask_decoder_config=dict(hidden_size=cfg.d_model, num_attention_heads=cfg.heads))
    return Sam3Model(hf_cfg).eval()


def test_image_and_text_features_match_transformers():
    cfg = SAM3_CONFIGS["tiny"]
    torch.manual_seed(0)
    hf = _tiny_hf_model(cfg)
    ours = build_sam3_from_config(cfg)
    mapped, unmapped = hf_to_sam3_state_dict(hf.state_dict())
    ours_sd = ours.state_dict()
    backbone_keys = {k for k in ours_sd if k.startswith("backbone.") and not k.endswith("attn.freqs_cis")}
    assert backbone_keys <= set(mapped) and set(mapped) <= set(ours_sd)
    assert all(k.split(".")[0] in ("geometry_encoder", "detr_encoder", "detr_decoder", "dot_product_scoring",
                                   "mask_decoder") for k in unmapped)
    ours.load_state_dict(mapped, strict=False)
    image = torch.randn(1, 3, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        our_maps = ours.backbone.forward_image(image)["backbone_fpn"]
        hf_maps = hf.vision_encoder(pixel_values=image).fpn_hidden_states
        assert len(our_maps) == 3 and len(hf_maps) == 4  # Meta drops the 0.5x level (scalp = 1)
        for a, b in zip(our_maps, hf_maps[:3], strict=True):
            assert (a - b).abs().max().item() < 1e-4
        for phrase in ("a red car", "ripe apple", "visual"):
            tokens = ours.backbone.language_backbone.tokenizer([phrase], context_length=cfg.context_length)
            ours_text = ours.backbone.forward_text([phrase])["language_features"][:, 0]  # L x d
            hf_text = hf.get_text_features(input_ids=tokens, attention_mask=(tokens != 0).long()).pooler_output[0]
            valid = tokens[0] != 0
            assert (ours_text[valid] - hf_text[valid]).abs().max().item() < 1e-4, phrase


TOLERANCE = 1e-4
RECOMPUTED = ".attn.freqs_cis"  # RoPE tables: buffers computed at construction, in neither checkpoint


def _expected_keys(model) -> set[str]:
    return {k for k in model.state_dict() if not k.endswith(RECOMPUTED) and k not in POINT_KEYS}


def test_every_transformers_key_maps_onto_ours_tiny():
    cfg = SAM3_CONFIGS["tiny"]
    hf_sd = _tiny_hf_model(cfg).state_dict()
    ours_sd = build_sam3_from_config(cfg).state_dict()
    mapped, unmapped = hf_to_sam3_state_dict(hf_sd)
    assert unmapped == []
    assert set(mapped) == _expected_keys(build_sam3_from_config(cfg))
    assert all(mapped[k].shape == ours_sd[k].shape for k in mapped)
    assert sum(v.numel() for v in mapped.values()) == sum(v.numel() for v in hf_sd.values()) + cfg.vit_dim  # CLS row


def test_every_transformers_key_maps_onto_ours_full_size():
    """The released size (transformers' default Sam3Config), built on the meta device: no memory."""
    from transformers import Sam3Config as HfConfig

    with torch.device("meta"):
        hf = Sam3Model(HfConfig())
        ours = build_sam3_from_config(SAM3_CONFIGS["sam3"])
    mapped, unmapped = hf_to_sam3_state_dict(hf.state_dict())
    assert unmapped == []
    assert set(mapped) == _expected_keys(ours)
    ours_sd = ours.state_dict()
    assert all(mapped[k].shape == ours_sd[k].shape for k in mapped)
    hf_params = sum(p.numel() for p in hf.parameters())
    point_params = sum(ours_sd[k].numel() for k in POINT_KEYS)
    ours_params = sum(p.numel() for p in ours.parameters())
    assert round(hf_params / 1e6, 1) == 840.4  # the figure transformers' config gives
    assert ours_params == hf_params + point_params + 1024  # Meta's point projections and the ViT's CLS row


@pytest.fixture(scope="module")
def hf_and_ours():
    cfg = SAM3_CONFIGS["tiny"]
    torch.manual_seed(0)
    hf = _tiny_hf_model(cfg)
    with torch.no_grad():  # some heads start at zero: perturb every weight
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ours = build_sam3_from_config(cfg)
    mapped, _ = hf_to_sam3_state_dict(hf.state_dict())
    missing, unexpected = ours.load_state_dict(mapped, strict=False)
    assert unexpected == [] and all(k.endswith(RECOMPUTED) or k in POINT_KEYS for k in missing)
    return cfg, hf, ours


def _both_outputs(cfg, hf, ours, phrase, boxes, monkeypatch):
    import transformers.models.sam3.modeling_sam3 as hf_modeling

    monkeypatch.setattr(hf_modeling, "torchvision", types.SimpleNamespace(
        ops=types.SimpleNamespace(roi_align=roi_align_reference)), raising=False)
    torch.manual_seed(1)
    image = torch.randn(1, 3, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        tokens = ours.backbone.language_backbone.tokenizer([phrase], context_length=cfg.context_length)
        box_inputs = {}
        if boxes:
            box_inputs = {"input_boxes": torch.tensor([[b for b, _ in boxes]]),
                          "input_boxes_labels": torch.tensor([[int(positive) for _, positive in boxes]])}
        theirs = hf(pixel_values=image, input_ids=tokens, attention_mask=(tokens != 0).long(), **box_inputs)
        backbone_out = ours.backbone.forward_image(image)
        backbone_out.update(ours.backbone.forward_text([phrase]))
        prompt = GeometricPrompt.empty(1)
        for box, positive in boxes:
            prompt.append_boxes(torch.tensor(box).view(1, 1, 4), torch.tensor([positive]).view(1, 1))
        got = ours.forward_grounding(backbone_out, prompt)
    pairs = {"pred_logits": (got["pred_logits"][..., 0], theirs.pred_logits),
             "pred_boxes (xyxy)": (got["pred_boxes_xyxy"], theirs.pred_boxes),
             "presence": (got["presence_logit_dec"], theirs.presence_logits),
             "pred_masks": (got["pred_masks"], theirs.pred_masks),
             "semantic_seg": (got["semantic_seg"], theirs.semantic_seg)}
    for name, (a, b) in pairs.items():
        assert a.shape == b.shape, name
    return {name: (a - b).abs().max().item() for name, (a, b) in pairs.items()}


@pytest.mark.parametrize("boxes", [[([0.5, 0.5, 0.4, 0.3], True)],
                                   [([0.5, 0.5, 0.4, 0.3], True), ([0.2, 0.7, 0.2, 0.2], False)]],
                         ids=["positive_box", "positive_and_negative_box"])
def test_outputs_match_transformers_with_exemplar_boxes(hf_and_ours, boxes, monkeypatch):
    errors = _both_outputs(*hf_and_ours, "a red car", boxes, monkeypatch)
    assert max(errors.values()) <= TOLERANCE, errors


def test_text_only_differs_from_transformers_by_metas_cls_token(hf_and_ours, monkeypatch):
    """The documented difference: with no boxes, Meta (and sam_core) still append the geometry CLS
    token, transformers does not; on the same weights the detections then differ well above noise."""
    errors = _both_outputs(*hf_and_ours, "a red car", [], monkeypatch)
    assert errors["pred_logits"] > 1e-3 and errors["pred_masks"] > 1e-3, errors


def test_transformers_safetensors_layout_loads(hf_and_ours, tmp_path):
    """The hub's model.safetensors layout: detector under `detector_model.`, tracker keys beside it."""
    from safetensors.torch import save_file

    cfg, hf, _ = hf_and_ours
    state = {f"detector_model.{k}": v.clone().contiguous() for k, v in hf.state_dict().items()}
    state["tracker_model.mask_decoder.iou_token.weight"] = torch.zeros(1, 4)
    state["tracker_neck.fpn_layers.0.proj1.weight"] = torch.zeros(4, 4, 1, 1)
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    loaded = build_sam3("tiny", checkpoint=path)
    mapped, _ = hf_to_sam3_state_dict(hf.state_dict())
    loaded_sd = loaded.state_dict()
    assert all(torch.equal(loaded_sd[k], v) for k, v in mapped.items())
    assert loaded.geometry_encoder.accepts_points is False
    prompt = GeometricPrompt.empty(1)
    prompt.points = torch.zeros(1, 1, 2)
    prompt.point_labels = torch.ones(1, 1, dtype=torch.long)
    prompt.point_mask = torch.zeros(1, 1, dtype=torch.bool)
    image = torch.randn(1, 3, cfg.image_size, cfg.image_size)
    with torch.no_grad():
        backbone_out = loaded.backbone.forward_image(image)
        backbone_out.update(loaded.backbone.forward_text(["visual"]))
        with pytest.raises(ValueError, match="point-exemplar"):
            loaded.forward_grounding(backbone_out, prompt)
    state["detector_model.not_a_part.weight"] = torch.zeros(1)
    save_file(state, str(path))
    with pytest.raises(RuntimeError, match="not_a_part"):
        build_sam3("tiny", checkpoint=path)
