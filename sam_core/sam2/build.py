"""Builders for SAM 2.1: the four Hiera sizes as named data, one function that assembles the model.

Everything but the trunk is shared by the four sizes (Meta's configs/sam2.1/sam2.1_hiera_{t,s,b+,l}.yaml):
FPN neck d = 256 over strides 4-32 with top-down fusion on the two coarsest levels and scalp = 1;
memory attention 4 layers, 1 head, RoPE theta 1e4, FFN 2048; memory encoder 64-d, 2 ConvNeXt blocks.
Parameter counts (Meta's README): tiny 38.9 M, small 46 M, base_plus 80.8 M, large 224.4 M.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from sam_core.sam2.hiera import Hiera
from sam_core.sam2.image_encoder import FpnNeck, ImageEncoder
from sam_core.sam2.memory_attention import MemoryAttention, MemoryAttentionLayer
from sam_core.sam2.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
from sam_core.sam2.position_encoding import PositionEmbeddingSine
from sam_core.sam2.sam2_base import SAM2Base, SAM2Options
from sam_core.sam2.transformer import RoPEAttention


@dataclass(frozen=True)
class HieraSize:
    """The numbers in which the Hiera variants differ."""

    embed_dim: int  # stage-1 width; stages 2-4 double it
    num_heads: int  # stage-1 heads; doubled per stage
    stages: tuple[int, int, int, int]  # blocks per stage
    global_att_blocks: tuple[int, ...]  # blocks with global (not windowed) attention
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (14, 14)
    window_spec: tuple[int, int, int, int] = (8, 4, 14, 7)  # window per stage

    @property
    def channel_list(self) -> list[int]:
        """Trunk output widths, coarsest first (what the neck's convs take)."""
        return [self.embed_dim * 2**i for i in range(len(self.stages))][::-1]


HIERA_SIZES: dict[str, HieraSize] = {
    "hiera_tiny": HieraSize(96, 1, (1, 2, 7, 2), (5, 7, 9), (7, 7)),
    "hiera_small": HieraSize(96, 1, (1, 2, 11, 2), (7, 10, 13), (7, 7)),
    "hiera_base_plus": HieraSize(112, 2, (2, 3, 16, 3), (12, 16, 20), (14, 14)),
    "hiera_large": HieraSize(144, 2, (2, 6, 36, 4), (23, 33, 43), (7, 7), (8, 4, 16, 8)),
}


@dataclass(frozen=True)
class MemorySize:
    """Widths of the memory path (the same in all four sizes)."""

    d_model: int = 256  # image embedding / attention width
    mem_dim: int = 64  # memory channels: keys and values are projected 64 -> 256 inside the attention
    num_layers: int = 4  # memory-attention layers
    num_heads: int = 1
    dim_feedforward: int = 2048
    fuser_layers: int = 2  # ConvNeXt blocks in the memory encoder


def build_image_encoder(size: HieraSize, d_model: int = 256) -> ImageEncoder:
    trunk = Hiera(
        embed_dim=size.embed_dim, num_heads=size.num_heads, stages=size.stages,
        global_att_blocks=size.global_att_blocks,
        window_pos_embed_bkg_spatial_size=size.window_pos_embed_bkg_spatial_size, window_spec=size.window_spec,
    )
    neck = FpnNeck(
        position_encoding=PositionEmbeddingSine(d_model), d_model=d_model,
        backbone_channel_list=size.channel_list, fpn_top_down_levels=[2, 3], fpn_interp_model="nearest",
    )
    return ImageEncoder(trunk=trunk, neck=neck, scalp=1)


def build_memory_attention(mem: MemorySize, feat_size: int = 64) -> MemoryAttention:
    def layer() -> MemoryAttentionLayer:
        common = dict(embedding_dim=mem.d_model, num_heads=mem.num_heads, dropout=0.1, feat_sizes=(feat_size, feat_size))
        return MemoryAttentionLayer(
            d_model=mem.d_model, dim_feedforward=mem.dim_feedforward, dropout=0.1,
            self_attention=RoPEAttention(**common),
            cross_attention=RoPEAttention(**common, rope_k_repeat=True, kv_in_dim=mem.mem_dim),
        )

    return MemoryAttention(d_model=mem.d_model, pos_enc_at_input=True, layers=[layer() for _ in range(mem.num_layers)])


def build_memory_encoder(mem: MemorySize) -> MemoryEncoder:
    return MemoryEncoder(
        out_dim=mem.mem_dim,
        mask_downsampler=MaskDownSampler(embed_dim=mem.d_model, kernel_size=3, stride=2, padding=1),
        fuser=Fuser([CXBlock(mem.d_model, kernel_size=7, padding=3) for _ in range(mem.fuser_layers)]),
        position_encoding=PositionEmbeddingSine(mem.mem_dim),
        in_dim=mem.d_model,
    )


def build_sam2_model(
    size: HieraSize, options: SAM2Options | None = None, mem: MemorySize | None = None, model_class=SAM2Base
) -> SAM2Base:
    """Assemble a SAM2Base (or a subclass such as SAM2VideoPredictor) from named sizes, randomly initialised."""
    options = options or SAM2Options()
    mem = mem or MemorySize()
    return model_class(
        image_encoder=build_image_encoder(size, mem.d_model),
        memory_attention=build_memory_attention(mem, options.image_size // options.backbone_stride),
        memory_encoder=build_memory_encoder(mem),
        options=options,
    )


# SAM 2.0 (July 2024) differs from 2.1 only in these options (Meta's configs/sam2 vs configs/sam2.1).
SAM2_0_CHANGES = dict(
    no_obj_embed_spatial=False,
    add_tpos_enc_to_obj_ptrs=False,
    proj_tpos_enc_in_obj_ptrs=False,
    use_signed_tpos_enc_to_obj_ptrs=False,
)


def release_options(release: str = "2.1", image_size: int = 1024) -> SAM2Options:
    """The options of release "2.1" (default) or "2.0" at an image size."""
    if release not in ("2.0", "2.1"):
        raise ValueError(f"unknown SAM 2 release {release!r}; known: '2.0', '2.1'")
    changes = SAM2_0_CHANGES if release == "2.0" else {}
    return dataclasses.replace(SAM2Options(), image_size=image_size, **changes)


def build_sam2(
    model_type: str = "hiera_tiny",
    checkpoint: str | None = None,
    device: str | torch.device = "cpu",
    image_size: int = 1024,
    model_class=SAM2Base,
    release: str = "2.1",
) -> SAM2Base:
    """A SAM 2.1 model of one of HIERA_SIZES, in eval mode, with weights from `checkpoint` if given.

    The checkpoint is read with weights_only=True (or as safetensors) and may be Meta's .pt (keys under
    "model") or a transformers-format file; sam_core.sam2.checkpoint names the variant that fits when
    the keys do not.
    """
    if model_type == "nano":  # the embedded model: sam_core.sam2.nano (checkpoint None = the committed weights)
        from sam_core.sam2.nano import build_sam2_nano

        return build_sam2_nano(checkpoint or "embedded", device, model_class)
    if model_type not in HIERA_SIZES:
        raise ValueError(f"unknown SAM 2 model_type {model_type!r}; known: {sorted(HIERA_SIZES)} and 'nano'")
    model = build_sam2_model(HIERA_SIZES[model_type], release_options(release, image_size), model_class=model_class)
    if checkpoint is not None:
        from sam_core.sam2.checkpoint import load_sam2_checkpoint

        load_sam2_checkpoint(model, checkpoint, model_type, release)
    return model.to(device).eval()


def build_sam2_video_predictor(
    model_type: str = "hiera_tiny",
    checkpoint: str | None = None,
    device: str | torch.device = "cpu",
    image_size: int = 1024,
    release: str = "2.1",
):
    """A SAM2VideoPredictor (Meta's video options: binarised clicked masks in memory) of one of HIERA_SIZES."""
    from sam_core.sam2.video_predictor import SAM2VideoPredictor

    return build_sam2(model_type, checkpoint, device, image_size, model_class=SAM2VideoPredictor, release=release)
