"""Positional encodings of SAM 2: 2-D sine (feature maps), 1-D sine (object pointers), axial 2-D RoPE.

Sine encoding of a feature map (DETR style), for each pixel (x, y) counted from 1 and normalised:
    x' = x / (W + eps) * 2 pi,  y' = y / (H + eps) * 2 pi
    dim_t[i] = temperature ^ (2 floor(i / 2) / (C / 2))             i = 0 .. C/2 - 1
    pe = [sin/cos interleaved of y' / dim_t | sin/cos interleaved of x' / dim_t]    (C channels)

Axial RoPE (memory attention): a head vector of d dims is read as d/2 complex numbers; the first d/4
are rotated by angle x * f_k, the last d/4 by y * f_k, with f_k = theta ^ (-4k / d):
    q' = q * exp(i * angle(x, y))       (so q'.k' depends only on the offset between the two positions)
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PositionEmbeddingSine(nn.Module):
    """2-D sine positional encoding of a [B, C, H, W] feature map (depends only on its shape).

    Arguments:
      num_pos_feats: output channels C (half for y, half for x).
      temperature: frequency base; normalize: scale positions to [0, 2 pi]; scale: that 2 pi.
    """

    def __init__(
        self, num_pos_feats: int, temperature: int = 10000, normalize: bool = True, scale: float | None = None
    ) -> None:
        super().__init__()
        assert num_pos_feats % 2 == 0, "Expecting even model width"
        self.num_pos_feats = num_pos_feats // 2
        self.temperature = temperature
        self.normalize = normalize
        if scale is not None and not normalize:
            raise ValueError("normalize should be True if scale is passed")
        self.scale = 2 * math.pi if scale is None else scale
        self.cache: dict[tuple[int, int, str], torch.Tensor] = {}  # (H, W, device) -> [C, H, W]

    def _dim_t(self, device: torch.device) -> torch.Tensor:
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=device)
        return self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)

    @torch.no_grad()
    def _pe(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        key = (height, width, str(device))
        if key not in self.cache:
            y_embed = torch.arange(1, height + 1, dtype=torch.float32, device=device).view(-1, 1).repeat(1, width)
            x_embed = torch.arange(1, width + 1, dtype=torch.float32, device=device).view(1, -1).repeat(height, 1)
            if self.normalize:
                eps = 1e-6
                y_embed = y_embed / (y_embed[-1:, :] + eps) * self.scale
                x_embed = x_embed / (x_embed[:, -1:] + eps) * self.scale
            dim_t = self._dim_t(device)
            pos_x = x_embed[:, :, None] / dim_t  # H x W x C/2
            pos_y = y_embed[:, :, None] / dim_t
            pos_x = torch.stack((pos_x[:, :, 0::2].sin(), pos_x[:, :, 1::2].cos()), dim=3).flatten(2)
            pos_y = torch.stack((pos_y[:, :, 0::2].sin(), pos_y[:, :, 1::2].cos()), dim=3).flatten(2)
            self.cache[key] = torch.cat((pos_y, pos_x), dim=2).permute(2, 0, 1)  # C x H x W
        return self.cache[key]

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, *, H, W] -> encoding [B, C, H, W] (float32)."""
        pe = self._pe(x.shape[-2], x.shape[-1], x.device)
        return pe[None].repeat(x.shape[0], 1, 1, 1)


def get_1d_sine_pe(pos_inds: torch.Tensor, dim: int, temperature: float = 10000) -> torch.Tensor:
    """1-D sine encoding of positions [N] -> [N, dim] ([sin | cos] halves), for object-pointer offsets."""
    pe_dim = dim // 2
    dim_t = torch.arange(pe_dim, dtype=torch.float32, device=pos_inds.device)
    dim_t = temperature ** (2 * (dim_t // 2) / pe_dim)
    pos_embed = pos_inds.unsqueeze(-1) / dim_t
    return torch.cat([pos_embed.sin(), pos_embed.cos()], dim=-1)


def compute_axial_cis(dim: int, end_x: int, end_y: int, theta: float = 10000.0) -> torch.Tensor:
    """Rotations exp(i * angle) for every cell of an end_y x end_x grid, row-major -> complex [HW, dim/2]."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4)[: (dim // 4)].float() / dim))  # dim/4 frequencies
    t = torch.arange(end_x * end_y, dtype=torch.float32)
    t_x = t % end_x  # column of each cell
    t_y = torch.div(t, end_x, rounding_mode="floor")  # row of each cell
    angles_x = torch.outer(t_x, freqs)  # HW x dim/4
    angles_y = torch.outer(t_y, freqs)
    cis_x = torch.polar(torch.ones_like(angles_x), angles_x)
    cis_y = torch.polar(torch.ones_like(angles_y), angles_y)
    return torch.cat([cis_x, cis_y], dim=-1)  # HW x dim/2


def apply_rotary_enc(
    xq: torch.Tensor, xk: torch.Tensor, freqs_cis: torch.Tensor, repeat_freqs_k: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate queries [B, heads, Nq, d] and keys [B, heads, Nk, d] by their grid positions.

    freqs_cis: [Nq, d/2] complex. With repeat_freqs_k, the keys are r = Nk / Nq memory frames of the same
    grid laid end to end, and each frame gets the same rotations (memories are rotated by position only).
    """
    xq_ = torch.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))  # B x heads x Nq x d/2
    xq_out = torch.view_as_real(xq_ * freqs_cis).flatten(3)
    if xk.shape[-2] == 0:
        return xq_out.type_as(xq), xk
    xk_ = torch.view_as_complex(xk.float().reshape(*xk.shape[:-1], -1, 2))
    if repeat_freqs_k:
        r = xk_.shape[-2] // xq_.shape[-2]
        freqs_cis = freqs_cis.unsqueeze(0).expand(r, -1, -1).flatten(0, 1)  # (r * Nq) x d/2
    xk_out = torch.view_as_real(xk_ * freqs_cis).flatten(3)
    return xq_out.type_as(xq), xk_out.type_as(xk)
