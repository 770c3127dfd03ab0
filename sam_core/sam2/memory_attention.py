"""Memory attention: the current frame's features read the memory bank.

Input: the frame's stride-16 features [HW, B, 256] (+ 0.1 x their sine encoding) and the memory
tokens [M, B, 64]: every memory frame's 64 x HW spatial memory (+ its spatial and temporal encoding)
followed by the object-pointer tokens. Each of the 4 layers (pre-norm, as in the code):
    x = x + SelfAttn_RoPE(LN(x))                          queries = keys = the frame's pixels
    x = x + CrossAttn_RoPE(LN(x), memory + memory_pos)    keys/values projected 64 -> 256 inside
    x = x + Linear(ReLU(Linear(LN(x))))                   2048 hidden
and a final LayerNorm. RoPE rotates every key that has a grid position; the pointer tokens at the end
(num_obj_ptr_tokens of them) are excluded from it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.sam2.transformer import RoPEAttention


class MemoryAttentionLayer(nn.Module):
    """One layer: RoPE self-attention, RoPE cross-attention to memories, FFN.

    Arguments:
      d_model: width (256); dim_feedforward: FFN hidden width (2048); dropout: training dropout;
      self_attention, cross_attention: RoPEAttention modules;
      pos_enc_at_attn / pos_enc_at_cross_attn_queries / _keys: where sine encodings are added (SAM 2.1:
      only to the cross-attention keys; RoPE carries position everywhere else).
    """

    def __init__(
        self,
        d_model: int,
        dim_feedforward: int,
        dropout: float,
        self_attention: RoPEAttention,
        cross_attention: RoPEAttention,
        pos_enc_at_attn: bool = False,
        pos_enc_at_cross_attn_keys: bool = True,
        pos_enc_at_cross_attn_queries: bool = False,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.self_attn = self_attention
        self.cross_attn_image = cross_attention
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.pos_enc_at_attn = pos_enc_at_attn
        self.pos_enc_at_cross_attn_queries = pos_enc_at_cross_attn_queries
        self.pos_enc_at_cross_attn_keys = pos_enc_at_cross_attn_keys

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        pos: torch.Tensor | None,
        query_pos: torch.Tensor | None,
        num_k_exclude_rope: int = 0,
    ) -> torch.Tensor:
        """tgt: [B, HW, 256] frame tokens; memory, pos: [B, M, 64]; query_pos: [B, HW, 256] -> [B, HW, 256]."""
        x = self.norm1(tgt)
        q = k = x + query_pos if self.pos_enc_at_attn else x
        tgt = tgt + self.dropout1(self.self_attn(q, k, v=x))

        x = self.norm2(tgt)
        x = self.cross_attn_image(
            q=x + query_pos if self.pos_enc_at_cross_attn_queries else x,
            k=memory + pos if self.pos_enc_at_cross_attn_keys else memory,
            v=memory,
            num_k_exclude_rope=num_k_exclude_rope,
        )
        tgt = tgt + self.dropout2(x)

        x = self.norm3(tgt)
        x = self.linear2(self.dropout(F.relu(self.linear1(x))))
        return tgt + self.dropout3(x)


class MemoryAttention(nn.Module):
    """A stack of MemoryAttentionLayers (Meta's names: `layers.i`, `norm`).

    Arguments:
      d_model: width; pos_enc_at_input: add 0.1 x the sine encoding to the input;
      layers: the layers (separately parameterised copies); batch_first: layers take [B, N, C].
    """

    def __init__(self, d_model: int, pos_enc_at_input: bool, layers: list[MemoryAttentionLayer]) -> None:
        super().__init__()
        self.d_model = d_model
        self.layers = nn.ModuleList(layers)
        self.num_layers = len(layers)
        self.norm = nn.LayerNorm(d_model)
        self.pos_enc_at_input = pos_enc_at_input
        for i, layer in enumerate(self.layers):
            layer.self_attn.trace_name = f"memory_attention.layer{i}.self_attn"
            layer.cross_attn_image.trace_name = f"memory_attention.layer{i}.cross_attn"

    def forward(
        self,
        curr: torch.Tensor,
        memory: torch.Tensor,
        curr_pos: torch.Tensor,
        memory_pos: torch.Tensor,
        num_obj_ptr_tokens: int = 0,
    ) -> torch.Tensor:
        """curr, curr_pos: [HW, B, 256]; memory, memory_pos: [M, B, 64] (sequence first, as Meta's).

        Returns the memory-conditioned features [HW, B, 256].
        """
        assert curr.shape[1] == memory.shape[1], "Batch size must be the same for curr and memory"
        output = curr
        if self.pos_enc_at_input and curr_pos is not None:
            output = output + 0.1 * curr_pos
        output = output.transpose(0, 1)  # HW x B x C -> B x HW x C
        curr_pos = curr_pos.transpose(0, 1)
        memory = memory.transpose(0, 1)
        memory_pos = memory_pos.transpose(0, 1)
        for layer in self.layers:
            output = layer(output, memory, pos=memory_pos, query_pos=curr_pos, num_k_exclude_rope=num_obj_ptr_tokens)
        return self.norm(output).transpose(0, 1)  # B x HW x C -> HW x B x C
