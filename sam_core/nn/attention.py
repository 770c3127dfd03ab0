"""Scaled dot-product attention, written once, with ONE switch between the step-by-step and the fused path.

    attention(Q, K, V) = softmax(Q K^T * scale + bias) V          scale = 1 / sqrt(d) by default

Every attention in sam_core (the two-way transformer's `Attention`, the ViT's relative-position
`Attention`, TinyViT's `WindowAttention`) keeps its own projections — their weights are laid out as in
Meta's and MobileSAM's checkpoints — and calls `SoftmaxAttention.attend` for the formula above:
  - explicit path: the scores, the softmax and the weighted sum one by one, as the lesson writes them;
    while a trace is active (`sam_core.tracing`) an attention with a `trace_name` takes this path and
    records its weights [B, heads, Nq, Nk];
  - fused path: `torch.nn.functional.scaled_dot_product_attention`, the same numbers up to float
    rounding (tests/test_tracing.py checks it), faster and without the [Nq, Nk] matrix in memory.
`use_fused` is the switch; `set_fused_attention(model, on)` flips it for every attention in a model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.tracing import record, wants


class SoftmaxAttention(nn.Module):
    """Base class of sam_core's attention modules: the kernel choice and the traced weights.

    Attributes:
      use_fused: the fused kernel when True, the explicit softmax when False (subclasses pick the default
        that matches their reference implementation).
      trace_name: name under which a trace records this module's attention weights (None: never
        recorded, and tracing does not change the path; set by the owner, e.g. "decoder.layer0.self_attn").
    """

    def __init__(self, use_fused: bool) -> None:
        super().__init__()
        self.use_fused = use_fused
        self.trace_name: str | None = None

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        bias: torch.Tensor | None = None,
        scale: float | None = None,
    ) -> torch.Tensor:
        """softmax(q k^T * scale + bias) v.

        Arguments:
          q: [B, heads, Nq, d]; k, v: [B, heads, Nk, d].
          bias: additive logits broadcastable to [B, heads, Nq, Nk] (relative positions), or None.
          scale: multiplies the dot products; None: they are divided by sqrt(d) (Meta's decoder writes it
            so; the explicit path then gives its numbers bit for bit).
        Returns:
          [B, heads, Nq, d].
        """
        recording = wants(self.trace_name)
        if self.use_fused and not recording:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)
        logits = q @ k.transpose(-2, -1)  # B x heads x Nq x Nk
        logits = logits / math.sqrt(q.shape[-1]) if scale is None else logits * scale
        if bias is not None:
            logits = logits + bias
        weights = logits.softmax(dim=-1)  # each row sums to 1 over the keys
        if recording:
            record(self.trace_name, weights)
        return weights @ v


def set_fused_attention(model: nn.Module, on: bool) -> None:
    """Switch every SoftmaxAttention inside `model` to the fused kernel (on) or the explicit softmax (off)."""
    for module in model.modules():
        if isinstance(module, SoftmaxAttention):
            module.use_fused = on
