"""The embedded SAM 3 ("nano"): Meta's SAM 3 classes at small widths on the nano SAM's image encoder.

    model = build_sam3("nano")                      # loads assets/models/sam3_nano/sam3_nano.safetensors
    processor = Sam3Processor(model, resolution=NANO_RESOLUTION)

Everything after the image trunk is the real SAM 3 (sam_core/sam3): the simple-FPN neck, the CLIP BPE
tokenizer and causal text transformer, the geometry / exemplar encoder, the fusion encoder, the DETR
decoder with its queries and presence token, dot-product scoring and the segmentation head. The trunk
is `NanoImageEncoder` (the embedded SAM 1's, initialised from its weights):

    image [B, 3, 256, 256] in [-1, 1] (SAM 3's normalisation)
      -> NanoImageEncoder                                  [B, 128, 32, 32]   (stride 8)
         + pixel colour: RGB averaged over 8 x 8 cells -> 1x1 MLP (3 -> 32 -> 128)
      -> neck, scales (2, 1, 0.5)                          [B, 64, 64 | 32 | 16] (16 dropped: scalp 1)
      -> detector on the 32 x 32 map; masks on the 64 x 64 map (stride 4, as SAM 3's 288 of 1008)

Why the pixel-colour branch: the nano SAM's encoder normalises every channel per image (GroupNorm with one
group per channel, `image_norm`), which throws away most of an object's absolute colour. It was trained
only to draw masks, which does not need colour; "red car" does. SAM 3's own trunk (the Perception Encoder)
is trained on image-text pairs and keeps colour. The branch gives the concept model the cell's mean colour
directly; its last layer starts at zero, so weights without it behave exactly as before.

SAM 3's neck makes four levels (4x, 2x, 1x, 0.5x); at 256 px the 4x level would be 128 x 128 and its
pixel decoder would run once per prompt, so the nano model uses three levels (one upsampling stage).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.sam1.nano_encoder import NanoEncoderConfig, NanoImageEncoder
from sam_core.sam3.build import wire_sam3
from sam_core.sam3.neck import Sam3DualViTDetNeck
from sam_core.sam3.sam3_image import Sam3Image
from sam_core.sam3.tokenizer import DEFAULT_BPE_PATH

REPO_ROOT = Path(__file__).resolve().parents[2]
NANO_SAM3_DIR = REPO_ROOT / "assets" / "models" / "sam3_nano"
NANO_SAM3_WEIGHTS = NANO_SAM3_DIR / "sam3_nano.safetensors"
SAM1_PIXEL_MEAN = (123.675, 116.28, 103.53)  # the nano SAM's trunk was trained on these statistics
SAM1_PIXEL_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class NanoSam3Config:
    """Sizes of the embedded SAM 3 (Meta's in brackets)."""

    image_size: int = 256  # [1008] the scenes are 256 px; the nano trunk's input
    trunk_channels: int = 128  # the nano SAM's embedding width
    scale_factors: tuple[float, ...] = (2.0, 1.0, 0.5)  # [(4, 2, 1, 0.5)] see the module docstring
    upsampling_stages: int = 1  # [3] one per FPN level above the detector's
    text_width: int = 64  # [1024]
    text_layers: int = 2  # [24]
    text_heads: int = 4  # [16]
    context_length: int = 16  # [32] the longest phrase ("person in a light blue shirt") is 9 tokens
    vocab_size: int = 49408  # CLIP's BPE vocabulary, unchanged: a student may type any word
    d_model: int = 64  # [256]
    heads: int = 4  # [8]
    ffn_dim: int = 256  # [2048]
    encoder_layers: int = 2  # [6]
    decoder_layers: int = 3  # [6]
    geometry_layers: int = 1  # [3]
    num_queries: int = 24  # [200] a scene has at most ~15 instances of one phrase (leaves, wheels)


NANO_SAM3 = NanoSam3Config()
NANO_RESOLUTION = NANO_SAM3.image_size


class PixelColour(nn.Module):
    """Mean colour of each stride x stride cell as features: [B, 3, S, S] -> [B, channels, S/stride, S/stride].

    A 1x1 MLP (3 -> hidden -> channels) on the cell-averaged, normalised pixels; the last layer starts at
    zero, so adding the branch to trained weights changes nothing until it is trained.
    """

    def __init__(self, channels: int, stride: int = 8, hidden: int = 32) -> None:
        super().__init__()
        self.stride = stride
        self.mlp = nn.Sequential(nn.Conv2d(3, hidden, 1), nn.GELU(), nn.Conv2d(hidden, channels, 1))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, normalised: torch.Tensor) -> torch.Tensor:
        return self.mlp(F.avg_pool2d(normalised, self.stride))


