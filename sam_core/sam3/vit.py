r"""SAM 3's vision trunk: a plain ViT (ViTDet style) with 2-D rotary position encoding.

The 1008-pixel image is cut into 14-pixel patches (72 x 72 tokens, 1024 wide). An absolute position
embedding, pretrained for 336 pixels (24 x 24 tokens), is *tiled* 3 x 3 over the 72 x 72 grid. Most of
the 32 blocks attend inside 24 x 24 windows; blocks 7, 15, 23 and 31 attend globally. Every block
rotates queries and keys by their 2-D position (RoPE): for head channels paired as complex numbers,

$$q'_{j} = q_{j} \, e^{i\, t\, \omega_j}, \qquad \omega_j = 10000^{-4j/d},$$

with t the token's column for the first quarter of the frequencies and its row for the second
quarter. Global blocks scale positions by 24/72 so that their rotations span the same range as a
window's ("interpolated" RoPE).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sam_core import tracing


def axial_rope_frequencies(head_dim: int, end_x: int, end_y: int, theta: float = 10000.0,
                           scale_pos: float = 1.0) -> torch.Tensor:
    """Complex rotations for an end_x x end_y grid -> [end_x * end_y, head_dim / 2] complex64.

    Token t sits at column t % end_x and row t // end_x (times scale_pos); the first head_dim/4
    entries rotate with the column, the next head_dim/4 with the row.
    """
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 4)[: head_dim // 4].float() / head_dim))
    t = torch.arange(end_x * end_y, dtype=torch.float32)
    t_x = (t % end_x) * scale_pos
    t_y = torch.div(t, end_x, rounding_mode="floor") * scale_pos
    angles_x, angles_y = torch.outer(t_x, freqs), torch.outer(t_y, freqs)
    rot_x = torch.polar(torch.ones_like(angles_x), angles_x)
    rot_y = torch.polar(torch.ones_like(angles_y), angles_y)
    return torch.cat([rot_x, rot_y], dim=-1)


def apply_rope(q: torch.Tensor, k: torch.Tensor, freqs_cis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate [B, heads, N, head_dim] queries and keys by [N, head_dim / 2] complex rotations."""
    q_c = torch.view_as_complex(q.float().reshape(*q.shape[:-1], -1, 2))
    k_c = torch.view_as_complex(k.float().reshape(*k.shape[:-1], -1, 2))
    q_out = torch.view_as_real(q_c * freqs_cis).flatten(3)
    k_out = torch.view_as_real(k_c * freqs_cis).flatten(3)
    return q_out.type_as(q), k_out.type_as(k)


def window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """[B, H, W, C] -> ([B * nWindows, window, window, C], padded (Hp, Wp)); zero-pads to a multiple."""
    b, h, w, c = x.shape
    pad_h, pad_w = (window - h % window) % window, (window - w % window) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window, window, wp // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c), (hp, wp)


