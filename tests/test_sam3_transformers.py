"""sam_core.sam3 against transformers' Sam3Model where the two official implementations agree.

Image features (the FPN maps) and text features (valid tokens) are compared on identical tiny random
weights, loaded into ours through sam_core.weights.sam3_hf_keys. Detection outputs are not compared:
Meta's code always appends the geometry encoder's CLS token to the prompt (so a text-only prompt
has 32 text tokens + 1 geometry token), while transformers skips the geometry encoder for text-only
prompts; sam_core follows Meta (the released weights were trained that way), so on the same
weights the two official paths give different logits. Padding positions of the text also differ
(transformers masks padding keys, Meta's CLIP tower only applies the causal mask), so only the
phrase's own tokens are compared.
"""

from __future__ import annotations

import os

import pytest
import torch

from sam_core.sam3.build import SAM3_CONFIGS, build_sam3_from_config
from sam_core.weights.sam3_hf_keys import hf_to_sam3_state_dict

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
