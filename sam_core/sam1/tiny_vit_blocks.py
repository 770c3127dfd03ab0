"""Building blocks of TinyViT, MobileSAM's image encoder (assembled in `tiny_vit.py`).

Every module and attribute name here is the one MobileSAM uses (`c`/`bn`, `conv1..3`, `attn.qkv`,
`attention_biases`, `local_conv`, `mlp.norm`, ...), so `mobile_sam.pt` loads with no renaming.

Layouts: the convolutional parts work on [B, C, H, W]; the attention stages keep a channels-last
grid [B, H, W, C] so that LayerNorm and Linear act on the last axis and windows are plain reshapes.
(MobileSAM passes flattened tokens [B, H*W, C] plus a stored resolution; the numbers are the same.)
"""

from __future__ import annotations

import torch
import torch.utils.checkpoint
from torch import nn

from sam_core.nn.attention import SoftmaxAttention
from sam_core.nn.windows import window_partition, window_unpartition


class DropPath(nn.Module):
    """Stochastic depth: during training, drop a whole residual branch per sample with probability p.

    MobileSAM uses p = 0 (so this is the identity); it is here for training the encoder from scratch.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, ...] -> [B, ...]
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep_prob = 1.0 - self.drop_prob
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep_prob)
        return x * keep / keep_prob  # rescale so the expected value is unchanged


class ConvBN(nn.Module):
    """Conv2d without bias followed by BatchNorm2d (MobileSAM's `Conv2d_BN`; keys `c.*`, `bn.*`).

    bn_weight_init: initial BatchNorm scale; 0 makes a residual branch start as the identity.
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bn_weight_init: float = 1.0,
    ) -> None:
        super().__init__()
        self.c = nn.Conv2d(in_chans, out_chans, kernel_size, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chans)
        nn.init.constant_(self.bn.weight, bn_weight_init)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, H, W] -> [B, C_out, H', W']
        return self.bn(self.c(x))


class ConvStem(nn.Module):
    """Patch embedding: two 3x3 stride-2 ConvBNs with GELU between. [B, 3, H, W] -> [B, D, H/4, W/4].

    Stored as `seq` (indices 0 and 2 hold weights, 1 is the GELU) to match MobileSAM's `PatchEmbed`.
    """

    def __init__(self, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            ConvBN(in_chans, embed_dim // 2, kernel_size=3, stride=2, padding=1),
            nn.GELU(),
            ConvBN(embed_dim // 2, embed_dim, kernel_size=3, stride=2, padding=1),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.seq(image)


class MBConv(nn.Module):
    """MobileNetV2 inverted residual: 1x1 expand -> 3x3 depthwise -> 1x1 project, plus the input.

    out = GELU(x + BN(conv1x1(GELU(BN(dwconv3x3(GELU(BN(conv1x1(x)))))))))  [B, C, H, W] -> same
    """

    def __init__(self, chans: int, expand_ratio: float = 4.0, drop_path: float = 0.0) -> None:
        super().__init__()
        hidden = int(chans * expand_ratio)
        self.conv1 = ConvBN(chans, hidden, kernel_size=1)
        self.act1 = nn.GELU()
        self.conv2 = ConvBN(hidden, hidden, kernel_size=3, padding=1, groups=hidden)
        self.act2 = nn.GELU()
        self.conv3 = ConvBN(hidden, chans, kernel_size=1, bn_weight_init=0.0)
        self.act3 = nn.GELU()
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.act3(x + self.drop_path(self.conv3(branch)))


class PatchMerging(nn.Module):
    """Downsample between stages: 1x1 conv -> 3x3 depthwise conv (stride 2 or 1) -> 1x1 conv.

    Input [B, C, H, W] (after the conv stage) or a grid [B, H, W, C] (after an attention stage);
    output a channels-last grid [B, H/stride, W/stride, C_out].
    MobileSAM uses stride 1 in the last merge (it tests `out_dim in (320, 448, 576)`, the last widths of
    TinyViT-5M/11M/21M) so that a 1024 image ends at a 64x64 grid, the size SAM's decoder expects.
    """

    def __init__(self, dim: int, out_dim: int, stride: int = 2) -> None:
        super().__init__()
        self.act = nn.GELU()
        self.conv1 = ConvBN(dim, out_dim, kernel_size=1)
        self.conv2 = ConvBN(out_dim, out_dim, kernel_size=3, stride=stride, padding=1, groups=out_dim)
        self.conv3 = ConvBN(out_dim, out_dim, kernel_size=1)

    def forward(self, x: torch.Tensor, channels_last: bool) -> torch.Tensor:
        if channels_last:
            x = x.permute(0, 3, 1, 2)  # BxHxWxC -> BxCxHxW
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return self.conv3(x).permute(0, 2, 3, 1)  # BxC'xH'xW' -> BxH'xW'xC'


class ConvStage(nn.Module):
    """Stage 0: `depth` MBConv blocks at full stem resolution, then a PatchMerging.

    [B, C, H, W] -> [B, H/2, W/2, C_out] (channels-last, ready for the attention stages).
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        out_dim: int,
        expand_ratio: float = 4.0,
        drop_path: list[float] | None = None,
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        drop_path = drop_path or [0.0] * depth
        self.blocks = nn.ModuleList(MBConv(dim, expand_ratio, drop_path[i]) for i in range(depth))
        self.downsample = PatchMerging(dim, out_dim, stride=2)
        self.use_checkpoint = use_checkpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = _run(block, x, self.use_checkpoint and self.training)
        return self.downsample(x, channels_last=False)


class TokenMLP(nn.Module):
    """Pre-norm feed-forward: LayerNorm -> Linear -> GELU -> Linear (MobileSAM's `Mlp`). [..., C] -> same."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.act = nn.GELU()
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.fc1(self.norm(x))))
        return self.drop(self.fc2(x))


class WindowAttention(SoftmaxAttention):
    """Pre-norm multi-head self-attention inside one square window, with a learned position bias.

        attention = softmax(Q K^T / sqrt(d) + B[h, |dy|, |dx|]) V

    B is one learned number per head for each distance (|dy|, |dx|) between two tokens of the window
    (LeViT-style): `attention_biases` [heads, window*window] holds the numbers, and the buffer
    `attention_bias_idxs` [N, N] (N = window*window, not saved in checkpoints) says which number each
    query-key pair uses: idx = |dy| * window + |dx|, the same numbering as MobileSAM's
    first-appearance order.
    The qkv projection is laid out per head as [q | k | v] (not [all q | all k | all v] as in SAM's ViT).

    Arguments:
      dim: token width C. num_heads: heads (head width d = C / heads). window_size: window side.
    The fused kernel is the default (use_fused=True); the explicit path computes MobileSAM's
    (Q K^T) * scale + B step by step (`SoftmaxAttention.attend`).
    """

    def __init__(self, dim: int, num_heads: int, window_size: int) -> None:
        super().__init__(use_fused=True)
        assert dim % num_heads == 0, "num_heads must divide the token width."
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, window_size * window_size))
        rows, cols = torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
        rows, cols = rows.flatten(), cols.flatten()  # position of each of the N window tokens
        offset_idx = (rows[:, None] - rows[None]).abs() * window_size + (cols[:, None] - cols[None]).abs()
        self.register_buffer("attention_bias_idxs", offset_idx, persistent=False)  # N x N

    def position_bias(self) -> torch.Tensor:
        """The additive bias for every query-key pair: [heads, N, N]."""
        return self.attention_biases[:, self.attention_bias_idxs]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # [B_windows, N, C] -> [B_windows, N, C]
        b, n, c = tokens.shape
        qkv = self.qkv(self.norm(tokens)).view(b, n, self.num_heads, 3, self.head_dim)
        q, k, v = qkv.permute(3, 0, 2, 1, 4).unbind(0)  # each B x heads x N x d
        bias = self.position_bias().to(q.dtype)  # heads x N x N, broadcast over windows
        out = self.attend(q, k, v, bias=bias, scale=self.scale)
        out = out.transpose(1, 2).reshape(b, n, c)  # B x heads x N x d -> B x N x C
        return self.proj(out)


