"""The embedded default's image encoder: a small conv + attention pyramid that CPUs run in ~tens of ms.

It keeps SAM's contract — an RGB image resized and padded to `img_size` in, a square embedding grid
with `out_chans` channels out — but from a 256 px input at stride 8 (a 32 x 32 grid, the nano model) or
stride 4 (64 x 64) instead of SAM's 1024 px at stride 16 (64 x 64).

    image [B, 3, 256, 256]
      -> stem: two stride-2 3x3 convs                          [B, w0, 64, 64]
      -> stage 1 @ 64x64, stage 2 @ 32x32, stage 3 @ 16x16     (ConvNeXt-style residual blocks)
      -> one global self-attention block @ 16x16                (whole-image context, 256 tokens)
      -> top-down merge (FPN): 16 -> 32 (+ the 64x64 map, 2x2-averaged)   [B, w_fpn, 32, 32]
         (out_stride 4: 16 -> 32 -> 64                                    [B, w_fpn, 64, 64])
      -> SAM's neck: 1x1 conv -> LayerNorm2d -> 3x3 conv -> LayerNorm2d   [B, out_chans, grid, grid]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.nn.blocks import LayerNorm2d


@dataclass(frozen=True)
class NanoEncoderConfig:
    img_size: int = 256  # 4x smaller than SAM's 1024: the scenes are simple and CPUs are slow
    widths: tuple[int, int, int] = (64, 128, 192)  # channels at 64x64, 32x32, 16x16
    depths: tuple[int, int, int] = (2, 2, 2)  # residual blocks per stage
    fpn_width: int = 96  # channels of the merged map
    out_chans: int = 128  # embedding width = decoder width of the nano model
    attn_heads: int = 4  # global attention at 16x16
    out_stride: int = 4  # 4: embedding at img_size/4 (64x64); 8: at img_size/8 (32x32)


def image_norm(channels: int) -> nn.GroupNorm:
    """Per-image, per-channel normalisation over H x W (+ affine): GroupNorm with one group per channel.

    The committed weights were trained with BatchNorm2d at 1 image per step, which computes exactly this in
    training mode. In eval mode BatchNorm uses running averages over all scenes instead, and one scene's
    statistics are far from that average: the held-out 1-click oracle mIoU was 0.473 with the running
    averages and 0.678 with per-image statistics (same weights, `sam_core.training.evaluate`, 240 scenes). Per-image
    statistics also make a mask independent of which other images share a batch."""
    return nn.GroupNorm(channels, channels)


class ConvBlock(nn.Module):
    """ConvNeXt-style residual block: depthwise 7x7 -> per-image norm -> 1x1 expand (GELU) -> 1x1 project."""

    def __init__(self, dim: int, expansion: int = 3) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = image_norm(dim)
        self.pw1 = nn.Conv2d(dim, dim * expansion, kernel_size=1)
        self.pw2 = nn.Conv2d(dim * expansion, dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> same
        return x + self.pw2(F.gelu(self.pw1(self.norm(self.dwconv(x)))))


class GlobalAttentionBlock(nn.Module):
    """Pre-norm self-attention + MLP over every position of a small grid."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim))

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> same
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # B x HW x C
        normed = self.norm1(tokens)
        attended, _ = self.attn(normed + pos, normed + pos, normed, need_weights=False)
        tokens = tokens + attended
        tokens = tokens + self.mlp(self.norm2(tokens))
        return tokens.transpose(1, 2).reshape(b, c, h, w)


def _conv_bn_act(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False), image_norm(cout), nn.GELU()
    )


class NanoImageEncoder(nn.Module):
    """See the module docstring. Input [B, 3, img_size, img_size] -> [B, out_chans, grid, grid],
    grid = img_size / out_stride."""

    def __init__(self, config: NanoEncoderConfig = NanoEncoderConfig()) -> None:
        super().__init__()
        if config.out_stride not in (4, 8):
            raise ValueError(f"NanoEncoderConfig.out_stride must be 4 or 8, not {config.out_stride}.")
        self.config = config
        self.img_size = config.img_size
        w0, w1, w2 = config.widths
        self.stem = nn.Sequential(_conv_bn_act(3, w0 // 2, 2), _conv_bn_act(w0 // 2, w0, 2))
        self.stage1 = nn.Sequential(*[ConvBlock(w0) for _ in range(config.depths[0])])
        self.down1 = nn.Sequential(image_norm(w0), nn.Conv2d(w0, w1, kernel_size=2, stride=2))
        self.stage2 = nn.Sequential(*[ConvBlock(w1) for _ in range(config.depths[1])])
        self.down2 = nn.Sequential(image_norm(w1), nn.Conv2d(w1, w2, kernel_size=2, stride=2))
        self.stage3 = nn.Sequential(*[ConvBlock(w2) for _ in range(config.depths[2])])
        grid16 = config.img_size // 16
        self.pos_embed = nn.Parameter(torch.zeros(1, grid16 * grid16, w2))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.global_attn = GlobalAttentionBlock(w2, config.attn_heads)
        self.lateral = nn.ModuleList(nn.Conv2d(w, config.fpn_width, kernel_size=1) for w in (w0, w1, w2))
        self.neck = nn.Sequential(
            nn.Conv2d(config.fpn_width, config.out_chans, kernel_size=1, bias=False),
            LayerNorm2d(config.out_chans),
            nn.Conv2d(config.out_chans, config.out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(config.out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f64 = self.stage1(self.stem(x))  # B x w0 x 64 x 64
        f32 = self.stage2(self.down1(f64))  # B x w1 x 32 x 32
        f16 = self.global_attn(self.stage3(self.down2(f32)), self.pos_embed)  # B x w2 x 16 x 16
        merged = self.lateral[2](f16)
        merged = self.lateral[1](f32) + F.interpolate(merged, scale_factor=2.0, mode="nearest")
        if self.config.out_stride == 8:  # the 64x64 detail joins the 32x32 map, averaged 2x2
            return self.neck(merged + F.avg_pool2d(self.lateral[0](f64), 2))  # B x out_chans x 32 x 32
        merged = self.lateral[0](f64) + F.interpolate(merged, scale_factor=2.0, mode="nearest")
        return self.neck(merged)  # B x out_chans x 64 x 64
