r"""The geometry / exemplar encoder: boxes and points become prompt tokens beside the text tokens.

A box (normalised cx, cy, w, h) becomes the sum of three views of it plus a label embedding:

    token = Linear(box) + Conv7x7(RoIAlign_7x7(LN(image), box)) + Linear(sine(cx, cy), h, w) + label_embed[l]

(l = 1 positive exemplar, 0 negative). Points are encoded the same way (a grid-sample instead of
RoIAlign). Meta's code then always appends one learned CLS token — also when there is no box at all,
so a text-only prompt carries this one geometry token too — projects and normalises, and runs three
layers that self-attend among the geometry tokens and cross-attend to the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sam_core import tracing
from sam_core.sam3.common import PositionEmbeddingSine, box_cxcywh_to_xyxy, concat_padded_sequences
from sam_core.sam3.fusion_encoder import TransformerEncoderLayer
from sam_core.sam3.roi_align import roi_align


@dataclass
class GeometricPrompt:
    """Boxes and points of a batch, sequence first (Meta's `Prompt`).

    boxes: [N, B, 4] normalised cx, cy, w, h; box_labels: [N, B] (1 positive, 0 negative);
    box_mask: [B, N] True = padding. points: [M, B, 2] normalised x, y; point_labels, point_mask alike.
    """

    boxes: torch.Tensor
    box_labels: torch.Tensor
    box_mask: torch.Tensor
    points: torch.Tensor
    point_labels: torch.Tensor
    point_mask: torch.Tensor

    @classmethod
    def empty(cls, batch: int = 1, device: torch.device | str = "cpu") -> GeometricPrompt:
        """No boxes and no points (what a text-only prompt passes)."""
        return cls(torch.zeros(0, batch, 4, device=device), torch.ones(0, batch, dtype=torch.long, device=device),
                   torch.zeros(batch, 0, dtype=torch.bool, device=device), torch.zeros(0, batch, 2, device=device),
                   torch.ones(0, batch, dtype=torch.long, device=device),
                   torch.zeros(batch, 0, dtype=torch.bool, device=device))

    def append_boxes(self, boxes: torch.Tensor, labels: torch.Tensor) -> None:
        """Add [K, B, 4] boxes with [K, B] labels (bool or 0/1) after the existing valid ones."""
        mask = torch.zeros(boxes.shape[1], boxes.shape[0], dtype=torch.bool, device=boxes.device)
        labels = labels.long()
        merged_labels, _ = concat_padded_sequences(self.box_labels[..., None], self.box_mask, labels[..., None], mask)
        self.box_labels = merged_labels[..., 0]
        self.boxes, self.box_mask = concat_padded_sequences(self.boxes, self.box_mask, boxes, mask)


class SequenceGeometryEncoder(nn.Module):
    """Boxes and points -> geometry tokens [G, B, C] with padding mask [B, G] (G = points + boxes + 1).

    Arguments:
      d_model: 256; num_layers: 3 layers of self + cross attention; roi_size: 7.
    """

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int, num_layers: int, roi_size: int = 7) -> None:
        super().__init__()
        self.d_model = d_model
        self.roi_size = roi_size
        self.pos_enc = PositionEmbeddingSine(d_model)
        self.label_embed = nn.Embedding(2, d_model)
        self.cls_embed = nn.Embedding(1, d_model)
        self.points_direct_project = nn.Linear(2, d_model)
        self.points_pool_project = nn.Linear(d_model, d_model)
        self.points_pos_enc_project = nn.Linear(d_model, d_model)
        self.boxes_direct_project = nn.Linear(4, d_model)
        self.boxes_pool_project = nn.Conv2d(d_model, d_model, roi_size)
        self.boxes_pos_enc_project = nn.Linear(d_model + 2, d_model)
        self.final_proj = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.img_pre_norm = nn.LayerNorm(d_model)
        self.encode = nn.ModuleList(
            TransformerEncoderLayer(d_model, num_heads, dim_feedforward, batch_first=False,
                                    pos_enc_at_attn=False, pos_enc_at_cross_attn_keys=True)
            for _ in range(num_layers))
        self.encode_norm = nn.LayerNorm(d_model)
        # False after loading a transformers checkpoint: it has no point-exemplar weights.
        self.accepts_points = True

    def _encode_points(self, points: torch.Tensor, labels: torch.Tensor, feature_map: torch.Tensor) -> torch.Tensor:
        """[M, B, 2] -> [M, B, C]: direct projection + sampled feature + position encoding + label."""
        n_points, batch = points.shape[:2]
        if n_points == 0:  # grid_sample on an empty grid crashes on MPS (seed 004, section 5.8)
            return points.new_zeros(0, batch, self.d_model)
        embed = self.points_direct_project(points)
        grid = points.transpose(0, 1).unsqueeze(2) * 2 - 1  # B x M x 1 x 2 in [-1, 1]
        sampled = F.grid_sample(feature_map, grid, align_corners=False)  # B x C x M x 1
        embed = embed + self.points_pool_project(sampled.squeeze(-1).permute(2, 0, 1))
        enc_x, enc_y = self.pos_enc.encode_xy(points[..., 0].flatten(), points[..., 1].flatten())
        width = enc_x.shape[-1]
        enc = torch.cat([enc_x.view(n_points, batch, width), enc_y.view(n_points, batch, width)], -1)  # x first
        embed = embed + self.points_pos_enc_project(enc)
        return embed + self.label_embed(labels.long())

    def _encode_boxes(self, boxes: torch.Tensor, labels: torch.Tensor, feature_map: torch.Tensor) -> torch.Tensor:
        """[N, B, 4] -> [N, B, C]: direct projection + RoIAlign'ed feature + position encoding + label."""
        n_boxes, batch = boxes.shape[:2]
        embed = self.boxes_direct_project(boxes)
        height, width = feature_map.shape[-2:]
        scale = torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
        boxes_xyxy = box_cxcywh_to_xyxy(boxes) * scale  # in feature-map pixels
        pooled = roi_align(feature_map, list(boxes_xyxy.float().transpose(0, 1).unbind(0)), self.roi_size)
        pooled = self.boxes_pool_project(pooled)  # (B * N) x C x 1 x 1
        embed = embed + pooled.view(batch, n_boxes, self.d_model).transpose(0, 1)
        cx, cy, w, h = boxes.unbind(-1)
        enc = self.pos_enc.encode_boxes(cx.flatten(), cy.flatten(), w.flatten(), h.flatten())
        embed = embed + self.boxes_pos_enc_project(enc.view(n_boxes, batch, enc.shape[-1]))
        return embed + self.label_embed(labels.long())

    def forward(self, prompt: GeometricPrompt, image_tokens: torch.Tensor, image_pos: torch.Tensor,
                feat_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Arguments:
          prompt: the boxes and points.
          image_tokens, image_pos: [HW, B, C] backbone features (72 x 72) and their sine encoding.
          feat_size: (H, W) of that map.
        Returns:
          (geometry tokens [G, B, C], padding mask [B, G]).
        """
        if prompt.points.shape[0] > 0 and not self.accepts_points:
            raise ValueError("these SAM 3 weights (a transformers checkpoint) have no point-exemplar projections; "
                             "use exemplar boxes, or Meta's sam3.pt for point exemplars")
        height, width = feat_size
        batch = image_tokens.shape[1]
        feature_map = self.img_pre_norm(image_tokens).permute(1, 2, 0).reshape(batch, -1, height, width)
        tokens, mask = self._encode_points(prompt.points, prompt.point_labels, feature_map), prompt.point_mask
        box_tokens = self._encode_boxes(prompt.boxes, prompt.box_labels, feature_map)
        tokens, mask = concat_padded_sequences(tokens, mask, box_tokens, prompt.box_mask)
        cls = self.cls_embed.weight.view(1, 1, self.d_model).repeat(1, batch, 1)
        cls_mask = torch.zeros(batch, 1, dtype=mask.dtype, device=mask.device)
        tokens, mask = concat_padded_sequences(tokens, mask, cls, cls_mask)  # Meta always appends the CLS
        tokens = self.norm(self.final_proj(tokens))
        for layer in self.encode:
            tokens = layer(tokens, image_tokens, tgt_key_padding_mask=mask, pos=image_pos)
        tokens = self.encode_norm(tokens)
        tracing.record("sam3.geometry.tokens", tokens)
        return tokens, mask
