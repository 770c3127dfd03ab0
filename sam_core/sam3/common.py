"""Small pieces every SAM 3 component shares: the MLP, box formats, padded-sequence concatenation and
the sine position encoding (for feature maps, boxes and points).

Sequences follow Meta's convention: sequence first ([L, B, C]); padding masks are batch first
([B, L]) with True where a position is padding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """Linear layers with ReLU between them; optionally a residual connection and an output norm.

    Arguments:
      input_dim, hidden_dim, output_dim: widths; every hidden layer is `hidden_dim` wide.
      num_layers: number of Linear layers (Meta's `layers.0 ... layers.{n-1}`).
      residual: add the input to the output (needs input_dim == output_dim).
      out_norm: a module applied last (the scorer's prompt MLP uses a LayerNorm).
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int,
                 residual: bool = False, out_norm: nn.Module | None = None) -> None:
        super().__init__()
        self.num_layers = num_layers
        hidden = [hidden_dim] * (num_layers - 1)
        widths = zip([input_dim] + hidden, hidden + [output_dim], strict=True)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in widths)
        if residual and input_dim != output_dim:
            raise ValueError("residual is only supported if input_dim == output_dim")
        self.residual = residual
        self.out_norm = out_norm or nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., input_dim] -> [..., output_dim]
        inputs = x
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < self.num_layers - 1 else layer(x)
        if self.residual:
            x = x + inputs
        return self.out_norm(x)


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """log(x / (1 - x)) with both terms clamped at `eps` (Meta's; keeps refined boxes finite)."""
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def box_cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """[..., 4] (centre x, centre y, width, height) -> [..., 4] (x0, y0, x1, y1)."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def concat_padded_sequences(seq1: torch.Tensor, mask1: torch.Tensor, seq2: torch.Tensor,
                            mask2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate two right-padded sequences so that the result is right-padded too.

    Arguments:
      seq1: [L1, B, C]; mask1: [B, L1] (True = padding, all padding at the right end).
      seq2: [L2, B, C]; mask2: [B, L2].
    Returns:
      ([L1 + L2, B, C], [B, L1 + L2]): row b holds seq1's valid items, then seq2's, then padding.
    """
    len1, batch, width = seq1.shape
    len2 = seq2.shape[0]
    valid1 = (~mask1).sum(dim=-1)  # B
    total = valid1 + (~mask2).sum(dim=-1)  # B
    mask = torch.arange(len1 + len2, device=seq2.device)[None].repeat(batch, 1) >= total[:, None]
    out = torch.zeros((len1 + len2, batch, width), device=seq2.device, dtype=seq2.dtype)
    out[:len1] = seq1
    index = torch.arange(len2, device=seq2.device)[:, None].repeat(1, batch) + valid1[None]  # L2 x B
    out = out.scatter(0, index[:, :, None].expand(-1, -1, width), seq2)
    return out, mask


class PositionEmbeddingSine(nn.Module):
    r"""DETR's sine position encoding, for feature maps and for box / point coordinates.

    A coordinate $u \in [0, 1]$ (times $2\pi$) becomes $[\sin(u / T^{2i/F}), \cos(u / T^{2i/F})]$
    interleaved over F = num_pos_feats / 2 frequencies with T = 10000; the y encoding comes before x.

    Arguments:
      num_pos_feats: output channels (half for y, half for x).
    """

    def __init__(self, num_pos_feats: int, temperature: int = 10000) -> None:
        super().__init__()
        if num_pos_feats % 2:
            raise ValueError("Expecting even model width")
        self.num_pos_feats = num_pos_feats // 2
        self.temperature = temperature
        self.scale = 2 * math.pi
        self._cache: dict[tuple[int, int, str], torch.Tensor] = {}

    def _dim_t(self, device: torch.device) -> torch.Tensor:
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=device)
        return self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)

    @staticmethod
    def _sin_cos(angles: torch.Tensor) -> torch.Tensor:  # [..., F] -> [..., F] (sin, cos interleaved)
        return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)

    def encode_xy(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[N] normalised x and y -> ([N, F], [N, F]) encodings of x and of y."""
        dim_t = self._dim_t(x.device)
        return self._sin_cos(x[:, None] * self.scale / dim_t), self._sin_cos(y[:, None] * self.scale / dim_t)

    def encode_boxes(self, cx: torch.Tensor, cy: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """[N] box centres and sizes -> [N, 2F + 2]: (enc(cy), enc(cx), h, w), Meta's order."""
        pos_x, pos_y = self.encode_xy(cx, cy)
        return torch.cat((pos_y, pos_x, h[:, None], w[:, None]), dim=1)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] feature map -> [B, 2F, H, W] encoding of pixel (row, col), normalised to (0, 1]."""
        height, width = x.shape[-2:]
        key = (height, width, str(x.device))
        if key not in self._cache:
            eps = 1e-6
            ys = torch.arange(1, height + 1, dtype=torch.float32, device=x.device)
            xs = torch.arange(1, width + 1, dtype=torch.float32, device=x.device)
            ys = ys / (ys[-1] + eps) * self.scale
            xs = xs / (xs[-1] + eps) * self.scale
            dim_t = self._dim_t(x.device)
            pos_y = self._sin_cos(ys[:, None] / dim_t)[:, None, :].expand(height, width, -1)  # H x W x F
            pos_x = self._sin_cos(xs[:, None] / dim_t)[None, :, :].expand(height, width, -1)  # H x W x F
            self._cache[key] = torch.cat((pos_y, pos_x), dim=-1).permute(2, 0, 1).contiguous()  # 2F x H x W
        return self._cache[key][None].repeat(x.shape[0], 1, 1, 1)
