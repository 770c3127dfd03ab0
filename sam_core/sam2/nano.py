"""The embedded SAM 2 ("nano"): SAM 2's classes at small widths on the embedded SAM 1's image encoder.

    frame [B, 3, 256, 256]
      -> NanoImageEncoder (the embedded SAM 1's, stride 8)          [B, 128, 32, 32]  + sine position enc.
      -> prompted frame: + no_mem_embed;  tracked frame: MemoryAttention (2 RoPE layers, 1 head, FFN 512)
         over the memory bank (prompted frames + up to 3 recent 64-ch memories of 32 x 32, object pointers)
      -> SAM 2's PromptEncoder + MaskDecoder (width 128, 4 heads, MLP 512: the embedded SAM 1's sizes,
         plus the object-score token)                               low-res logits [B, M, 128, 128]
      -> MemoryEncoder: mask 256 -> 32 (3 stride-2 convs) + features -> memory [B, 64, 32, 32]

Everything but the widths and the memory slots (4: SAM 2 has 7) is SAM 2.1's (SAM2Options defaults): object pointers with
signed temporal encodings, the occlusion head (NO_OBJ_SCORE masks, no_obj_ptr, no_obj_embed_spatial),
multimask tracking. One structural choice differs: no high-resolution skips into the decoder
(use_high_res_features_in_sam=False; SAM 2's stride-4/8 Hiera maps do not exist in this encoder), so the
decoder is exactly the embedded SAM 1's, whose weights initialise it (`init_from_sam1`).

API: ``build_sam2_nano(checkpoint="embedded", device="cpu", model_class=SAM2VideoPredictor)``, also
reached as ``build_sam2("nano")`` / ``build_sam2_video_predictor("nano")``; ``NANO_SAM2_WEIGHTS``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from sam_core.nn.blocks import MLP
from sam_core.sam1.nano_encoder import NanoEncoderConfig, NanoImageEncoder
from sam_core.sam2.build import MemorySize, build_memory_attention
from sam_core.sam2.mask_decoder import MaskDecoder
from sam_core.sam2.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder
from sam_core.sam2.position_encoding import PositionEmbeddingSine
from sam_core.sam2.prompt_encoder import PromptEncoder
from sam_core.sam2.sam2_base import SAM2Base, SAM2Options
from sam_core.sam2.transformer import build_two_way_transformer
from sam_core.sam2.video_predictor import SAM2VideoPredictor

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "models"
NANO_SAM2_WEIGHTS = ASSETS / "sam2_nano" / "sam2_nano.safetensors"
NANO_SAM1_WEIGHTS = ASSETS / "nano" / "sam_nano.safetensors"


@dataclass(frozen=True)
class NanoSam2Config:
    """The nano sizes; why each value: see the comments."""

    image_size: int = 256  # the embedded SAM 1's input: the scenes are simple, CPUs slow
    backbone_stride: int = 8  # its 32 x 32 embedding
    d_model: int = 128  # its embedding width = decoder width
    mem_dim: int = 64  # SAM 2's memory width; a 128-d pointer is 2 memory tokens
    memory_layers: int = 2  # SAM 2: 4; half, for ~50 ms per tracked frame on a CPU
    memory_ffn: int = 512  # SAM 2: 2048 for d = 256; 4 x d here
    decoder_heads: int = 4  # the embedded SAM 1's decoder
    decoder_mlp: int = 512
    iou_head_hidden: int = 128
    num_maskmem: int = 4  # SAM 2: 7 (1 prompted + 6 recent); 1 + 3 here: the cross-attention is most of the cost

    def memory_size(self) -> MemorySize:
        return MemorySize(d_model=self.d_model, mem_dim=self.mem_dim, num_layers=self.memory_layers,
                          num_heads=1, dim_feedforward=self.memory_ffn, fuser_layers=2)

    def options(self) -> SAM2Options:
        return dataclasses.replace(SAM2Options(), image_size=self.image_size, backbone_stride=self.backbone_stride,
                                   use_high_res_features_in_sam=False, num_maskmem=self.num_maskmem)


NANO_SAM2 = NanoSam2Config()


class NanoNeck(nn.Module):
    """The "neck" half of SAM 2's image encoder contract: width d_model and a sine position encoding
    (the embedded encoder already ends in SAM's neck convs)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.position_encoding = PositionEmbeddingSine(d_model)


class NanoSam2ImageEncoder(nn.Module):
    """NanoImageEncoder with SAM 2's output dict: one level (no high-res skips).

    [B, 3, 256, 256] -> {"vision_features": [B, 128, 32, 32], "vision_pos_enc": [[B, 128, 32, 32]],
    "backbone_fpn": [[B, 128, 32, 32]]}.
    """

    def __init__(self, config: NanoSam2Config = NANO_SAM2) -> None:
        super().__init__()
        self.trunk = NanoImageEncoder(NanoEncoderConfig(img_size=config.image_size, out_chans=config.d_model,
                                                        out_stride=config.backbone_stride))
        self.neck = NanoNeck(config.d_model)

    def forward(self, sample: torch.Tensor) -> dict:
        features = self.trunk(sample)
        pos = self.neck.position_encoding(features).to(features.dtype)
        return {"vision_features": features, "vision_pos_enc": [pos], "backbone_fpn": [features]}


def build_nano_memory_encoder(config: NanoSam2Config = NANO_SAM2) -> MemoryEncoder:
    """SAM 2's MemoryEncoder; the mask goes 256 -> 32 (total stride 8: 3 stride-2 convs, 1 -> 4 -> 16 -> 64 ch)."""
    return MemoryEncoder(
        out_dim=config.mem_dim,
        mask_downsampler=MaskDownSampler(embed_dim=config.d_model, kernel_size=3, stride=2, padding=1,
                                         total_stride=config.backbone_stride),
        fuser=Fuser([CXBlock(config.d_model, kernel_size=7, padding=3) for _ in range(2)]),
        position_encoding=PositionEmbeddingSine(config.mem_dim),
        in_dim=config.d_model,
    )


class NanoHeadsMixin:
    """SAM2Base._build_sam_heads at the nano decoder's sizes (SAM 2 hard-codes SAM's 8 heads, MLP 2048)."""

    nano_config: NanoSam2Config = NANO_SAM2

    def _build_sam_heads(self) -> None:
        cfg = self.nano_config
        self.sam_prompt_embed_dim = self.hidden_dim
        self.sam_image_embedding_size = self.image_size // self.backbone_stride
        size = self.sam_image_embedding_size
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=self.hidden_dim, image_embedding_size=(size, size),
            input_image_size=(self.image_size, self.image_size), mask_in_chans=16,
        )
        self.sam_mask_decoder = MaskDecoder(
            num_multimask_outputs=3,
            transformer=build_two_way_transformer(depth=2, embedding_dim=self.hidden_dim, mlp_dim=cfg.decoder_mlp,
                                                  num_heads=cfg.decoder_heads),
            transformer_dim=self.hidden_dim, iou_head_depth=3, iou_head_hidden_dim=cfg.iou_head_hidden,
            use_high_res_features=self.use_high_res_features_in_sam,
            iou_prediction_use_sigmoid=self.iou_prediction_use_sigmoid,
            pred_obj_scores=self.pred_obj_scores, pred_obj_scores_mlp=self.pred_obj_scores_mlp,
            use_multimask_token_for_obj_ptr=self.use_multimask_token_for_obj_ptr,
            dynamic_multimask_via_stability=self.dynamic_multimask_via_stability,
            dynamic_multimask_stability_delta=self.dynamic_multimask_stability_delta,
            dynamic_multimask_stability_thresh=self.dynamic_multimask_stability_thresh,
        )
        c = self.hidden_dim
        self.obj_ptr_proj = MLP(c, c, c, 3) if self.use_mlp_for_obj_ptr_proj else nn.Linear(c, c)
        self.obj_ptr_tpos_proj = nn.Linear(c, self.mem_dim) if self.proj_tpos_enc_in_obj_ptrs else nn.Identity()


