"""Hiera, SAM 2's hierarchical image trunk (Ryali et al. 2023, with Bolya et al.'s windowed pos-embed).

A 7x7 stride-4 patch embedding turns a 1024 image into a 256x256 grid of C tokens; four stages follow
(tiny: 1, 2, 7, 2 blocks). The first block of stages 2-4 max-pools its *queries* 2x2 (query pooling):
the grid halves and the width doubles, so the stages see 256², 128², 64², 32² tokens at C, 2C, 4C, 8C.
Most blocks attend inside windows (window_spec per stage); a few `global_att_blocks` attend over the
whole grid. The trunk returns the last feature map of every stage, finest first.

The absolute position embedding is a small learned background map (e.g. 7x7) resized bicubically to the
grid, plus an 8x8 window embedding tiled over it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.tracing import record


def window_partition(x: torch.Tensor, window_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """[B, H, W, C] -> windows [B * num_windows, ws, ws, C] (zero-padded to a multiple), and (Hp, Wp)."""
    b, h, w, c = x.shape
    pad_h = (window_size - h % window_size) % window_size
    pad_w = (window_size - w % window_size) % window_size
    if pad_h > 0 or pad_w > 0:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window_size, window_size, wp // window_size, window_size, c)
    windows = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, c)
    return windows, (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window_size: int, pad_hw: tuple[int, int], hw: tuple[int, int]
) -> torch.Tensor:
    """Inverse of window_partition: [B * num_windows, ws, ws, C] -> [B, H, W, C] without the padding."""
    hp, wp = pad_hw
    h, w = hw
    b = windows.shape[0] // (hp * wp // window_size // window_size)
    x = windows.reshape(b, hp // window_size, wp // window_size, window_size, window_size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    if hp > h or wp > w:
        x = x[:, :h, :w, :]
    return x


class PatchEmbed(nn.Module):
    """Image [B, 3, H, W] -> tokens [B, H/4, W/4, C] by one 7x7 stride-4 convolution."""

    def __init__(self, kernel_size=(7, 7), stride=(4, 4), padding=(3, 3), in_chans: int = 3, embed_dim: int = 768):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=kernel_size, stride=stride, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)  # B x C x H x W -> B x H x W x C


class HieraMLP(nn.Module):
    """Linear -> GELU -> Linear with Meta's key names (`layers.0`, `layers.1`).

    sam_core.nn.blocks.MLP has the same keys but a fixed ReLU; Hiera's blocks use GELU.
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, hidden_dim), nn.Linear(hidden_dim, dim)])
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[1](self.act(self.layers[0](x)))


def do_pool(x: torch.Tensor, pool: nn.Module | None) -> torch.Tensor:
    """Max-pool a [B, H, W, C] map (channels-last in, channels-last out)."""
    if pool is None:
        return x
    return pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class MultiScaleAttention(nn.Module):
    """Self-attention over a [B, H, W, C] grid whose queries may be pooled (then the output is smaller).

    Arguments:
      dim, dim_out: input and output widths; num_heads: heads; q_pool: the 2x2 max-pool or None.
    """

    def __init__(self, dim: int, dim_out: int, num_heads: int, q_pool: nn.Module | None = None) -> None:
        super().__init__()
        self.dim = dim
        self.dim_out = dim_out
        self.num_heads = num_heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1)  # B x HW x 3 x heads x C_head
        q, k, v = torch.unbind(qkv, 2)
        if self.q_pool is not None:
            q = do_pool(q.reshape(b, h, w, -1), self.q_pool)  # B x H/2 x W/2 x C_out
            h, w = q.shape[1:3]
            q = q.reshape(b, h * w, self.num_heads, -1)
        x = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x.transpose(1, 2).reshape(b, h, w, -1)  # B x heads x HW x C_head -> B x H x W x C_out
        return self.proj(x)


