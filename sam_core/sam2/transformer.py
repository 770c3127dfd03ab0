"""Attention blocks of SAM 2: the two-way transformer (reused from SAM 1) and RoPE attention.

The mask decoder's two-way transformer is SAM 1's (sam_core.sam1.transformer), with one difference in
Meta's SAM 2 code: each layer's token MLP is an `MLP` with `layers.0` / `layers.1` keys instead of
SAM 1's `MLPBlock` (`lin1` / `lin2`). Same computation (Linear -> ReLU -> Linear), other names.

RoPE attention (memory attention): queries and keys are rotated by their 2-D grid position before
softmax(q k^T / sqrt(d)) v, so the score between a query and a memory pixel depends on their offset.
Keys come from 64-channel memories (kv_in_dim = 64) and are projected to the 256-wide attention.
Object-pointer tokens at the end of the keys have no grid position and are not rotated.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.nn.attention import set_fused_attention
from sam_core.nn.blocks import MLP
from sam_core.sam1.transformer import TwoWayTransformer
from sam_core.sam2.position_encoding import apply_rotary_enc, compute_axial_cis
from sam_core.tracing import record, wants


def build_two_way_transformer(depth: int, embedding_dim: int, num_heads: int, mlp_dim: int) -> TwoWayTransformer:
    """SAM 1's TwoWayTransformer with SAM 2's token-MLP key names (`mlp.layers.{0,1}`), ReLU as in both.

    Its attentions take the fused kernel (F.scaled_dot_product_attention), as Meta's SAM 2 code does
    (SAM 1's default is the explicit softmax); a trace still switches them to the explicit path.
    """
    transformer = TwoWayTransformer(depth=depth, embedding_dim=embedding_dim, num_heads=num_heads, mlp_dim=mlp_dim)
    for layer in transformer.layers:
        layer.mlp = MLP(embedding_dim, mlp_dim, embedding_dim, num_layers=2)
    set_fused_attention(transformer, True)
    return transformer


class RoPEAttention(nn.Module):
    """Multi-head attention with axial 2-D rotary position encoding on queries and keys.

    Arguments:
      embedding_dim: query width (256); num_heads: heads (1 in SAM 2.1's memory attention);
      downsample_rate: internal width divisor; dropout: attention dropout (training only);
      kv_in_dim: width of keys and values before projection (64 for memories, None = embedding_dim);
      rope_theta: RoPE frequency base; rope_k_repeat: keys are several frames of the query grid;
      feat_sizes: (w, h) of the query grid the rotations are precomputed for (recomputed if it differs).
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        downsample_rate: int = 1,
        dropout: float = 0.0,
        kv_in_dim: int | None = None,
        rope_theta: float = 10000.0,
        rope_k_repeat: bool = False,
        feat_sizes: tuple[int, int] = (64, 64),
    ) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.kv_in_dim = kv_in_dim if kv_in_dim is not None else embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        assert self.internal_dim % num_heads == 0, "num_heads must divide embedding_dim."
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(self.kv_in_dim, self.internal_dim)
        self.v_proj = nn.Linear(self.kv_in_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)
        self.dropout_p = dropout
        self.rope_theta = rope_theta
        self.rope_k_repeat = rope_k_repeat
        self.head_dim = self.internal_dim // num_heads
        # Rotations are a function of the grid only: computed here, rebuilt when the grid changes
        # (a plain attribute, not a buffer: Meta's checkpoints do not hold it).
        self.freqs_cis = compute_axial_cis(self.head_dim, feat_sizes[0], feat_sizes[1], rope_theta)
        self.trace_name: str | None = None
        self.use_fused = True  # Meta's path; the explicit one is used when tracing (a test: same result)

    def _separate_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)  # B x heads x N x C_head

    def _freqs_for(self, num_queries: int, device: torch.device) -> torch.Tensor:
        if self.freqs_cis.shape[0] != num_queries:
            side = int(math.sqrt(num_queries))  # a square grid, as in Meta's code
            self.freqs_cis = compute_axial_cis(self.head_dim, side, side, self.rope_theta)
        if self.freqs_cis.device != device:
            self.freqs_cis = self.freqs_cis.to(device)
        return self.freqs_cis

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_k_exclude_rope: int = 0, explicit: bool = False
    ) -> torch.Tensor:
        """q: [B, Nq, C]; k, v: [B, Nk, kv_in_dim]; the last num_k_exclude_rope keys are not rotated.

        Returns [B, Nq, C]. With a trace that records trace_name (or explicit=True) the weights
        softmax(q k^T / sqrt(d)) [B, heads, Nq, Nk] are computed step by step and recorded under trace_name.
        A trace that records only `trace_name.queries` / `trace_name.keys` keeps the fused kernel and gets the
        rotated q and k, from which `attention_rows` recomputes just the rows it needs (much cheaper).
        """
        q = self._separate_heads(self.q_proj(q))
        k = self._separate_heads(self.k_proj(k))
        v = self._separate_heads(self.v_proj(v))
        if q.shape[-2] != k.shape[-2]:
            assert self.rope_k_repeat, "keys longer than queries need rope_k_repeat"
        freqs_cis = self._freqs_for(q.shape[-2], q.device)
        num_k_rope = k.shape[-2] - num_k_exclude_rope
        q, k_rope = apply_rotary_enc(q, k[:, :, :num_k_rope], freqs_cis, repeat_freqs_k=self.rope_k_repeat)
        k = torch.cat([k_rope, k[:, :, num_k_rope:]], dim=2)
        if self.trace_name is not None:  # the rotated queries and keys: any rows of the weights, recomputed later
            record(f"{self.trace_name}.queries", q)  # [B, heads, Nq, C_head]
            record(f"{self.trace_name}.keys", k)  # [B, heads, Nk, C_head]
        dropout_p = self.dropout_p if self.training else 0.0
        if explicit or not self.use_fused or wants(self.trace_name):
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # B x heads x Nq x Nk
            weights = torch.softmax(scores, dim=-1)
            if self.trace_name is not None:
                record(self.trace_name, weights)
            out = F.dropout(weights, dropout_p) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        b, h, n, c = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * c))  # B x Nq x C_internal -> B x Nq x C


def attention_rows(queries: torch.Tensor, keys: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) for the chosen query rows only, from a trace's `.queries` / `.keys`.

    queries [B, heads, Nq, C]; keys [B, heads, Nk, C]; rows: bool [Nq] or indices. Returns [B, heads, R, Nk],
    the same numbers as those rows of the explicit weights.
    """
    picked = queries[:, :, rows]
    return torch.softmax(picked @ keys.transpose(-2, -1) / math.sqrt(queries.shape[-1]), dim=-1)
