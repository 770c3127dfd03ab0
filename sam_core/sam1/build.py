"""Builders: one plain function per model type, in a registry dict (as Meta's sam_model_registry).

The three SAM ViTs differ in four numbers (width, depth, heads, which blocks attend globally); MobileSAM
swaps the ViT for TinyViT; "nano" is the small model trained in this project (assets/models/nano/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from sam_core.sam1.image_encoder import ImageEncoderViT
from sam_core.sam1.mask_decoder import MaskDecoder
from sam_core.sam1.nano_encoder import NanoEncoderConfig, NanoImageEncoder
from sam_core.sam1.prompt_encoder import PromptEncoder
from sam_core.sam1.sam import Sam
from sam_core.sam1.transformer import TwoWayTransformer
from sam_core.weights.registry import KNOWN_MODELS

NANO_WEIGHTS: Path = KNOWN_MODELS["nano"].local_path  # the embedded weights; their one home is the registry


@dataclass(frozen=True)
class VitSize:
    embed_dim: int  # token width of the ViT
    depth: int  # number of transformer blocks
    num_heads: int  # attention heads per block
    global_attn_indexes: tuple[int, ...]  # blocks that attend over all 64x64 tokens (the rest: 14x14 windows)


VIT_SIZES = {
    "vit_b": VitSize(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": VitSize(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": VitSize(1280, 32, 16, (7, 15, 23, 31)),
}


@dataclass(frozen=True)
class DecoderSize:
    prompt_embed_dim: int = 256  # token width shared by prompt encoder and mask decoder
    image_size: int = 1024  # encoder input side
    embedding_grid: int = 64  # image embedding side (image_size / 16 for the ViTs)
    mlp_dim: int = 2048  # token MLP width in the two-way transformer
    num_heads: int = 8  # heads of every decoder attention
    mask_in_chans: int = 16  # hidden channels of the mask-prompt downscaling
    iou_head_hidden_dim: int = 256


SAM_DECODER = DecoderSize()
# The nano decoder: same structure at half width on a 32x32 grid (256 px input, stride 8): a quarter of
# SAM's 64x64 positions, so a click decodes in a few ms on a CPU; its low-res masks are 128x128.
NANO_DECODER = DecoderSize(
    prompt_embed_dim=128, image_size=256, embedding_grid=32, mlp_dim=512, num_heads=4, iou_head_hidden_dim=128
)


def build_sam_from_sizes(image_encoder: nn.Module, size: DecoderSize = SAM_DECODER) -> Sam:
    """A Sam with SAM's prompt encoder and mask decoder at `size` on top of `image_encoder` (random weights).

    image_encoder: [B, 3, S, S] -> [B, size.prompt_embed_dim, grid, grid], with `.img_size` = S; a stand-in
    with only `img_size` serves callers that feed the decoder their own embeddings.
    """
    grid = (size.embedding_grid, size.embedding_grid)
    return Sam(
        image_encoder=image_encoder,
        prompt_encoder=PromptEncoder(
            embed_dim=size.prompt_embed_dim,
            image_embedding_size=grid,
            input_image_size=(size.image_size, size.image_size),
            mask_in_chans=size.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2, embedding_dim=size.prompt_embed_dim, mlp_dim=size.mlp_dim, num_heads=size.num_heads
            ),
            transformer_dim=size.prompt_embed_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=size.iou_head_hidden_dim,
        ),
    )


def _vit(model_type: str) -> Sam:
    size = VIT_SIZES[model_type]
    encoder = ImageEncoderViT(
        depth=size.depth,
        embed_dim=size.embed_dim,
        img_size=SAM_DECODER.image_size,
        mlp_ratio=4,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        num_heads=size.num_heads,
        patch_size=16,
        qkv_bias=True,
        use_rel_pos=True,
        global_attn_indexes=size.global_attn_indexes,
        window_size=14,
        out_chans=SAM_DECODER.prompt_embed_dim,
    )
    return build_sam_from_sizes(encoder, SAM_DECODER)


def _vit_t() -> Sam:
    from sam_core.sam1.tiny_vit import build_tiny_vit_encoder

    return build_sam_from_sizes(build_tiny_vit_encoder(), SAM_DECODER)


def _nano() -> Sam:
    stride = NANO_DECODER.image_size // NANO_DECODER.embedding_grid
    config = NanoEncoderConfig(out_chans=NANO_DECODER.prompt_embed_dim, out_stride=stride)
    return build_sam_from_sizes(NanoImageEncoder(config), NANO_DECODER)




def build_reference_sam(model_type: str = "vit_b", seed: int | None = None) -> Sam:
    """The architecture of `model_type` with random weights, in eval mode: the model that tests and
    benchmarks load an oracle's state_dict into. seed: torch.manual_seed(seed) first (global RNG)."""
    if model_type not in sam_model_registry:
        raise ValueError(f"Unknown model type {model_type!r}; known: {sorted(sam_model_registry)}.")
    if seed is not None:
        torch.manual_seed(seed)
    return sam_model_registry[model_type]().eval()


sam_model_registry: dict[str, Callable[[], Sam]] = {
    "vit_b": partial(_vit, "vit_b"),
    "vit_l": partial(_vit, "vit_l"),
    "vit_h": partial(_vit, "vit_h"),
    "vit_t": _vit_t,
    "nano": _nano,
}
sam_model_registry["default"] = sam_model_registry["nano"]


def build_sam(
    model_type: str = "default", checkpoint: str | Path | None = None, device: str | torch.device | None = None
) -> Sam:
    """Build a model and load its weights.

    Arguments:
      model_type: a key of sam_model_registry ("vit_b", "vit_l", "vit_h", "vit_t", "nano", "default").
      checkpoint: original .pth/.pt, transformers model.safetensors, or our .safetensors. None: random
        weights, except "nano"/"default", which load the committed embedded weights.
      device: where to put the model (default CPU); the model is returned in eval mode.
    Raises CheckpointError (from sam_core.weights.checkpoint) when the file is unsafe, unreadable or does not fit.
    """
    if model_type not in sam_model_registry:
        raise ValueError(f"Unknown model type {model_type!r}; known: {sorted(sam_model_registry)}.")
    model = sam_model_registry[model_type]()
    if checkpoint is None and model_type in ("nano", "default"):
        checkpoint = NANO_WEIGHTS
        if not checkpoint.exists():
            from sam_core.weights.checkpoint import CheckpointError

            raise CheckpointError(f"The embedded nano weights are missing at {checkpoint}.")
    if checkpoint is not None:
        from sam_core.weights.checkpoint import check_compatible, load_state_dict

        state_dict = load_state_dict(checkpoint)
        check_compatible(state_dict, "nano" if model_type == "default" else model_type, model.state_dict().keys())
        model.load_state_dict(state_dict, strict=True)
    model.eval()
    if device is not None:
        model.to(device)
    return model
