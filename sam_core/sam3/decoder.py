r"""The DETR-style decoder: 200 object queries and one presence token read the fused image.

Each of the 6 layers (queries [Q, B, C], seq first):

    [p; q] = [p; q] + SelfAttn([p; q] + [0; pos(box)])        presence token p joins the self-attention
    q      = LN(q + TextCrossAttn(q + pos, prompt))            queries read the text + geometry tokens
    q      = LN(q + ImageCrossAttn(q + pos, image + pos_img, bias = RPB(box)))
    q      = LN(q + FFN(q))

pos(box) = MLP(sine(box)) encodes each query's current box. The image cross-attention adds a box
relative-position bias: for every pixel (x, y) the signed log-distances to the box's edges go through
two small MLPs (one per axis) giving one bias per head, so a query looks mostly near its box.
After each layer the box is refined in logit space, box <- σ(σ⁻¹(box) + MLP(LN(q))), and the
presence token gives a logit, MLP(LN(p)), for "is the concept in the image at all".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sam_core import tracing
from sam_core.sam3.common import MLP, box_cxcywh_to_xyxy, inverse_sigmoid
from sam_core.sam3.fusion_encoder import attend


def sine_embed_boxes(boxes: torch.Tensor, d_model: int) -> torch.Tensor:
    """[Q, B, 4] boxes (cx, cy, w, h) -> [Q, B, 2 * d_model]: sine codes of (cy, cx, w, h) (Meta's order)."""
    feats = d_model // 2
    dim_t = torch.arange(feats, dtype=torch.float32, device=boxes.device)
    dim_t = 10000 ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / feats)

    def code(v: torch.Tensor) -> torch.Tensor:
        angles = (v * 2 * math.pi)[:, :, None] / dim_t
        return torch.stack((angles[:, :, 0::2].sin(), angles[:, :, 1::2].cos()), dim=3).flatten(2)

    cx, cy, w, h = boxes.unbind(-1)
    return torch.cat((code(cy), code(cx), code(w), code(h)), dim=2)


