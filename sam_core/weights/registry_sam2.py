"""Registry entries for Meta's SAM 2.1 checkpoints (Apache-2.0), part of registry.KNOWN_MODELS.

Meta publishes each size on the Hugging Face hub as facebook/sam2.1-hiera-<size> with the original
`sam2.1_hiera_<size>.pt` ({"model": state_dict}, loaded by sam_core.sam2.build.build_sam2) beside it, and
at dl.fbaipublicfiles.com/segment_anything_2/092824/. Byte counts and hashes could not be confirmed
offline, so they are None (never guessed) and only the hub's own checks apply.
"""

from __future__ import annotations

from sam_core.weights.registry import ModelSpec

_META_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
_SIZES = {  # model_type -> (hub suffix, file suffix, parameters in millions per Meta's README)
    "hiera_tiny": ("tiny", "tiny", 38.9),
    "hiera_small": ("small", "small", 46.0),
    "hiera_base_plus": ("base-plus", "base_plus", 80.8),
    "hiera_large": ("large", "large", 224.4),
}

SAM2_SPECS: tuple[ModelSpec, ...] = tuple(
    ModelSpec(
        name=f"sam2.1_{model_type}",
        model_type=model_type,
        repo_id=f"facebook/sam2.1-hiera-{hub}",
        filename=f"sam2.1_hiera_{file}.pt",
        size_bytes=None,
        sha256=None,
        licence="Apache-2.0",
        format="original",
        description=f"SAM 2.1 Hiera-{hub} ({millions} M parameters), Meta's checkpoint",
        source_url=f"{_META_URL}sam2.1_hiera_{file}.pt",
        family="sam2",
        capabilities=frozenset({"points", "boxes", "masks", "video"}),
    )
    for model_type, (hub, file, millions) in _SIZES.items()
)
