"""Load an official SAM 2 / 2.1 checkpoint into our model, or say which variant the file is for.

Files are read by sam_core.weights.checkpoint.load_state_dict (weights_only torch.load or safetensors;
Meta's `.pt` holds {"model": state_dict}); a transformers-format file (the hub's `model.safetensors`) is
renamed by sam_core.weights.sam2_hf_keys first. The Hiera variant is recognised from the trunk's stage-1 width
and block count; the release (2.0 vs 2.1) from `no_obj_embed_spatial` / `obj_ptr_tpos_proj`, which only
SAM 2.1 checkpoints have.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from sam_core.sam2.build import HIERA_SIZES
from sam_core.weights.checkpoint import CheckpointError, load_state_dict
from sam_core.weights.sam2_hf_keys import is_sam2_transformers_state_dict, sam2_hf_to_original_state_dict


def detect_sam2_variant(state_dict: Mapping[str, torch.Tensor]) -> tuple[str | None, str | None]:
    """(model_type in HIERA_SIZES or None, release "2.0" / "2.1" or None) of a SAM 2 state_dict."""
    pos_embed = state_dict.get("image_encoder.trunk.pos_embed")
    if pos_embed is None:
        return None, None
    blocks = {int(k.split(".")[3]) for k in state_dict if k.startswith("image_encoder.trunk.blocks.")}
    depth = max(blocks) + 1 if blocks else 0
    model_type = next(
        (name for name, size in HIERA_SIZES.items() if size.embed_dim == pos_embed.shape[1] and sum(size.stages) == depth),
        None,
    )
    release = "2.1" if "no_obj_embed_spatial" in state_dict else "2.0"
    return model_type, release


def load_sam2_checkpoint(model: torch.nn.Module, path: str | Path, model_type: str, release: str = "2.1") -> None:
    """Load `path` into `model` (built as `model_type`) strictly; CheckpointError names the variant that fits."""
    state_dict = load_state_dict(path, map_transformers=False)
    if is_sam2_transformers_state_dict(state_dict):  # facebook/sam2.1-hiera-* model.safetensors
        try:
            state_dict = sam2_hf_to_original_state_dict(state_dict)
        except ValueError as error:
            raise CheckpointError(f"{Path(path).name}: {error}") from error
    found_type, found_release = detect_sam2_variant(state_dict)
    if found_type is None:
        raise CheckpointError(f"{Path(path).name} is not a SAM 2 checkpoint (no Hiera trunk weights inside)")
    if found_type != model_type:
        raise CheckpointError(f"{Path(path).name} is a SAM {found_release} {found_type} checkpoint, not {model_type}")
    if found_release != release:
        raise CheckpointError(
            f"{Path(path).name} is a SAM {found_release} {found_type} checkpoint; build it with release={found_release!r}"
        )
    expected = set(model.state_dict())
    missing = sorted(expected - set(state_dict))
    unexpected = sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{Path(path).name} (SAM {found_release} {found_type}) does not fit this SAM {release} {model_type} model: "
            f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}"
        )
    model.load_state_dict(state_dict, strict=True)
