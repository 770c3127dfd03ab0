"""Build SAM 3's image model from a named size, optionally loading a checkpoint.

    model = build_sam3("sam3", checkpoint="sam3.pt")      # Meta's released size, official weights
    model = build_sam3("tiny")                             # same architecture, tiny, random weights

Sizes are data (Sam3Config); the builder only wires components together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from sam_core.sam3.checkpoint import load_sam3_state_dict
from sam_core.sam3.decoder import TransformerDecoder
from sam_core.sam3.fusion_encoder import TransformerEncoderFusion
from sam_core.sam3.geometry_encoder import SequenceGeometryEncoder
from sam_core.sam3.neck import Sam3DualViTDetNeck, SAM3VLBackbone
from sam_core.sam3.sam3_image import Sam3Image, TransformerWrapper
from sam_core.sam3.segmentation_head import DotProductScoring, UniversalSegmentationHead
from sam_core.sam3.text_encoder import VETextEncoder
from sam_core.sam3.tokenizer import DEFAULT_BPE_PATH, SimpleTokenizer
from sam_core.sam3.tracker_head import Sam3TrackerHead


@dataclass(frozen=True)
class Sam3Config:
    """Every size of the SAM 3 image model (defaults: Meta's `build_sam3_image_model`)."""

    image_size: int = 1008  # 72 x 72 patches of 14 pixels
    patch_size: int = 14
    vit_dim: int = 1024
    vit_depth: int = 32
    vit_heads: int = 16
    vit_mlp_ratio: float = 4.625  # 4736-wide MLP
    window_size: int = 24  # windowed blocks see 24 x 24 tokens
    global_blocks: tuple[int, ...] = (7, 15, 23, 31)  # every 8th block attends over the whole image
    pretrain_image_size: int = 336  # the position table was learned at 24 x 24 and is tiled
    text_width: int = 1024
    text_layers: int = 24
    text_heads: int = 16
    context_length: int = 32  # noun phrases are short; CLIP used 77
    vocab_size: int = 49408  # CLIP's BPE vocabulary
    d_model: int = 256  # detector width
    heads: int = 8
    ffn_dim: int = 2048
    encoder_layers: int = 6
    decoder_layers: int = 6
    geometry_layers: int = 3
    num_queries: int = 200  # upper bound on instances per image
    upsampling_stages: int = 3


SAM3_CONFIGS: dict[str, Sam3Config] = {
    "sam3": Sam3Config(),
    # For tests and the lesson's CPU demos: 112-pixel images (8 x 8 tokens), 4 x 4 windows, one global block.
    "tiny": Sam3Config(image_size=112, vit_dim=64, vit_depth=2, vit_heads=2, window_size=4, global_blocks=(1,),
                       pretrain_image_size=56, text_width=64, text_layers=2, text_heads=2, d_model=32, heads=8,
                       ffn_dim=64, encoder_layers=2, decoder_layers=2, geometry_layers=1, num_queries=10),
}


def wire_sam3(neck: Sam3DualViTDetNeck, cfg, bpe_path: str | Path = DEFAULT_BPE_PATH,
              tracker: nn.Module | None = None) -> Sam3Image:
    """The SAM 3 detector around an image `neck`: text encoder, fusion encoder, DETR decoder, geometry encoder,
    segmentation head and scoring, at `cfg`'s widths (any config with Sam3Config's text / fusion / decoder
    fields: the real one, or the embedded nano's). Random weights, eval mode."""
    text = VETextEncoder(cfg.d_model, SimpleTokenizer(bpe_path), cfg.text_width, cfg.text_heads, cfg.text_layers,
                         cfg.context_length, cfg.vocab_size)
    transformer = TransformerWrapper(
        TransformerEncoderFusion(cfg.d_model, cfg.heads, cfg.ffn_dim, cfg.encoder_layers),
        TransformerDecoder(cfg.d_model, cfg.heads, cfg.ffn_dim, cfg.decoder_layers, cfg.num_queries))
    model = Sam3Image(
        backbone=SAM3VLBackbone(neck, text, scalp=1),
        transformer=transformer,
        input_geometry_encoder=SequenceGeometryEncoder(cfg.d_model, cfg.heads, cfg.ffn_dim, cfg.geometry_layers),
        segmentation_head=UniversalSegmentationHead(cfg.d_model, cfg.upsampling_stages, cfg.heads),
        dot_prod_scoring=DotProductScoring(cfg.d_model, cfg.d_model, cfg.ffn_dim),
        image_size=cfg.image_size,
        tracker=tracker)
    return model.eval()


def build_sam3_from_config(cfg: Sam3Config, bpe_path: str | Path = DEFAULT_BPE_PATH,
                           enable_inst_interactivity: bool = False) -> Sam3Image:
    """Wire the components for `cfg` (random weights, eval mode); with `enable_inst_interactivity` also
    the tracker neck and head for clicks (Meta's flag of the same name)."""
    from sam_core.sam3.vit import ViT

    trunk = ViT(cfg.image_size, cfg.patch_size, cfg.vit_dim, cfg.vit_depth, cfg.vit_heads, cfg.vit_mlp_ratio,
                cfg.window_size, cfg.global_blocks, cfg.pretrain_image_size)
    neck = Sam3DualViTDetNeck(trunk, cfg.d_model, add_sam2_neck=enable_inst_interactivity)
    tracker = (Sam3TrackerHead(cfg.d_model, cfg.image_size, cfg.patch_size, cfg.heads, cfg.ffn_dim)
               if enable_inst_interactivity else None)
    return wire_sam3(neck, cfg, bpe_path, tracker)


def build_sam3(model_type: str = "sam3", checkpoint: str | Path | None = None,
               device: str | torch.device | None = None, enable_inst_interactivity: bool = False) -> Sam3Image:
    """Build a SAM 3 image model of a named size; load `checkpoint` (Meta's sam3.pt or our keys) if given.

    Arguments:
      model_type: a key of SAM3_CONFIGS ("sam3", "tiny"), or "nano" (the embedded model, sam3/nano.py).
      device: None picks cuda -> mps -> cpu (sam_core.device.pick_device). Weights stay float32; off
        CUDA any bfloat16 / float16 tensor of a checkpoint is made float32 (bf16 autocast is CUDA-only).
      enable_inst_interactivity: add the SAM 2-style tracker head for clicks (Sam3InteractivePredictor).
      checkpoint: Meta's sam3.pt (loaded with weights_only=True) or transformers' model.safetensors
        (sam_core.sam3.checkpoint says how each layout is read); for "nano", a .safetensors of it.
    Raises:
      KeyError for an unknown model_type; RuntimeError naming missing / unexpected keys.
    """
    if model_type == "nano":  # the embedded concept model, on the nano SAM's image encoder (nano.py)
        from sam_core.device import pick_device
        from sam_core.sam3.nano import NANO_SAM3_WEIGHTS, build_sam3_nano

        return build_sam3_nano(checkpoint if checkpoint is not None else NANO_SAM3_WEIGHTS).to(pick_device(device))
    if model_type not in SAM3_CONFIGS:
        raise KeyError(f"unknown SAM 3 model_type {model_type!r}; known: {sorted(SAM3_CONFIGS) + ['nano']}")
    model = build_sam3_from_config(SAM3_CONFIGS[model_type], enable_inst_interactivity=enable_inst_interactivity)
    if checkpoint is not None:
        from sam_core.weights.checkpoint import load_state_dict

        load_sam3_state_dict(model, load_state_dict(checkpoint, max_bytes=None, map_transformers=False))
    from sam_core.device import ensure_float32, pick_device

    device = pick_device(device)
    model = model.to(device)
    return model if device.type == "cuda" else ensure_float32(model)
