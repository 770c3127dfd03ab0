"""Rename a ``transformers`` ``SamModel`` state_dict to the original ``segment_anything`` names.

``SamModel.save_pretrained`` (and the ``facebook/sam-vit-base|large|huge`` repositories on the hub)
store the same tensors as Meta's checkpoints, under other names. The mapping below was derived by
printing both key lists (``transformers.SamModel(SamConfig())`` vs ``segment_anything.build_sam_vit_b()``)
and is checked by ``tests/test_checkpoint.py``: every official key is produced exactly once, with the
right shape, and a mask-decoder forward pass gives the same numbers in both implementations.

What differs (HF name -> original name); everything else is identical (``attn.qkv`` is one fused
Linear in both, ``rel_pos_h/w``, ``pos_embed``, ``mlp.lin1/lin2``, attention ``q/k/v/out_proj``):

  image encoder   vision_encoder.*                       -> image_encoder.*
                  patch_embed.projection                 -> patch_embed.proj
                  layers.N.layer_norm1/2                 -> blocks.N.norm1/2
                  neck.conv1/layer_norm1/conv2/layer_norm2 -> neck.0/1/2/3   (nn.Sequential indices)
  prompt encoder  point_embed.N                          -> point_embeddings.N
                  mask_embed.conv1/layer_norm1/conv2/layer_norm2/conv3
                                                         -> mask_downscaling.0/1/3/4/6  (2, 5 are GELUs)
                  shared_image_embedding.positional_embedding   (HF keeps it on the top-level model and
                  prompt_encoder.shared_embedding.positional_embedding   ties the prompt encoder's copy)
                                                         -> prompt_encoder.pe_layer.positional_encoding_gaussian_matrix
  mask decoder    upscale_conv1/upscale_layer_norm/upscale_conv2 -> output_upscaling.0/1/3  (2, 4 are GELUs)
                  <mlp>.proj_in / <mlp>.layers.i / <mlp>.proj_out  -> <mlp>.layers.0 / .layers.(i+1) / .layers.(last)
                    for output_hypernetworks_mlps.N and iou_prediction_head (HF splits SAM's MLP list)
                  transformer.layers.N.layer_norm1..4    -> transformer.layers.N.norm1..4
                  transformer.layer_norm_final_attn      -> transformer.norm_final_attn

The Gaussian matrix is the one tensor HF stores twice (tied): ``save_pretrained`` writes only
``shared_image_embedding.positional_embedding``; older conversions hold both. The original keeps one copy,
so one is taken (the top-level one when both exist) and a disagreement between them is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["is_transformers_state_dict", "hf_to_original_key", "hf_to_original_state_dict"]

GAUSSIAN_ORIGINAL = "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"
GAUSSIAN_HF_TOP = "shared_image_embedding.positional_embedding"
GAUSSIAN_HF_PROMPT = "prompt_encoder.shared_embedding.positional_embedding"

# Prefixes / fragments that only a transformers SamModel state_dict has.
_HF_MARKERS = (
    "vision_encoder.",
    "shared_image_embedding.",
    "prompt_encoder.shared_embedding.",
    "prompt_encoder.mask_embed.",
    "prompt_encoder.point_embed.",
    "mask_decoder.upscale_conv1.",
)

# (pattern, replacement) applied in order, each at most once per key. Anchored on the full prefix so a
# rule can never fire on a key it was not written for.
_RENAMES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        # --- image encoder ---
        (r"^vision_encoder\.", "image_encoder."),
        (r"^image_encoder\.patch_embed\.projection\.", "image_encoder.patch_embed.proj."),
        (r"^image_encoder\.layers\.(\d+)\.", r"image_encoder.blocks.\1."),
        (r"^image_encoder\.blocks\.(\d+)\.layer_norm([12])\.", r"image_encoder.blocks.\1.norm\2."),
        (r"^image_encoder\.neck\.conv1\.", "image_encoder.neck.0."),
        (r"^image_encoder\.neck\.layer_norm1\.", "image_encoder.neck.1."),
        (r"^image_encoder\.neck\.conv2\.", "image_encoder.neck.2."),
        (r"^image_encoder\.neck\.layer_norm2\.", "image_encoder.neck.3."),
        # --- prompt encoder ---
        (r"^prompt_encoder\.point_embed\.(\d+)\.", r"prompt_encoder.point_embeddings.\1."),
        (r"^prompt_encoder\.mask_embed\.conv1\.", "prompt_encoder.mask_downscaling.0."),
        (r"^prompt_encoder\.mask_embed\.layer_norm1\.", "prompt_encoder.mask_downscaling.1."),
        (r"^prompt_encoder\.mask_embed\.conv2\.", "prompt_encoder.mask_downscaling.3."),
        (r"^prompt_encoder\.mask_embed\.layer_norm2\.", "prompt_encoder.mask_downscaling.4."),
        (r"^prompt_encoder\.mask_embed\.conv3\.", "prompt_encoder.mask_downscaling.6."),
        # --- mask decoder ---
        (r"^mask_decoder\.upscale_conv1\.", "mask_decoder.output_upscaling.0."),
        (r"^mask_decoder\.upscale_layer_norm\.", "mask_decoder.output_upscaling.1."),
        (r"^mask_decoder\.upscale_conv2\.", "mask_decoder.output_upscaling.3."),
        (
            r"^mask_decoder\.transformer\.layers\.(\d+)\.layer_norm([1-4])\.",
            r"mask_decoder.transformer.layers.\1.norm\2.",
        ),
        (r"^mask_decoder\.transformer\.layer_norm_final_attn\.", "mask_decoder.transformer.norm_final_attn."),
    )
)

# HF's SamFeedForward: proj_in, layers[0 .. num_layers-3], proj_out. SAM's MLP: layers[0 .. num_layers-1].
_MLP_KEY = re.compile(
    r"^(?P<mlp>mask_decoder\.(?:output_hypernetworks_mlps\.\d+|iou_prediction_head))\."
    r"(?P<part>proj_in|proj_out|layers\.(?P<idx>\d+))\.(?P<param>.+)$"
)


def is_transformers_state_dict(state_dict: Mapping[str, object]) -> bool:
    """True if the keys look like ``transformers.SamModel`` (``vision_encoder.*``, ``mask_embed``, ...)."""
    return any(key.startswith(_HF_MARKERS) for key in state_dict)


def _mlp_hidden_counts(keys) -> dict[str, int]:
    """For every split MLP, how many ``layers.i`` (hidden Linear layers) HF stores between proj_in/out."""
    counts: dict[str, int] = {}
    for key in keys:
        match = _MLP_KEY.match(key)
        if match:
            hidden = int(match["idx"]) + 1 if match["idx"] is not None else 0
            counts[match["mlp"]] = max(counts.get(match["mlp"], 0), hidden)
    return counts


def hf_to_original_key(key: str, mlp_hidden_counts: Mapping[str, int] | None = None) -> str:
    """Original ``segment_anything`` name of one HF ``SamModel`` key (unknown keys come back unchanged).

    Arguments:
      key: a state_dict key of ``transformers.SamModel``.
      mlp_hidden_counts: ``{mlp_prefix: number of HF hidden layers}`` (from the whole state_dict); needed
        to number ``proj_out``. Defaults to SAM's 3-layer MLPs (1 hidden layer).
    """
    if key in (GAUSSIAN_HF_TOP, GAUSSIAN_HF_PROMPT):
        return GAUSSIAN_ORIGINAL
    for pattern, repl in _RENAMES:
        key = pattern.sub(repl, key, count=1)
    match = _MLP_KEY.match(key)
    if match:
        hidden = (mlp_hidden_counts or {}).get(match["mlp"], 1)
        part = match["part"]
        if part == "proj_in":
            index = 0
        elif part == "proj_out":
            index = hidden + 1
        else:
            index = int(match["idx"]) + 1
        key = f"{match['mlp']}.layers.{index}.{match['param']}"
    return key


def hf_to_original_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a ``transformers.SamModel`` state_dict so that ``sam_core``/``segment_anything`` load it as is.

    Arguments:
      state_dict: HF keys -> tensors (as written by ``SamModel.save_pretrained``).
    Returns:
      A new dict with the original keys; the tensors are the same objects (no copies).
    Raises:
      ValueError: two HF keys map to the same original key (other than the tied Gaussian matrix), or the
        two copies of the tied Gaussian matrix disagree.
    """
    counts = _mlp_hidden_counts(state_dict.keys())
    out: dict[str, torch.Tensor] = {}
    source: dict[str, str] = {}
    top = state_dict.get(GAUSSIAN_HF_TOP)
    prompt = state_dict.get(GAUSSIAN_HF_PROMPT)
    if top is not None and prompt is not None and not torch.equal(top, prompt):
        raise ValueError(
            f"the tied Gaussian matrix differs between '{GAUSSIAN_HF_TOP}' and '{GAUSSIAN_HF_PROMPT}'; "
            "SAM uses one matrix for the image and the prompt positional encodings"
        )
    for key, tensor in state_dict.items():
        if key == GAUSSIAN_HF_PROMPT and top is not None:
            continue  # tied duplicate of shared_image_embedding.positional_embedding
        new_key = hf_to_original_key(key, counts)
        if new_key in out:
            raise ValueError(f"keys '{source[new_key]}' and '{key}' both map to '{new_key}'")
        out[new_key] = tensor
        source[new_key] = key
    return out
