"""Rename a transformers ``Sam2Model`` / ``Sam2VideoModel`` state_dict to Meta's ``sam2`` names.

The ``facebook/sam2.1-hiera-*`` repositories on the hub hold, beside Meta's ``.pt``, a ``model.safetensors``
written by transformers' ``convert_sam2_video_to_hf.py``: the same tensors under other names. This module
is the inverse of that script's key table, checked by ``tests/test_sam2_hf_keys.py`` (every one of our
keys produced exactly once with the right shape, for all four sizes) and by the equivalence tests
against transformers (same numbers on the mapped weights).

What differs (HF name -> Meta name); the rest (``attn.qkv``, ``attn.proj``, ``q/k/v_proj``, ``linear1/2``,
tokens, ``conv_s0/s1``, ``mask_downsample``, ``pos_embed*``, ``no_mask_embed``) is identical:

  top level        no_memory_embedding / no_memory_positional_encoding -> no_mem_embed / no_mem_pos_enc
                   memory_temporal_positional_encoding                  -> maskmem_tpos_enc
                   no_object_pointer / occlusion_spatial_embedding_parameter -> no_obj_ptr / no_obj_embed_spatial
                   temporal_positional_encoding_projection_layer        -> obj_ptr_tpos_proj
                   object_pointer_proj                                  -> obj_ptr_proj (an MLP, see below)
  image encoder    vision_encoder.backbone. / vision_encoder.neck.      -> image_encoder.trunk. / image_encoder.neck.
                   patch_embed.projection                               -> patch_embed.proj
                   blocks.N.layer_norm1/2, blocks.N.mlp.proj_in/proj_out -> blocks.N.norm1/2, mlp.layers.0/1
                   neck.convs.N.weight                                  -> neck.convs.N.conv.weight
  prompt encoder   prompt_encoder.                                      -> sam_prompt_encoder.
                   shared_embedding.positional_embedding                -> pe_layer.positional_encoding_gaussian_matrix
                   point_embed.weight [4, 256]                          -> point_embeddings.{0..3}.weight [1, 256]
                   mask_embed.conv1/layer_norm1/conv2/layer_norm2/conv3 -> mask_downscaling.0/1/3/4/6
  mask decoder     mask_decoder.                                        -> sam_mask_decoder.
                   upscale_conv1/upscale_layer_norm/upscale_conv2       -> output_upscaling.0/1/3
                   transformer.layers.N.layer_norm1..4, .mlp.proj_in/out -> norm1..4, mlp.layers.0/1
                   transformer.layer_norm_final_attn, *.o_proj          -> norm_final_attn, *.out_proj
  MLPs             <mlp>.proj_in / <mlp>.layers.i / <mlp>.proj_out      -> <mlp>.layers.0 / .(i+1) / .(last)
                   (output_hypernetworks_mlps.N, iou_prediction_head, pred_obj_score_head, obj_ptr_proj)
  memory attention layers.N.layer_norm1..3, layer_norm, o_proj          -> norm1..3, norm, out_proj
  memory encoder   mask_downsampler.layers.i.conv / .layer_norm         -> mask_downsampler.encoder.(3i) / .(3i+1)
                   mask_downsampler.final_conv                          -> mask_downsampler.encoder.(3 x layers)
                   feature_projection, projection                       -> pix_feat_proj, out_proj
                   memory_fuser.layers.N.depthwise_conv/pointwise_conv1/2/layer_norm/scale
                                                                        -> fuser.layers.N.dwconv/pwconv1/2/norm/gamma

``shared_image_embedding.positional_embedding`` is the Gaussian matrix again (transformers ties it to the
prompt encoder's); one copy is kept, and two copies that differ are an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["is_sam2_transformers_state_dict", "sam2_hf_to_original_key", "sam2_hf_to_original_state_dict"]

GAUSSIAN_HF_TOP = "shared_image_embedding.positional_embedding"
GAUSSIAN_HF_PROMPT = "prompt_encoder.shared_embedding.positional_embedding"
POINT_EMBED_HF = "prompt_encoder.point_embed.weight"

# Keys that only a transformers SAM 2 state_dict has (Meta's has image_encoder.trunk.*, sam_mask_decoder.*).
_HF_MARKERS = ("vision_encoder.backbone.", "mask_decoder.", "prompt_encoder.", "memory_temporal_positional_encoding")

# (pattern, replacement), applied in order to every key; each anchored on its module so it cannot fire elsewhere.
_RENAMES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        # --- top-level parameters ---
        (r"^no_memory_embedding$", "no_mem_embed"),
        (r"^no_memory_positional_encoding$", "no_mem_pos_enc"),
        (r"^memory_temporal_positional_encoding$", "maskmem_tpos_enc"),
        (r"^no_object_pointer$", "no_obj_ptr"),
        (r"^occlusion_spatial_embedding_parameter$", "no_obj_embed_spatial"),
        (r"^temporal_positional_encoding_projection_layer\.", "obj_ptr_tpos_proj."),
        (r"^object_pointer_proj\.", "obj_ptr_proj."),
        # --- image encoder ---
        (r"^vision_encoder\.backbone\.", "image_encoder.trunk."),
        (r"^vision_encoder\.neck\.", "image_encoder.neck."),
        (r"^(image_encoder\.trunk\.patch_embed)\.projection\.", r"\1.proj."),
        (r"^(image_encoder\.trunk\.blocks\.\d+)\.layer_norm([12])\.", r"\1.norm\2."),
        (r"^(image_encoder\.trunk\.blocks\.\d+\.mlp)\.proj_in\.", r"\1.layers.0."),
        (r"^(image_encoder\.trunk\.blocks\.\d+\.mlp)\.proj_out\.", r"\1.layers.1."),
        (r"^(image_encoder\.neck\.convs\.\d+)\.(weight|bias)$", r"\1.conv.\2"),
        # --- prompt encoder ---
        (r"^prompt_encoder\.", "sam_prompt_encoder."),
        (r"^sam_prompt_encoder\.shared_embedding\.positional_embedding$",
         "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"),
        (r"^(sam_prompt_encoder)\.mask_embed\.conv1\.", r"\1.mask_downscaling.0."),
        (r"^(sam_prompt_encoder)\.mask_embed\.layer_norm1\.", r"\1.mask_downscaling.1."),
        (r"^(sam_prompt_encoder)\.mask_embed\.conv2\.", r"\1.mask_downscaling.3."),
        (r"^(sam_prompt_encoder)\.mask_embed\.layer_norm2\.", r"\1.mask_downscaling.4."),
        (r"^(sam_prompt_encoder)\.mask_embed\.conv3\.", r"\1.mask_downscaling.6."),
        # --- mask decoder ---
        (r"^mask_decoder\.", "sam_mask_decoder."),
        (r"^(sam_mask_decoder)\.upscale_conv1\.", r"\1.output_upscaling.0."),
        (r"^(sam_mask_decoder)\.upscale_layer_norm\.", r"\1.output_upscaling.1."),
        (r"^(sam_mask_decoder)\.upscale_conv2\.", r"\1.output_upscaling.3."),
        (r"^(sam_mask_decoder\.transformer\.layers\.\d+)\.layer_norm([1-4])\.", r"\1.norm\2."),
        (r"^(sam_mask_decoder\.transformer\.layers\.\d+\.mlp)\.proj_in\.", r"\1.layers.0."),
        (r"^(sam_mask_decoder\.transformer\.layers\.\d+\.mlp)\.proj_out\.", r"\1.layers.1."),
        (r"^(sam_mask_decoder\.transformer)\.layer_norm_final_attn\.", r"\1.norm_final_attn."),
        (r"^(sam_mask_decoder\.transformer\..+)\.o_proj\.", r"\1.out_proj."),
        # --- memory attention ---
        (r"^(memory_attention\.layers\.\d+)\.layer_norm([1-3])\.", r"\1.norm\2."),
        (r"^memory_attention\.layer_norm\.", "memory_attention.norm."),
        (r"^(memory_attention\.layers\.\d+\.\w+)\.o_proj\.", r"\1.out_proj."),
        # --- memory encoder (the mask downsampler's layer indices are resolved afterwards) ---
        (r"^memory_encoder\.feature_projection\.", "memory_encoder.pix_feat_proj."),
        (r"^memory_encoder\.projection\.", "memory_encoder.out_proj."),
        (r"^memory_encoder\.memory_fuser\.", "memory_encoder.fuser."),
        (r"^(memory_encoder\.fuser\.layers\.\d+)\.depthwise_conv\.", r"\1.dwconv."),
        (r"^(memory_encoder\.fuser\.layers\.\d+)\.pointwise_conv([12])\.", r"\1.pwconv\2."),
        (r"^(memory_encoder\.fuser\.layers\.\d+)\.layer_norm\.", r"\1.norm."),
        (r"^(memory_encoder\.fuser\.layers\.\d+)\.scale$", r"\1.gamma"),
    )
)

# transformers' Sam2FeedForward MLPs: proj_in, layers.0 .. layers.(n-3), proj_out (Meta: one layers list).
_SPLIT_MLP = re.compile(
    r"^(sam_mask_decoder\.(?:output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head)|obj_ptr_proj)"
    r"\.(proj_in|layers\.(\d+)|proj_out)\.(weight|bias)$"
)
_DOWNSAMPLER = re.compile(r"^memory_encoder\.mask_downsampler\.(?:layers\.(\d+)\.(conv|layer_norm)|final_conv)\.(\w+)$")


def is_sam2_transformers_state_dict(state_dict: Mapping[str, object]) -> bool:
    """True for a transformers Sam2Model / Sam2VideoModel state_dict (Meta's has image_encoder.trunk.*)."""
    return any(k.startswith(_HF_MARKERS) for k in state_dict) and not any(
        k.startswith("image_encoder.trunk.") for k in state_dict
    )


def sam2_hf_to_original_key(key: str) -> str:
    """One key's Meta name, before the two index-dependent steps (split MLPs, mask downsampler)."""
    for pattern, repl in _RENAMES:
        key = pattern.sub(repl, key, count=1)
    return key


def _hidden_layer_counts(keys: list[str]) -> dict[str, int]:
    """Per split MLP prefix, how many transformers `layers.i` it has (the middle layers)."""
    counts: dict[str, set[int]] = {}
    for key in keys:
        match = _SPLIT_MLP.match(key)
        if match:
            counts.setdefault(match.group(1), set())
            if match.group(3) is not None:
                counts[match.group(1)].add(int(match.group(3)))
    return {prefix: len(indices) for prefix, indices in counts.items()}


def sam2_hf_to_original_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers SAM 2 state_dict under Meta's names (loadable into sam_core.sam2 strictly)."""
    state_dict = dict(state_dict)
    top, prompt = state_dict.pop(GAUSSIAN_HF_TOP, None), state_dict.get(GAUSSIAN_HF_PROMPT)
    if prompt is None and top is not None:
        state_dict[GAUSSIAN_HF_PROMPT] = top
    elif top is not None and not top.is_meta and not torch.equal(top, prompt):
        raise ValueError(f"{GAUSSIAN_HF_TOP} and {GAUSSIAN_HF_PROMPT} differ; the file is inconsistent")
    renamed = {sam2_hf_to_original_key(k): v for k, v in state_dict.items()}
    hidden = _hidden_layer_counts(list(renamed))
    downsampler_layers = len({m.group(1) for k in renamed if (m := _DOWNSAMPLER.match(k)) and m.group(1)})
    out: dict[str, torch.Tensor] = {}
    for key, value in renamed.items():
        if key == "sam_prompt_encoder.point_embed.weight":  # [4, 256] -> four [1, 256] embeddings
            for i, row in enumerate(value.split(1, dim=0)):
                out[f"sam_prompt_encoder.point_embeddings.{i}.weight"] = row
            continue
        if match := _SPLIT_MLP.match(key):
            prefix, part, index, leaf = match.groups()
            layer = 0 if part == "proj_in" else hidden[prefix] + 1 if part == "proj_out" else int(index) + 1
            key = f"{prefix}.layers.{layer}.{leaf}"
        elif match := _DOWNSAMPLER.match(key):
            index, kind, leaf = match.groups()
            position = 3 * downsampler_layers if index is None else 3 * int(index) + (kind == "layer_norm")
            key = f"memory_encoder.mask_downsampler.encoder.{position}.{leaf}"
        if key in out:
            raise ValueError(f"two transformers keys map to {key}")
        out[key] = value
    return out
