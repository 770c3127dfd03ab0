"""Memory encoder: a frame's features and its predicted mask -> a 64-channel spatial memory.

    m   = sigmoid(mask_logits) * 20 - 10        (SAM2Base; binarised instead on clicked frames)
    m   = MaskDownSampler(m)                    1024² -> 64², 1 -> 256 channels (4 stride-2 convs)
    x   = pix_feat_proj(frame features) + m     256 x 64 x 64
    x   = Fuser(x)                              2 ConvNeXt blocks (7x7 depthwise, LN, 4x MLP, layer scale)
    mem = out_proj(x)                           256 -> 64 channels, with a 64-d sine position encoding
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sam_core.nn.blocks import LayerNorm2d
from sam_core.sam2.position_encoding import PositionEmbeddingSine


class MaskDownSampler(nn.Module):
    """Downsample a mask by total_stride in steps of `stride`, channels x stride² per step, then 1x1 -> embed_dim.

    Keys: encoder.{0,3,6,9} convs, encoder.{1,4,7,10} LayerNorm2d, encoder.12 the final 1x1 conv.
    """

    def __init__(
        self,
        embed_dim: int = 256,
        kernel_size: int = 4,
        stride: int = 4,
        padding: int = 0,
        total_stride: int = 16,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        num_layers = int(math.log2(total_stride) // math.log2(stride))
        assert stride**num_layers == total_stride
        self.encoder = nn.Sequential()
        mask_in_chans, mask_out_chans = 1, 1
        for _ in range(num_layers):
            mask_out_chans = mask_in_chans * stride**2
            self.encoder.append(nn.Conv2d(mask_in_chans, mask_out_chans, kernel_size, stride=stride, padding=padding))
            self.encoder.append(LayerNorm2d(mask_out_chans))
            self.encoder.append(activation())
            mask_in_chans = mask_out_chans
        self.encoder.append(nn.Conv2d(mask_out_chans, embed_dim, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, H, W] -> [B, embed_dim, H/16, W/16]
        return self.encoder(x)


class CXBlock(nn.Module):
    """ConvNeXt block: depthwise conv, LayerNorm, Linear 4x, GELU, Linear, layer scale gamma, residual."""

    def __init__(
        self, dim: int, kernel_size: int = 7, padding: int = 3, layer_scale_init_value: float = 1e-6,
        use_dwconv: bool = True,
    ) -> None:
        super().__init__()
        groups = dim if use_dwconv else 1
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=kernel_size, padding=padding, groups=groups)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale_init_value * torch.ones(dim)) if layer_scale_init_value > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, C, H, W]
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)  # B x C x H x W -> B x H x W x C
        y = self.pwconv2(self.act(self.pwconv1(y)))
        if self.gamma is not None:
            y = self.gamma * y
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    """A stack of CXBlocks (Meta's `layers.i`), after an optional 1x1 input projection."""

    def __init__(self, layers: list[CXBlock], dim: int | None = None, input_projection: bool = False) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, kernel_size=1) if input_projection else nn.Identity()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    """Frame features [B, 256, 64, 64] + mask [B, 1, 1024, 1024] -> memory [B, 64, 64, 64] and its encoding.

    Arguments:
      out_dim: memory channels (64); mask_downsampler, fuser, position_encoding: the parts above;
      in_dim: frame feature channels (256).
    """

    def __init__(
        self,
        out_dim: int,
        mask_downsampler: MaskDownSampler,
        fuser: Fuser,
        position_encoding: PositionEmbeddingSine,
        in_dim: int = 256,
    ) -> None:
        super().__init__()
        self.mask_downsampler = mask_downsampler
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = fuser
        self.position_encoding = position_encoding
        self.out_proj = nn.Conv2d(in_dim, out_dim, kernel_size=1) if out_dim != in_dim else nn.Identity()

    def forward(
        self, pix_feat: torch.Tensor, masks: torch.Tensor, skip_mask_sigmoid: bool = False
    ) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Returns {"vision_features": [B, 64, h, w], "vision_pos_enc": [[B, 64, h, w]]}."""
        if not skip_mask_sigmoid:
            masks = torch.sigmoid(masks)
        masks = self.mask_downsampler(masks)
        x = self.pix_feat_proj(pix_feat.to(masks.device)) + masks
        x = self.out_proj(self.fuser(x))
        pos = self.position_encoding(x).to(x.dtype)
        return {"vision_features": x, "vision_pos_enc": [pos]}
