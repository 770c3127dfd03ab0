"""SAM's prompt encoder: points and boxes -> sparse tokens, a mask -> a dense embedding.

A point (x, y) in input-frame pixels becomes a C-dim token:
    p      = ((x, y) + 0.5) / input_size            # pixel centre, in [0, 1]
    u      = 2 p - 1                                # in [-1, 1]
    angles = 2 pi * (u @ G)                         # G: [2, C/2] random Gaussian, stored in the checkpoint
    pe     = [sin(angles) | cos(angles)]            # C dims (random Fourier features, Tancik et al. 2020)
    token  = pe + type_embedding[label]             # label 1 = foreground, 0 = background
A box is two such tokens (corners, type embeddings 2 and 3). A padding point (label -1: zero encoding +
the "not a point" embedding) is appended when points come without a box. A mask prompt [B,1,256,256]
is downscaled 4x by convolutions to [B,C,64,64] and added to the image embedding; without one, a
learned "no mask" vector is broadcast instead.
"""

from __future__ import annotations

import torch
from torch import nn

from sam_core.nn.blocks import LayerNorm2d
from sam_core.nn.position_encoding import PositionEmbeddingRandom
from sam_core.tracing import record

__all__ = ["PositionEmbeddingRandom", "PromptEncoder"]  # PositionEmbeddingRandom lives in sam_core.nn


class PromptEncoder(nn.Module):
    """Encodes prompts for the mask decoder.

    Arguments:
      embed_dim: token width C (256 in SAM).
      image_embedding_size: (h, w) of the image embedding (64, 64).
      input_image_size: (H, W) of the padded encoder input (1024, 1024).
      mask_in_chans: hidden channels of the mask downscaling convs (16).
      activation: activation in the mask downscaling path (GELU).
    """

    def __init__(
        self,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.input_image_size = input_image_size
        self.image_embedding_size = image_embedding_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)

        # 0: background point, 1: foreground point, 2: box top-left, 3: box bottom-right
        self.num_point_embeddings = 4
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(self.num_point_embeddings))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)

        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            activation(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            activation(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        """Positional encoding of the image-embedding grid, [1, C, h, w]."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """points [B, N, 2] input-frame pixels, labels [B, N] -> tokens [B, N (+1 if pad), C]."""
        points = points + 0.5  # shift to the centre of the pixel
        if pad:
            padding_point = torch.zeros((points.shape[0], 1, 2), device=points.device)
            padding_label = -torch.ones((labels.shape[0], 1), device=labels.device)
            points = torch.cat([points, padding_point], dim=1)
            labels = torch.cat([labels, padding_label], dim=1)
        record("prompt.coords_input", points - 0.5)  # input-frame pixels; the padding point at -0.5
        point_embedding = self.pe_layer.forward_with_coords(points, self.input_image_size, trace_prefix="prompt.")
        record("prompt.point_pe", point_embedding)
        record("prompt.point_labels", labels)

        is_pad = (labels == -1).unsqueeze(-1)
        type_embedding = torch.zeros_like(point_embedding)
        type_embedding = torch.where(is_pad, self.not_a_point_embed.weight, type_embedding)
        for label in (0, 1):
            type_embedding = torch.where(
                (labels == label).unsqueeze(-1), self.point_embeddings[label].weight, type_embedding
            )
        record("prompt.type_embedding", type_embedding)
        point_embedding = torch.where(is_pad, torch.zeros_like(point_embedding), point_embedding)
        return point_embedding + type_embedding

    def _embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        """boxes [B, 4] (x0, y0, x1, y1) input-frame pixels -> two corner tokens [B, 2, C]."""
        boxes = boxes + 0.5  # shift to the centre of the pixel
        coords = boxes.reshape(-1, 2, 2)
        corner_embedding = self.pe_layer.forward_with_coords(coords, self.input_image_size)
        corner_type = torch.cat([self.point_embeddings[2].weight, self.point_embeddings[3].weight], dim=0)
        record("prompt.box_pe", corner_embedding)
        return corner_embedding + corner_type

    def _embed_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """Mask logits [B, 1, 4h, 4w] -> dense embedding [B, C, h, w]."""
        return self.mask_downscaling(masks)

    @staticmethod
    def _get_batch_size(points, boxes, masks) -> int:
        if points is not None:
            return points[0].shape[0]
        if boxes is not None:
            return boxes.shape[0]
        if masks is not None:
            return masks.shape[0]
        return 1

    def _get_device(self) -> torch.device:
        return self.point_embeddings[0].weight.device

    def forward(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Arguments:
          points: (coords [B, N, 2], labels [B, N]) in input-frame pixels, or None.
          boxes: [B, 4] in input-frame pixels, or None.
          masks: [B, 1, 4h, 4w] low-res mask logits from an earlier prediction, or None.
        Returns:
          sparse embeddings [B, N_tokens, C] and dense embeddings [B, C, h, w].
        """
        bs = self._get_batch_size(points, boxes, masks)
        sparse = torch.empty((bs, 0, self.embed_dim), device=self._get_device())
        if points is not None:
            coords, labels = points
            sparse = torch.cat([sparse, self._embed_points(coords, labels, pad=(boxes is None))], dim=1)
        if boxes is not None:
            sparse = torch.cat([sparse, self._embed_boxes(boxes)], dim=1)

        if masks is not None:
            dense = self._embed_masks(masks)
        else:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(bs, -1, h, w)
        record("prompt.sparse_embeddings", sparse)
        record("prompt.dense_embeddings", dense)
        return sparse, dense