class TransformerDecoderLayer(nn.Module):
    """Self-attention (with the presence token), text cross-attention, image cross-attention, FFN."""

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int) -> None:
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(d_model, num_heads)
        self.norm1 = nn.LayerNorm(d_model)
        self.ca_text = nn.MultiheadAttention(d_model, num_heads)
        self.catext_norm = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, num_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(self, queries: torch.Tensor, query_pos: torch.Tensor, presence: torch.Tensor,
                prompt: torch.Tensor, prompt_mask: torch.Tensor, memory: torch.Tensor, memory_pos: torch.Tensor,
                box_bias: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Arguments:
          queries, query_pos: [Q, B, C]; presence: [1, B, C].
          prompt: [P, B, C], prompt_mask: [B, P]; memory, memory_pos: [HW, B, C].
          box_bias: [B * heads, Q, HW] additive attention bias.
        Returns:
          (queries [Q, B, C], presence [1, B, C]).
        """
        tokens = torch.cat([presence, queries], dim=0)  # (1 + Q) x B x C
        pos = torch.cat([torch.zeros_like(presence), query_pos], dim=0)
        q = k = tokens + pos
        tokens = self.norm2(tokens + attend(self.self_attn, q, k, tokens))
        tokens = self.catext_norm(tokens + attend(self.ca_text, tokens + pos, prompt, prompt,
                                                  f"{name}.query_to_prompt", key_padding_mask=prompt_mask))
        bias = torch.cat([torch.zeros_like(box_bias[:, :1, :]), box_bias], dim=1)  # presence row: no bias
        tokens = self.norm1(tokens + attend(self.cross_attn, tokens + pos, memory + memory_pos, memory,
                                            f"{name}.query_to_image", attn_mask=bias))
        tokens = self.norm3(tokens + self.linear2(F.relu(self.linear1(tokens))))
        return tokens[1:], tokens[:1]


class TransformerDecoder(nn.Module):
    """Queries, iterative box refinement and the presence head.

    Arguments:
      d_model, num_heads, dim_feedforward, num_layers: 256, 8, 2048, 6.
      num_queries: 200 learned queries, each with a learned starting box (`reference_points`).
    """

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int, num_layers: int, num_queries: int) -> None:
        super().__init__()
        self.d_model = d_model
        self.num_heads = num_heads
        self.num_queries = num_queries
        self.layers = nn.ModuleList(TransformerDecoderLayer(d_model, num_heads, dim_feedforward)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.bbox_embed = MLP(d_model, d_model, 4, 3)
        self.query_embed = nn.Embedding(num_queries, d_model)
        self.reference_points = nn.Embedding(num_queries, 4)
        self.boxRPB_embed_x = MLP(2, d_model, num_heads, 2)
        self.boxRPB_embed_y = MLP(2, d_model, num_heads, 2)
        self.presence_token = nn.Embedding(1, d_model)
        self.presence_token_head = MLP(d_model, d_model, 1, 3)
        self.presence_token_out_norm = nn.LayerNorm(d_model)
        self.ref_point_head = MLP(2 * d_model, d_model, d_model, 2)

    def box_relative_bias(self, boxes: torch.Tensor, feat_size: tuple[int, int]) -> torch.Tensor:
        """[Q, B, 4] boxes -> [B * heads, Q, H * W] attention bias from log-scaled pixel-to-edge distances."""
        height, width = feat_size
        xyxy = box_cxcywh_to_xyxy(boxes).transpose(0, 1)  # B x Q x 4
        batch, n_queries, _ = xyxy.shape
        coords_y = torch.arange(height, device=boxes.device, dtype=torch.float32) / height
        coords_x = torch.arange(width, device=boxes.device, dtype=torch.float32) / width
        deltas_y = (coords_y.view(1, -1, 1) - xyxy.reshape(-1, 1, 4)[:, :, 1:4:2]).view(batch, n_queries, -1, 2)
        deltas_x = (coords_x.view(1, -1, 1) - xyxy.reshape(-1, 1, 4)[:, :, 0:3:2]).view(batch, n_queries, -1, 2)

        def log_scale(d: torch.Tensor) -> torch.Tensor:  # distances in [-1, 1] -> sign · log2(8|d| + 1) / 3
            d = d * 8
            return torch.sign(d) * torch.log2(torch.abs(d) + 1.0) / math.log2(8)

        bias_x = self.boxRPB_embed_x(log_scale(deltas_x))  # B x Q x W x heads
        bias_y = self.boxRPB_embed_y(log_scale(deltas_y))  # B x Q x H x heads
        bias = bias_y.unsqueeze(3) + bias_x.unsqueeze(2)  # B x Q x H x W x heads
        return bias.flatten(2, 3).permute(0, 3, 1, 2).flatten(0, 1)  # (B * heads) x Q x HW

    def forward(self, memory: torch.Tensor, memory_pos: torch.Tensor, feat_size: tuple[int, int],
                prompt: torch.Tensor, prompt_mask: torch.Tensor) -> dict:
        """
        Arguments:
          memory, memory_pos: [HW, B, C] fused image tokens and their encoding.
          prompt, prompt_mask: [P, B, C] and [B, P] (True = padding).
        Returns:
          {"hs": [L, B, Q, C] normalised queries per layer, "reference_boxes": [L, B, Q, 4] the box each
          layer started from, "presence_logits": [L, B, 1]}.
        """
        batch = memory.shape[1]
        queries = self.query_embed.weight.unsqueeze(1).repeat(1, batch, 1)  # Q x B x C
        boxes = self.reference_points.weight.unsqueeze(1).repeat(1, batch, 1).sigmoid()  # Q x B x 4
        presence = self.presence_token.weight[None].expand(1, batch, -1)
        hs, ref_boxes, presence_logits = [], [boxes], []
        for i, layer in enumerate(self.layers):
            query_pos = self.ref_point_head(sine_embed_boxes(boxes, self.d_model))  # Q x B x C
            bias = self.box_relative_bias(boxes, feat_size)
            queries, presence = layer(queries, query_pos, presence, prompt, prompt_mask, memory, memory_pos,
                                      bias, name=f"sam3.decoder.layer{i}")
            normed = self.norm(queries)
            refined = (self.bbox_embed(normed) + inverse_sigmoid(boxes)).sigmoid()
            boxes = refined.detach()
            if i != len(self.layers) - 1:
                ref_boxes.append(refined)
            hs.append(normed)
            # Meta clamps this logit with a non-in-place clamp whose result is dropped: it is unclamped.
            presence_logits.append(self.presence_token_head(self.presence_token_out_norm(presence)).squeeze(-1))
            tracing.record(f"sam3.decoder.layer{i}.boxes", refined.transpose(0, 1))
            tracing.record(f"sam3.decoder.layer{i}.presence_logit", presence_logits[-1].transpose(0, 1))
        return {"hs": torch.stack(hs).transpose(1, 2), "reference_boxes": torch.stack(ref_boxes).transpose(1, 2),
                "presence_logits": torch.stack(presence_logits).transpose(1, 2)}