def window_unpartition(windows: torch.Tensor, window: int, pad_hw: tuple[int, int],
                       hw: tuple[int, int]) -> torch.Tensor:
    """Inverse of window_partition: [B * nWindows, window, window, C] -> [B, H, W, C]."""
    hp, wp = pad_hw
    h, w = hw
    b = windows.shape[0] // (hp * wp // window // window)
    x = windows.reshape(b, hp // window, wp // window, window, window, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    return x[:, :h, :w, :] if (hp > h or wp > w) else x


class PatchEmbed(nn.Module):
    """Image to patch tokens: a stride-`patch` convolution (no bias in SAM 3). [B,3,H,W] -> [B,h,w,C]."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int, bias: bool = False) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)  # B x C x h x w -> B x h x w x C


class Attention(nn.Module):
    """Multi-head self-attention over a [B, H, W, C] grid with 2-D RoPE on queries and keys.

    Arguments:
      dim, num_heads: token width and heads.
      grid: (H, W) of the tokens this block sees (the window, or the whole image for global blocks).
      rope_scale: position scale (24/72 for global blocks, 1 for windowed ones).
    """

    def __init__(self, dim: int, num_heads: int, grid: tuple[int, int], rope_scale: float,
                 rope_theta: float = 10000.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)
        freqs = axial_rope_frequencies(self.head_dim, grid[0], grid[1], rope_theta, rope_scale)
        self.register_buffer("freqs_cis", freqs)  # persistent: Meta's checkpoint holds it

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H, W, C] -> [B, H, W, C]
        b, h, w, _ = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each B x heads x HW x head_dim
        q, k = apply_rope(q, k, self.freqs_cis)
        x = F.scaled_dot_product_attention(q, k, v)
        x = x.view(b, self.num_heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
        return self.proj(x)


class Mlp(nn.Module):
    """The ViT feed-forward block (timm's Mlp: fc1 -> GELU -> fc2)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block; windowed attention when window_size > 0, global otherwise."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, window_size: int,
                 grid: tuple[int, int], rope_scale: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        attn_grid = grid if window_size == 0 else (window_size, window_size)
        self.attn = Attention(dim, num_heads, attn_grid, rope_scale)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H, W, C] -> [B, H, W, C]
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            hw = (x.shape[1], x.shape[2])
            x, pad_hw = window_partition(x, self.window_size)
        x = self.attn(x)
        if self.window_size > 0:
            x = window_unpartition(x, self.window_size, pad_hw, hw)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """The trunk. [B, 3, S, S] image -> [B, C, S/14, S/14] features of the last global block.

    Arguments:
      img_size, patch_size: 1008 and 14 in SAM 3 (72 x 72 tokens).
      embed_dim, depth, num_heads, mlp_ratio: 1024, 32, 16, 4.625.
      window_size: 24; global_att_blocks: (7, 15, 23, 31).
      pretrain_img_size: 336; the position table has (336/14)^2 + 1 rows (a CLS row that is unused).
    """

    def __init__(self, img_size: int, patch_size: int, embed_dim: int, depth: int, num_heads: int,
                 mlp_ratio: float, window_size: int, global_att_blocks: Sequence[int],
                 pretrain_img_size: int) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(patch_size, 3, embed_dim, bias=False)
        pretrain_tokens = (pretrain_img_size // patch_size) ** 2
        self.pos_embed = nn.Parameter(torch.zeros(1, pretrain_tokens + 1, embed_dim))
        grid = (img_size // patch_size, img_size // patch_size)
        self.full_attn_ids = list(global_att_blocks)
        self.blocks = nn.ModuleList()
        for i in range(depth):
            is_global = i in self.full_attn_ids
            # Meta's "interpolated" RoPE: positions scaled by window/grid in the global blocks.
            rope_scale = window_size / grid[0] if is_global else 1.0
            self.blocks.append(Block(embed_dim, num_heads, mlp_ratio, 0 if is_global else window_size,
                                     grid, rope_scale))
        self.ln_pre = nn.LayerNorm(embed_dim, eps=1e-5)
        self.channel_list = [embed_dim]

    def tiled_pos_embed(self, h: int, w: int) -> torch.Tensor:
        """The pretrained position table (CLS row dropped) tiled over an h x w grid -> [1, h, w, C]."""
        table = self.pos_embed[:, 1:]
        size = int(table.shape[1] ** 0.5)
        grid = table.reshape(1, size, size, -1).permute(0, 3, 1, 2)  # 1 x C x size x size
        if size != h or size != w:
            grid = grid.tile([1, 1, h // size + 1, w // size + 1])[:, :, :h, :w]
        return grid.permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.patch_embed(x)  # B x h x w x C
        x = x + self.tiled_pos_embed(x.shape[1], x.shape[2])
        x = self.ln_pre(x)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == self.full_attn_ids[-1]:
                break
        tracing.record("sam3.vit.tokens", x)
        return [x.permute(0, 3, 1, 2)]  # [B x C x h x w]