class NanoTrunk(nn.Module):
    """The nano SAM's image encoder plus a pixel-colour branch as a SAM 3 trunk:
    [B, 3, S, S] in [-1, 1] -> [[B, 128, S/8, S/8]].

    SAM 3 feeds (x / 255 - 0.5) / 0.5; the nano encoder learned on (x - mean) / std (0-255 RGB, ImageNet
    statistics), so the input is mapped back before the encoder.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.encoder = NanoImageEncoder(NanoEncoderConfig(out_chans=channels, out_stride=8))
        self.pixel_colour = PixelColour(channels, stride=8)
        self.channel_list = [channels]
        self.register_buffer("pixel_mean", torch.tensor(SAM1_PIXEL_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(SAM1_PIXEL_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        rgb = (images * 0.5 + 0.5) * 255.0  # [-1, 1] -> 0..255
        normalised = (rgb - self.pixel_mean) / self.pixel_std
        return [self.encoder(normalised) + self.pixel_colour(normalised)]


# Weights trained before the pixel-colour branch existed lack these keys; they keep the branch's zero start.
PIXEL_COLOUR_KEYS = tuple(f"backbone.vision_backbone.trunk.pixel_colour.mlp.{i}.{name}"
                          for i in (0, 2) for name in ("weight", "bias"))


def build_sam3_nano_from_config(cfg: NanoSam3Config = NANO_SAM3, bpe_path: str | Path = DEFAULT_BPE_PATH
                                ) -> Sam3Image:
    """Wire the embedded SAM 3 for `cfg` (random weights, eval mode)."""
    neck = Sam3DualViTDetNeck(NanoTrunk(cfg.trunk_channels), cfg.d_model, scale_factors=cfg.scale_factors)
    return wire_sam3(neck, cfg, bpe_path)


TRUNK_PREFIX = "backbone.vision_backbone.trunk.encoder."


def load_sam1_image_encoder(model: Sam3Image, sam1_checkpoint: str | Path) -> int:
    """Copy the nano SAM's `image_encoder.*` weights into the trunk; returns how many tensors were copied.

    Raises RuntimeError if the trunk's keys and the checkpoint's image-encoder keys differ.
    """
    from safetensors.torch import load_file

    source = {k[len("image_encoder."):]: v for k, v in load_file(str(sam1_checkpoint)).items()
              if k.startswith("image_encoder.")}
    trunk = model.backbone.vision_backbone.trunk.encoder
    missing, unexpected = trunk.load_state_dict(source, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"nano SAM image encoder does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return len(source)


def build_sam3_nano(checkpoint: str | Path | None = NANO_SAM3_WEIGHTS) -> Sam3Image:
    """The embedded SAM 3; loads `checkpoint` (default: the committed weights; None: random weights).

    Raises FileNotFoundError if the checkpoint is missing, RuntimeError if its keys do not fit.
    """
    model = build_sam3_nano_from_config()
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if not checkpoint.exists():
            raise FileNotFoundError(f"The embedded SAM 3 weights are missing at {checkpoint}.")
        from sam_core.sam3.checkpoint import load_detector_weights
        from sam_core.weights.checkpoint import load_state_dict

        load_detector_weights(model, load_state_dict(checkpoint, max_bytes=None, map_transformers=False),
                              allowed_missing=PIXEL_COLOUR_KEYS)
    return model.eval()


__all__ = ["NANO_RESOLUTION", "NANO_SAM3", "NANO_SAM3_WEIGHTS", "PIXEL_COLOUR_KEYS", "NanoSam3Config", "NanoTrunk",
           "PixelColour", "build_sam3_nano", "build_sam3_nano_from_config", "load_sam1_image_encoder"]