class TinyViTBlock(nn.Module):
    """x = x + WindowAttention(x); x = local 3x3 depthwise ConvBN(x); x = x + MLP(x).  [B, H, W, C] -> same.

    The depthwise conv (no residual around it) mixes neighbouring windows, which never see each other
    in attention. LayerNorms sit inside `attn` and `mlp` (keys `attn.norm`, `mlp.norm`).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        drop: float = 0.0,
        drop_path: float = 0.0,
        local_conv_size: int = 3,
    ) -> None:
        super().__init__()
        self.window_size = window_size
        self.attn = WindowAttention(dim, num_heads, window_size)
        self.drop_path = DropPath(drop_path)
        self.mlp = TokenMLP(dim, int(dim * mlp_ratio), drop=drop)
        self.local_conv = ConvBN(
            dim, dim, kernel_size=local_conv_size, padding=local_conv_size // 2, groups=dim
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w, c = x.shape[1:]
        win = self.window_size
        # Padding is zeros *before* the attention's LayerNorm, so padded positions become ordinary keys
        # (equal to the norm's bias), exactly as in MobileSAM; window_unpartition cuts them off again.
        windows, padded_hw = window_partition(x, win)  # B*nW x win x win x C
        attended = self.attn(windows.view(-1, win * win, c)).view(-1, win, win, c)
        attended = window_unpartition(attended, win, padded_hw, (h, w))  # B x H x W x C
        x = x + self.drop_path(attended)
        x = self.local_conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # via BxCxHxW for the conv
        return x + self.drop_path(self.mlp(x))


class AttentionStage(nn.Module):
    """Stages 1-3: `depth` TinyViTBlocks, then (except in the last stage) a PatchMerging.

    [B, H, W, C] -> [B, H/s, W/s, C_out]  (s = merge_stride; no merge: C_out = C, s = 1)
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float = 4.0,
        drop: float = 0.0,
        drop_path: list[float] | None = None,
        local_conv_size: int = 3,
        out_dim: int | None = None,
        merge_stride: int = 2,
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        drop_path = drop_path or [0.0] * depth
        self.blocks = nn.ModuleList(
            TinyViTBlock(dim, num_heads, window_size, mlp_ratio, drop, drop_path[i], local_conv_size)
            for i in range(depth)
        )
        self.downsample = PatchMerging(dim, out_dim, merge_stride) if out_dim is not None else None
        self.use_checkpoint = use_checkpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = _run(block, x, self.use_checkpoint and self.training)
        return x if self.downsample is None else self.downsample(x, channels_last=True)


def _run(block: nn.Module, x: torch.Tensor, checkpointed: bool) -> torch.Tensor:
    """Run a block, optionally with activation checkpointing (saves memory when training)."""
    if checkpointed:
        return torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
    return block(x)
