"""Positional encodings shared by the model families.

PositionEmbeddingRandom: random Fourier features of 2-D coordinates (Tancik et al. 2020), the encoding of
SAM 1's prompt encoder (clicks, box corners and every cell of the image-embedding grid) and of SAM 2's.

    u      = 2 p - 1                 p: coordinates scaled to [0, 1], u in [-1, 1]
    angles = 2 pi * (u @ G)          G: [2, C/2] ~ N(0, scale^2), a buffer stored in the checkpoint
    pe     = [sin(angles) | cos(angles)]                                   C dims
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sam_core.tracing import record


class PositionEmbeddingRandom(nn.Module):
    """Random Fourier positional encoding of 2-D coordinates (Meta's class and buffer name).

    Arguments:
      num_pos_feats: number of random frequencies (C/2); the output has 2 * num_pos_feats dims.
      scale: std of the Gaussian matrix (1.0 when None or <= 0).
    """

    def __init__(self, num_pos_feats: int = 64, scale: float | None = None) -> None:
        super().__init__()
        if scale is None or scale <= 0.0:
            scale = 1.0
        self.register_buffer("positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats)))

    def _pe_encoding(self, coords: torch.Tensor, trace_prefix: str | None = None) -> torch.Tensor:
        """coords in [0, 1], shape [..., 2] -> [..., 2 * num_pos_feats].

        With trace_prefix, a trace records `<prefix>coords_unit` [..., 2] and `<prefix>fourier_angles`
        [..., C/2], the tensors this computation uses.
        """
        unit = 2 * coords - 1  # [0, 1] -> [-1, 1]
        angles = 2 * math.pi * (unit @ self.positional_encoding_gaussian_matrix)  # [..., C/2]
        if trace_prefix is not None:
            record(f"{trace_prefix}coords_unit", unit)
            record(f"{trace_prefix}fourier_angles", angles)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)

    def forward(self, size: tuple[int, int]) -> torch.Tensor:
        """Encoding of every cell centre of an h x w grid -> [C, h, w]."""
        h, w = size
        gaussian = self.positional_encoding_gaussian_matrix
        ones = torch.ones((h, w), device=gaussian.device, dtype=gaussian.dtype)
        y_embed = (ones.cumsum(dim=0) - 0.5) / h
        x_embed = (ones.cumsum(dim=1) - 0.5) / w
        pe = self._pe_encoding(torch.stack([x_embed, y_embed], dim=-1))  # h x w x C
        return pe.permute(2, 0, 1)  # C x h x w

    def forward_with_coords(
        self, coords_input: torch.Tensor, image_size: tuple[int, int], trace_prefix: str | None = None
    ) -> torch.Tensor:
        """Pixel coordinates [B, N, 2] (x, y) in a frame of image_size (h, w) -> [B, N, C].

        Coordinates of any float dtype: they are scaled to [0, 1] in their own dtype, then cast to the
        Gaussian matrix's (float32 in a float32 model), as Meta's code casts them to float.
        With trace_prefix, a trace records `<prefix>coords_normalized` [B, N, 2] and
        `<prefix>gaussian_matrix` [2, C/2], and what `_pe_encoding` records.
        """
        coords = coords_input.clone()
        coords[:, :, 0] = coords[:, :, 0] / image_size[1]
        coords[:, :, 1] = coords[:, :, 1] / image_size[0]
        coords = coords.to(self.positional_encoding_gaussian_matrix.dtype)
        if trace_prefix is not None:
            record(f"{trace_prefix}coords_normalized", coords)
            record(f"{trace_prefix}gaussian_matrix", self.positional_encoding_gaussian_matrix)
        return self._pe_encoding(coords, trace_prefix)