class NanoSAM2Base(NanoHeadsMixin, SAM2Base):
    """SAM2Base at nano sizes (training uses this: no predictor state)."""


class NanoSAM2VideoPredictor(NanoHeadsMixin, SAM2VideoPredictor):
    """SAM2VideoPredictor at nano sizes: Meta's video API (init_state, add_new_points_or_box, propagate_in_video)."""


NANO_CLASSES = {SAM2Base: NanoSAM2Base, SAM2VideoPredictor: NanoSAM2VideoPredictor,
                NanoSAM2Base: NanoSAM2Base, NanoSAM2VideoPredictor: NanoSAM2VideoPredictor}


def sam1_to_sam2_keys(sam1_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The embedded SAM 1's state_dict under the nano SAM 2's names (image encoder, prompt encoder, decoder).

    image_encoder.* -> image_encoder.trunk.*; prompt_encoder.* -> sam_prompt_encoder.*;
    mask_decoder.* -> sam_mask_decoder.* with the token MLPs' lin1 / lin2 -> layers.0 / layers.1.
    """
    out = {}
    for key, value in sam1_state.items():
        if key.startswith("image_encoder."):
            out["image_encoder.trunk." + key[len("image_encoder."):]] = value
        elif key.startswith("prompt_encoder."):
            out["sam_" + key] = value
        elif key.startswith("mask_decoder."):
            out["sam_" + key.replace(".mlp.lin1.", ".mlp.layers.0.").replace(".mlp.lin2.", ".mlp.layers.1.")] = value
    return out


def init_from_sam1(model: SAM2Base, sam1_weights: str | Path = NANO_SAM1_WEIGHTS) -> list[str]:
    """Copy the embedded SAM 1's weights into `model`; returns the SAM 2 keys left at their init."""
    from sam_core.weights.checkpoint import load_state_dict

    mapped = sam1_to_sam2_keys(load_state_dict(sam1_weights))
    own = model.state_dict()
    wrong = [k for k, v in mapped.items() if k not in own or own[k].shape != v.shape]
    if wrong:
        raise ValueError(f"SAM 1 weights do not fit the nano SAM 2: {wrong[:3]}")
    model.load_state_dict(mapped, strict=False)
    return sorted(set(own) - set(mapped))


def build_sam2_nano_model(model_class: type = SAM2Base, config: NanoSam2Config = NANO_SAM2) -> SAM2Base:
    """The nano SAM 2 with random weights (model_class: SAM2Base or SAM2VideoPredictor, or their Nano classes)."""
    if model_class not in NANO_CLASSES:
        raise ValueError(f"the nano SAM 2 is built as SAM2Base or SAM2VideoPredictor, not {model_class.__name__}")
    cls = NANO_CLASSES[model_class]
    return cls(
        image_encoder=NanoSam2ImageEncoder(config),
        memory_attention=build_memory_attention(config.memory_size(), config.image_size // config.backbone_stride),
        memory_encoder=build_nano_memory_encoder(config),
        options=config.options(),
    )


def build_sam2_nano(
    checkpoint: str | Path | None = "embedded", device: str | torch.device = "cpu", model_class: type = SAM2VideoPredictor,
) -> SAM2Base:
    """The nano SAM 2 in eval mode. checkpoint: "embedded" (the committed assets/models/sam2_nano weights),
    a path to a .safetensors of this model, or None (random weights)."""
    from sam_core.weights.checkpoint import CheckpointError, load_state_dict

    model = build_sam2_nano_model(model_class)
    if checkpoint == "embedded":
        checkpoint = NANO_SAM2_WEIGHTS
        if not checkpoint.exists():
            raise CheckpointError(f"The embedded SAM 2 nano weights are missing at {checkpoint}.")
    if checkpoint is not None:
        state = load_state_dict(checkpoint)
        expected = set(model.state_dict())
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise CheckpointError(f"{Path(checkpoint).name} is not a SAM 2 nano checkpoint: missing {missing[:3]}, "
                                  f"unexpected {unexpected[:3]}")
        model.load_state_dict(state, strict=True)
    return model.to(device).eval()


__all__ = ["NANO_SAM2", "NANO_SAM2_WEIGHTS", "NanoSam2Config", "NanoSAM2Base", "NanoSAM2VideoPredictor",
           "build_sam2_nano", "build_sam2_nano_model", "init_from_sam1", "sam1_to_sam2_keys"]