class MultiScaleBlock(nn.Module):
    """One Hiera block: (windowed) attention with optional query pooling, then an MLP; pre-norm residuals.

    Arguments:
      dim, dim_out: widths in and out (they differ at a stage change, where the shortcut is projected
        and pooled too); num_heads: heads; mlp_ratio: MLP width / dim_out;
      q_stride: pooling stride at a stage change, else None; window_size: 0 for global attention.
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        q_stride: tuple[int, int] | None = None,
        window_size: int = 0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.dim_out = dim_out
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.window_size = window_size
        self.q_stride = q_stride
        self.pool = nn.MaxPool2d(kernel_size=q_stride, stride=q_stride, ceil_mode=False) if q_stride else None
        self.attn = MultiScaleAttention(dim, dim_out, num_heads=num_heads, q_pool=self.pool)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = HieraMLP(dim_out, int(dim_out * mlp_ratio))
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, H, W, dim] -> [B, H', W', dim_out] (H' = H / q_stride at a stage change)."""
        shortcut = x
        x = self.norm1(x)
        if self.dim != self.dim_out:
            shortcut = do_pool(self.proj(x), self.pool)

        window_size = self.window_size
        h, w = x.shape[1], x.shape[2]
        if window_size > 0:
            x, pad_hw = window_partition(x, window_size)
        x = self.attn(x)
        if self.q_stride:
            # the queries were pooled: windows and the grid are smaller now
            window_size = self.window_size // self.q_stride[0]
            h, w = shortcut.shape[1:3]
            pad_h = (window_size - h % window_size) % window_size
            pad_w = (window_size - w % window_size) % window_size
            pad_hw = (h + pad_h, w + pad_w)
        if self.window_size > 0:
            x = window_unpartition(x, window_size, pad_hw, (h, w))

        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class Hiera(nn.Module):
    """The Hiera trunk. Defaults are Meta's (base_plus); sam_core.sam2.build names every variant.

    Arguments:
      embed_dim, num_heads: width and heads of stage 1 (each stage multiplies them by dim_mul, head_mul).
      q_pool: number of stage changes that pool queries; q_stride: their stride.
      stages: blocks per stage; window_pos_embed_bkg_spatial_size: size of the learned background map;
      window_spec: window size per stage; global_att_blocks: indices of blocks with global attention.
    Forward returns the output of each stage [B, C_s, H_s, W_s], finest first (stride 4, 8, 16, 32).
    """

    def __init__(
        self,
        embed_dim: int = 96,
        num_heads: int = 1,
        q_pool: int = 3,
        q_stride: tuple[int, int] = (2, 2),
        stages: tuple[int, ...] = (2, 3, 16, 3),
        dim_mul: float = 2.0,
        head_mul: float = 2.0,
        window_pos_embed_bkg_spatial_size: tuple[int, int] = (14, 14),
        window_spec: tuple[int, ...] = (8, 4, 14, 7),
        global_att_blocks: tuple[int, ...] = (12, 16, 20),
    ) -> None:
        super().__init__()
        assert len(stages) == len(window_spec)
        self.window_spec = window_spec
        depth = sum(stages)
        self.q_stride = q_stride
        self.stage_ends = [sum(stages[:i]) - 1 for i in range(1, len(stages) + 1)]
        assert 0 <= q_pool <= len(self.stage_ends[:-1])
        self.q_pool_blocks = [end + 1 for end in self.stage_ends[:-1]][:q_pool]

        self.patch_embed = PatchEmbed(embed_dim=embed_dim)
        self.global_att_blocks = global_att_blocks
        self.window_pos_embed_bkg_spatial_size = window_pos_embed_bkg_spatial_size
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(torch.zeros(1, embed_dim, window_spec[0], window_spec[0]))

        cur_stage = 1
        self.blocks = nn.ModuleList()
        for i in range(depth):
            dim_out = embed_dim
            # The window size lags by one block: a stage's first block still uses the previous stage's.
            window_size = 0 if i in global_att_blocks else self.window_spec[cur_stage - 1]
            if i - 1 in self.stage_ends:
                dim_out = int(embed_dim * dim_mul)
                num_heads = int(num_heads * head_mul)
                cur_stage += 1
            self.blocks.append(
                MultiScaleBlock(
                    dim=embed_dim,
                    dim_out=dim_out,
                    num_heads=num_heads,
                    q_stride=self.q_stride if i in self.q_pool_blocks else None,
                    window_size=window_size,
                )
            )
            embed_dim = dim_out
        self.channel_list = [self.blocks[i].dim_out for i in self.stage_ends[::-1]]  # coarsest first

    def _get_pos_embed(self, hw: tuple[int, int]) -> torch.Tensor:
        """Background map resized to the grid + the window embedding tiled over it -> [1, H, W, C]."""
        pos_embed = F.interpolate(self.pos_embed, size=hw, mode="bicubic")
        reps = [a // b for a, b in zip(pos_embed.shape, self.pos_embed_window.shape, strict=True)]
        pos_embed = pos_embed + self.pos_embed_window.tile(reps)
        return pos_embed.permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: [B, 3, H, W] -> per-stage features [B, C_s, H_s, W_s], stride 4 first."""
        x = self.patch_embed(x)  # B x H/4 x W/4 x C
        x = x + self._get_pos_embed(x.shape[1:3])
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                features = x.permute(0, 3, 1, 2)  # B x H x W x C -> B x C x H x W
                record(f"hiera.stage{len(outputs) + 1}", features)
                outputs.append(features)
        return outputs
