"""SAM 2's prompt encoder: SAM 1's, with boxes given as two labelled points.

SAM 2's predictors pass a box as its corners with labels 2 (top-left) and 3 (bottom-right) among the
points (boxes=None), so `_embed_points` also adds the two corner type embeddings, and a padding point
(label -1) is appended whenever boxes is None — as in Meta's sam2/modeling/sam/prompt_encoder.py.
"""

from __future__ import annotations

import torch

from sam_core.prompts import BOX_BOTTOM_RIGHT, BOX_TOP_LEFT
from sam_core.sam1.prompt_encoder import PromptEncoder as Sam1PromptEncoder


class PromptEncoder(Sam1PromptEncoder):
    """SAM 1's PromptEncoder (same parameters and keys) that also understands box-corner labels 2 and 3."""

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """points [B, N, 2] input-frame pixels, labels [B, N] in {-1, 0, 1, 2, 3} -> [B, N (+1), C]."""
        tokens = super()._embed_points(points, labels, pad)  # labels 2, 3 get the encoding, no type yet
        if pad:
            labels = torch.cat([labels, -torch.ones_like(labels[:, :1])], dim=1)
        for label in (BOX_TOP_LEFT, BOX_BOTTOM_RIGHT):
            tokens = torch.where((labels == label).unsqueeze(-1), tokens + self.point_embeddings[label].weight, tokens)
        return tokens
