"""transformers `Sam3Model` keys -> sam_core.sam3 (Meta's) keys, for the vision backbone and the text encoder.

What differs besides the names: transformers splits fused projections (the ViT's `qkv`, the text
attention's `in_proj`) into q / k / v, stores the ViT position table without Meta's unused CLS row,
and stores CLIP's `text_projection` as a Linear weight (transposed).

Not mapped yet: the geometry encoder, fusion encoder, decoder, scorer and segmentation head
(`geometry_encoder.*`, `detr_encoder.*`, `detr_decoder.*`, `dot_product_scoring.*`, `mask_decoder.*`);
`hf_to_sam3_state_dict` returns those keys under `unmapped` so a caller can refuse the checkpoint.
"""

from __future__ import annotations

import re

import torch

_VIT = "vision_encoder.backbone."
_NECK = "vision_encoder.neck.fpn_layers."
_TEXT = "text_encoder.text_model."
# FPN level i's transformers scale_layers index -> Meta's module name (levels: scales 4, 2, 1, 0.5).
_SCALE_LAYERS = {(0, 0): "dconv_2x2_0", (0, 2): "dconv_2x2_1", (1, 0): "dconv_2x2"}


def hf_to_sam3_state_dict(hf: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Returns (state dict with sam_core.sam3 names for the mapped parts, transformers keys not mapped)."""
    out: dict[str, torch.Tensor] = {}
    unmapped: list[str] = []
    for key, value in hf.items():
        if key == _VIT + "embeddings.position_embeddings":
            cls_row = value.new_zeros(1, 1, value.shape[-1])  # Meta's table has a CLS row it never uses
            out["backbone.vision_backbone.trunk.pos_embed"] = torch.cat([cls_row, value], dim=1)
        elif key == _VIT + "embeddings.patch_embeddings.projection.weight":
            out["backbone.vision_backbone.trunk.patch_embed.proj.weight"] = value
        elif key.startswith(_VIT + "layer_norm."):
            out["backbone.vision_backbone.trunk.ln_pre." + key.rsplit(".", 1)[1]] = value
        elif m := re.fullmatch(re.escape(_VIT) + r"layers\.(\d+)\.(.+)", key):
            block, rest = m.groups()
            prefix = f"backbone.vision_backbone.trunk.blocks.{block}."
            if rest.startswith("attention.") and rest.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                if rest.split(".")[1] == "q_proj":
                    kind = rest.rsplit(".", 1)[1]
                    base = _VIT + f"layers.{block}.attention."
                    out[prefix + "attn.qkv." + kind] = torch.cat(
                        [hf[base + f"{p}_proj.{kind}"] for p in "qkv"], dim=0)
            else:
                rest = rest.replace("attention.o_proj", "attn.proj").replace("layer_norm1", "norm1")
                out[prefix + rest.replace("layer_norm2", "norm2")] = value
        elif m := re.fullmatch(re.escape(_NECK) + r"(\d+)\.(scale_layers\.(\d+)|proj1|proj2)\.(weight|bias)", key):
            level, part, index, kind = m.groups()
            name = _SCALE_LAYERS[(int(level), int(index))] if index is not None else (
                "conv_1x1" if part == "proj1" else "conv_3x3")
            out[f"backbone.vision_backbone.convs.{level}.{name}.{kind}"] = value
        elif key.startswith(_TEXT) or key.startswith("text_encoder.") or key.startswith("text_projection."):
            _map_text(key, value, hf, out)
        else:
            unmapped.append(key)
    return out, unmapped


def _map_text(key: str, value: torch.Tensor, hf: dict[str, torch.Tensor], out: dict[str, torch.Tensor]) -> None:
    enc = "backbone.language_backbone.encoder."
    if key == "text_projection.weight" or key == "text_projection.bias":
        out["backbone.language_backbone.resizer." + key.rsplit(".", 1)[1]] = value
    elif key == "text_encoder.text_projection.weight":
        out[enc + "text_projection"] = value.T.contiguous()
    elif key == _TEXT + "embeddings.token_embedding.weight":
        out[enc + "token_embedding.weight"] = value
    elif key == _TEXT + "embeddings.position_embedding.weight":
        out[enc + "positional_embedding"] = value
    elif key.startswith(_TEXT + "final_layer_norm."):
        out[enc + "ln_final." + key.rsplit(".", 1)[1]] = value
    elif m := re.fullmatch(re.escape(_TEXT) + r"encoder\.layers\.(\d+)\.(.+)", key):
        layer, rest = m.groups()
        prefix = f"{enc}transformer.resblocks.{layer}."
        if rest.startswith("self_attn.") and rest.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
            if rest.split(".")[1] == "q_proj":
                kind = rest.rsplit(".", 1)[1]
                base = _TEXT + f"encoder.layers.{layer}.self_attn."
                out[prefix + f"attn.in_proj_{kind}"] = torch.cat([hf[base + f"{p}_proj.{kind}"] for p in "qkv"], 0)
        else:
            rest = rest.replace("self_attn.out_proj", "attn.out_proj").replace("layer_norm1", "ln_1")
            out[prefix + rest.replace("layer_norm2", "ln_2").replace("mlp.fc1", "mlp.c_fc").replace(
                "mlp.fc2", "mlp.c_proj")] = value
