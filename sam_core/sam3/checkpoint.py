"""Load SAM 3 detector weights from either official layout into a Sam3Image.

- Meta's ``sam3.pt``: ``{"model": {"detector.*", "tracker.*"}}``. The image detector takes the
  ``detector.`` keys (prefix dropped), as Meta's builder does. With the tracker head
  (``enable_inst_interactivity``) it also takes ``tracker.sam_prompt_encoder.*``, ``tracker.sam_mask_decoder.*``,
  ``tracker.no_mem_embed`` and the detector's second FPN (``sam2_convs``); without it they are set aside,
  and so, always, are the tracker's video-memory parts.
- transformers' ``model.safetensors`` (``Sam3Model``, or the hub's ``Sam3VideoModel`` with the detector
  under ``detector_model.``): renamed by sam_core.weights.sam3_hf_keys. transformers' geometry encoder
  has no point path, so such a checkpoint carries no point-exemplar weights: the model then refuses
  point exemplars (boxes and phrases work as with Meta's checkpoint).
"""

from __future__ import annotations

import torch

from sam_core.sam3.sam3_image import Sam3Image
from sam_core.weights.sam3_hf_keys import POINT_KEYS, hf_to_sam3_state_dict, is_transformers_sam3_state_dict

# Keys a full sam3.pt detector carries that an image-only model (no enable_inst_interactivity) does not
# use: the second FPN (it feeds the SAM 2-style tracker head). RoPE tables are recomputed when absent.
UNUSED_PREFIXES = ("backbone.vision_backbone.sam2_convs.",)
RECOMPUTED_SUFFIXES = (".attn.freqs_cis",)
TRANSFORMERS_TRACKER_PREFIXES = ("tracker_model.", "tracker_neck.")


# The tracker's image head in sam3.pt (the rest of `tracker.*` is its video memory, not used for one image).
TRACKER_HEAD_PREFIXES = ("tracker.sam_prompt_encoder.", "tracker.sam_mask_decoder.", "tracker.no_mem_embed")


def detector_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official `sam3.pt` keys -> this model's: `detector.*` with the prefix dropped, as Meta's builder
    does, and the tracker's image head (`tracker.sam_*`, `tracker.no_mem_embed`) as it is.

    A state dict without `detector.` keys is returned unchanged.
    """
    if not any(k.startswith("detector.") for k in state_dict):
        return dict(state_dict)
    out = {k[len("detector."):]: v for k, v in state_dict.items() if k.startswith("detector.")}
    out.update({k: v for k, v in state_dict.items() if k.startswith(TRACKER_HEAD_PREFIXES)})
    return out


def load_detector_weights(model: Sam3Image, state: dict[str, torch.Tensor], allowed_missing: tuple[str, ...] = ()
                          ) -> None:
    """Load detector weights; raise RuntimeError naming any key that is missing or unknown.

    `allowed_missing`: keys that may be absent (they keep their initial values).
    """
    if model.tracker is None:  # an image-only model: the tracker neck and head are set aside
        state = {k: v for k, v in state.items() if not k.startswith((*UNUSED_PREFIXES, "tracker."))}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith(RECOMPUTED_SUFFIXES) and k not in allowed_missing]
    if missing or unexpected:
        raise RuntimeError(f"SAM 3 checkpoint does not fit: {len(missing)} missing keys {missing[:5]}, "
                           f"{len(unexpected)} unexpected keys {unexpected[:5]}")


def load_sam3_state_dict(model: Sam3Image, state_dict: dict[str, torch.Tensor]) -> None:
    """Load either official layout (see the module docstring) into `model`, in place."""
    if not is_transformers_sam3_state_dict(state_dict):
        load_detector_weights(model, detector_state_dict(state_dict))
        model.geometry_encoder.accepts_points = True
        return
    state, unmapped = hf_to_sam3_state_dict(state_dict)
    unknown = [k for k in unmapped if not k.startswith(TRANSFORMERS_TRACKER_PREFIXES)]
    if unknown:
        raise RuntimeError(f"SAM 3 transformers checkpoint has {len(unknown)} keys that fit no part of the "
                           f"detector: {unknown[:5]}")
    load_detector_weights(model, state, allowed_missing=POINT_KEYS)
    model.geometry_encoder.accepts_points = all(k in state for k in POINT_KEYS)
