"""The fusion encoder: image tokens attend to themselves, then to the prompt (text + geometry) tokens.

Six pre-norm layers over the 72 x 72 = 5184 image tokens:

    x = x + SelfAttn(q = k = LN1(x) + pos, v = LN1(x))
    x = x + CrossAttn(q = LN2(x), k = v = prompt)        # padding tokens of the prompt masked out
    x = x + FFN(LN3(x))                                   # 256 -> 2048 -> 256, ReLU

The same layer class (with positions on the cross-attention keys instead) encodes the geometry
prompt in geometry_encoder.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_core import tracing


def attend(attn: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
           trace_name: str | None = None, **kwargs) -> torch.Tensor:
    """Run `attn`; while a trace records `trace_name`, also record its per-head weights."""
    if tracing.wants(trace_name):
        out, weights = attn(query, key, value, need_weights=True, average_attn_weights=False, **kwargs)
        tracing.record(trace_name, weights)
        return out
    return attn(query, key, value, need_weights=False, **kwargs)[0]


class TransformerEncoderLayer(nn.Module):
    """Pre-norm self-attention, cross-attention and FFN (Meta's `TransformerEncoderLayer`, pre_norm=True).

    Arguments:
      d_model, num_heads, dim_feedforward: 256, 8, 2048.
      batch_first: layout of the tensors given to forward ([B, L, C] if True, else [L, B, C]).
      pos_enc_at_attn: add `query_pos` to the self-attention queries and keys (fusion encoder).
      pos_enc_at_cross_attn_keys: add `pos` to the cross-attention keys (geometry encoder).
    """

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int, batch_first: bool,
                 pos_enc_at_attn: bool, pos_enc_at_cross_attn_keys: bool) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, num_heads, batch_first=batch_first)
        self.cross_attn_image = nn.MultiheadAttention(d_model, num_heads, batch_first=batch_first)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.pos_enc_at_attn = pos_enc_at_attn
        self.pos_enc_at_cross_attn_keys = pos_enc_at_cross_attn_keys

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, tgt_key_padding_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None, pos: torch.Tensor | None = None,
                query_pos: torch.Tensor | None = None) -> torch.Tensor:
        """tgt: the tokens being encoded; memory: what they cross-attend to; masks [B, L], True = padding."""
        normed = self.norm1(tgt)
        q = k = normed + query_pos if self.pos_enc_at_attn else normed
        tgt = tgt + attend(self.self_attn, q, k, normed, key_padding_mask=tgt_key_padding_mask)
        normed = self.norm2(tgt)
        key = memory + pos if self.pos_enc_at_cross_attn_keys else memory
        tgt = tgt + attend(self.cross_attn_image, normed, key, memory, key_padding_mask=memory_key_padding_mask)
        return tgt + self.linear2(F.relu(self.linear1(self.norm3(tgt))))


class TransformerEncoderFusion(nn.Module):
    """Six fusion layers. Image tokens [HW, B, C] (seq first) in, [HW, B, C] out.

    Arguments:
      d_model, num_heads, dim_feedforward, num_layers: 256, 8, 2048, 6.
    """

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(d_model, num_heads, dim_feedforward, batch_first=True,
                                    pos_enc_at_attn=True, pos_enc_at_cross_attn_keys=False)
            for _ in range(num_layers))

    def forward(self, image_tokens: torch.Tensor, image_pos: torch.Tensor, prompt: torch.Tensor,
                prompt_key_padding_mask: torch.Tensor) -> dict:
        """
        Arguments:
          image_tokens, image_pos: [HW, B, C] backbone features and their sine encoding.
          prompt: [P, B, C] text + geometry tokens; prompt_key_padding_mask: [B, P], True = padding.
        Returns:
          {"memory": [HW, B, C] fused image tokens, "pos_embed": [HW, B, C]}.
        """
        x = image_tokens.transpose(0, 1)  # B x HW x C
        pos = image_pos.transpose(0, 1)
        prompt_bf = prompt.transpose(0, 1)  # B x P x C
        for i, layer in enumerate(self.layers):
            x = layer(x, prompt_bf, memory_key_padding_mask=prompt_key_padding_mask, query_pos=pos)
            tracing.record(f"sam3.encoder.layer{i}", x)
        return {"memory": x.transpose(0, 1), "pos_embed": image_pos}
