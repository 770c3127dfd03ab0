"""SAM's image encoder: a ViT (MAE-pretrained in the paper) with windowed attention and a conv neck.

    image [B, 3, 1024, 1024]
      -> patch embedding (16x16 conv)             [B, 64, 64, D]      D = 768 / 1024 / 1280 (B / L / H)
      -> + absolute position embedding
      -> `depth` blocks: most attend inside 14x14 windows, a few (global_attn_indexes) over all 4096
         tokens; all add decomposed relative-position terms to the attention logits
      -> neck: 1x1 conv -> LayerNorm2d -> 3x3 conv -> LayerNorm2d   [B, 256, 64, 64]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.nn.attention import SoftmaxAttention
from sam_core.nn.blocks import LayerNorm2d, MLPBlock
from sam_core.nn.windows import window_partition, window_unpartition


class ImageEncoderViT(nn.Module):
    """
    Arguments:
      img_size: input side (1024). patch_size: 16. in_chans: 3. embed_dim: D. depth: blocks.
      num_heads: heads per block. mlp_ratio: MLP width / D. out_chans: neck output channels (256).
      qkv_bias: bias in the qkv projection. norm_layer / act_layer: LayerNorm (eps 1e-6) / GELU.
      use_abs_pos: learned absolute position embedding. use_rel_pos: decomposed relative positions.
      rel_pos_zero_init: initialise relative positions to zero. window_size: 14 (0 = global).
      global_attn_indexes: blocks that attend globally.
    """

    def __init__(
        self,
        img_size: int = 1024,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        out_chans: int = 256,
        qkv_bias: bool = True,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
        use_abs_pos: bool = True,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        window_size: int = 0,
        global_attn_indexes: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.img_size = img_size
        grid = img_size // patch_size
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim)) if use_abs_pos else None
        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                norm_layer=norm_layer,
                act_layer=act_layer,
                use_rel_pos=use_rel_pos,
                rel_pos_zero_init=rel_pos_zero_init,
                window_size=0 if i in global_attn_indexes else window_size,
                input_size=(grid, grid),
            )
            for i in range(depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 3, 1024, 1024] -> [B, 256, 64, 64]
        x = self.patch_embed(x)  # B x 64 x 64 x D
        if self.pos_embed is not None:
            x = x + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.neck(x.permute(0, 3, 1, 2))  # BxHxWxD -> BxDxHxW -> neck


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens: [B, 3, H, W] -> [B, H/p, W/p, D]."""

    def __init__(self, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)  # BxDxHxW -> BxHxWxD


class Block(nn.Module):
    """Pre-norm transformer block; attends inside windows when window_size > 0."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        window_size: int = 0,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(
            dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            use_rel_pos=use_rel_pos,
            rel_pos_zero_init=rel_pos_zero_init,
            input_size=input_size if window_size == 0 else (window_size, window_size),
        )
        self.norm2 = norm_layer(dim)
        self.mlp = MLPBlock(embedding_dim=dim, mlp_dim=int(dim * mlp_ratio), act=act_layer)
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H, W, D] -> [B, H, W, D]
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            h, w = x.shape[1], x.shape[2]
            x, padded_hw = window_partition(x, self.window_size)
            x = self.attn(x)
            x = window_unpartition(x, self.window_size, padded_hw, (h, w))
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class Attention(SoftmaxAttention):
    """Multi-head self-attention over a 2-D token grid with decomposed relative-position terms.

    logits[q, k] = (q · k) / sqrt(d) + q · R_h[row(q) - row(k)] + q · R_w[col(q) - col(k)]
    The relative terms are the additive bias of `SoftmaxAttention.attend`; the fused kernel is the
    default (use_fused=True): thousands of tokens per window or image, where it is faster and never
    holds the [HW, HW] matrix.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        use_rel_pos: bool = False,
        rel_pos_zero_init: bool = True,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(use_fused=True)
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            assert input_size is not None, "Relative positions need the token grid size."
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H, W, D] -> same
        b, h, w, _ = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each B x heads x HW x d
        bias = None
        if self.use_rel_pos:
            bias = decomposed_rel_pos_bias(q, self.rel_pos_h, self.rel_pos_w, (h, w), (h, w))
        out = self.attend(q, k, v, bias=bias, scale=self.scale)
        out = out.transpose(1, 2).reshape(b, h, w, -1)  # B x heads x HW x d -> B x H x W x D
        return self.proj(out)


def get_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative-position embeddings for every (query, key) offset along one axis -> [q_size, k_size, d].

    The table is linearly resampled when it was trained for another grid size.
    """
    max_rel_dist = 2 * max(q_size, k_size) - 1
    if rel_pos.shape[0] != max_rel_dist:
        resized = F.interpolate(rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1), size=max_rel_dist, mode="linear")
        rel_pos = resized.reshape(-1, max_rel_dist).permute(1, 0)
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    offsets = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[offsets.long()]


def decomposed_rel_pos_bias(
    q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor, q_hw: tuple[int, int], k_hw: tuple[int, int]
) -> torch.Tensor:
    """Additive attention bias from decomposed relative positions (MViTv2).

    q: [B, heads, q_h * q_w, d] (unscaled queries) -> bias [B, heads, q_h * q_w, k_h * k_w].
    """
    q_h, q_w = q_hw
    k_h, k_w = k_hw
    r_h = get_rel_pos(q_h, k_h, rel_pos_h)  # q_h x k_h x d
    r_w = get_rel_pos(q_w, k_w, rel_pos_w)  # q_w x k_w x d
    b, heads, _, d = q.shape
    r_q = q.reshape(b, heads, q_h, q_w, d)
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, r_h)  # B x heads x q_h x q_w x k_h
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, r_w)  # B x heads x q_h x q_w x k_w
    bias = rel_h[..., :, None] + rel_w[..., None, :]  # B x heads x q_h x q_w x k_h x k_w
    return bias.reshape(b, heads, q_h * q_w, k_h * k_w)
