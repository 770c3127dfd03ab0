r"""The segmentation head: a pixel decoder over the fused features, one mask per query, a semantic map.

The fused 72 x 72 tokens first read the prompt once more (a residual cross-attention). They replace
the 1x level of the FPN; the pixel decoder then walks up to the 4x level (288 x 288),

    f <- ReLU(GroupNorm(Conv3x3(f_finer + upsample_nearest(f))))       (3 stages here: 72 -> 144 -> 288)

and a 1x1 convolution gives per-pixel instance embeddings E. Query q's mask logits are the dot
product of MLP(q) with E at every pixel; `semantic_seg` is one more 1x1 convolution of the pixel
features (a single "any instance of the concept" map).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam_core import tracing
from sam_core.sam3.common import MLP


class PixelDecoder(nn.Module):
    """FPN top-down path. List of [B, C, h_i, w_i] (finest first) -> [B, C, h_0, w_0]."""

    def __init__(self, hidden_dim: int, num_upsampling_stages: int) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(nn.Conv2d(hidden_dim, hidden_dim, 3, 1, 1)
                                         for _ in range(num_upsampling_stages))
        self.norms = nn.ModuleList(nn.GroupNorm(8, hidden_dim) for _ in range(num_upsampling_stages))
        self.out_dim = hidden_dim

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = feats[-1]
        for i, finer in enumerate(feats[:-1][::-1]):
            x = finer + F.interpolate(x, size=finer.shape[-2:], mode="nearest")
            x = F.relu(self.norms[i](self.conv_layers[i](x)))
        return x


class MaskPredictor(nn.Module):
    """mask[b, q] = MLP(query[b, q]) · E[b] at every pixel."""

    def __init__(self, hidden_dim: int, mask_dim: int) -> None:
        super().__init__()
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    def forward(self, queries: torch.Tensor, pixel_embed: torch.Tensor) -> torch.Tensor:
        """[B, Q, C] queries, [B, C, H, W] embeddings -> [B, Q, H, W] mask logits."""
        return torch.einsum("bqc,bchw->bqhw", self.mask_embed(queries), pixel_embed)


class UniversalSegmentationHead(nn.Module):
    """Instance masks for the decoder's queries plus a semantic map.

    Arguments:
      hidden_dim: 256; upsampling_stages: 3.
    """

    def __init__(self, hidden_dim: int, upsampling_stages: int, num_heads: int) -> None:
        super().__init__()
        self.pixel_decoder = PixelDecoder(hidden_dim, upsampling_stages)
        self.mask_predictor = MaskPredictor(hidden_dim, hidden_dim)
        self.cross_attend_prompt = nn.MultiheadAttention(hidden_dim, num_heads)
        self.cross_attn_norm = nn.LayerNorm(hidden_dim)
        self.semantic_seg_head = nn.Conv2d(hidden_dim, 1, kernel_size=1)
        self.instance_seg_head = nn.Conv2d(hidden_dim, hidden_dim, kernel_size=1)

    def forward(self, backbone_fpn: list[torch.Tensor], queries: torch.Tensor, encoder_tokens: torch.Tensor,
                prompt: torch.Tensor, prompt_mask: torch.Tensor) -> dict:
        """
        Arguments:
          backbone_fpn: [B, C, h, w] maps at 4x, 2x, 1x (the last is replaced by the fused tokens).
          queries: [B, Q, C] last-layer decoder queries; encoder_tokens: [HW, B, C].
          prompt, prompt_mask: [P, B, C], [B, P].
        Returns:
          {"pred_masks": [B, Q, 4h, 4w] logits, "semantic_seg": [B, 1, 4h, 4w]}.
        """
        read = self.cross_attend_prompt(self.cross_attn_norm(encoder_tokens), prompt, prompt,
                                        key_padding_mask=prompt_mask, need_weights=False)[0]
        encoder_tokens = read + encoder_tokens
        coarsest = backbone_fpn[-1]
        fused_map = encoder_tokens.permute(1, 2, 0).reshape(-1, *coarsest.shape[1:])  # B x C x h x w
        pixel_embed = self.pixel_decoder([*backbone_fpn[:-1], fused_map])
        instance_embeds = self.instance_seg_head(pixel_embed)
        masks = self.mask_predictor(queries, instance_embeds)
        tracing.record("sam3.segmentation.pixel_embed", pixel_embed)
        return {"pred_masks": masks, "semantic_seg": self.semantic_seg_head(pixel_embed)}


class DotProductScoring(nn.Module):
    r"""Query logits: $s_q = \mathrm{clamp}(\langle W_h h_q, W_p \bar p \rangle / \sqrt{d}, \pm 12)$ with
    $\bar p$ the mean of the (MLP-refined) valid prompt tokens."""

    def __init__(self, d_model: int, d_proj: int, dim_feedforward: int, clamp_max: float = 12.0) -> None:
        super().__init__()
        self.prompt_mlp = MLP(d_model, dim_feedforward, d_model, 2, residual=True, out_norm=nn.LayerNorm(d_model))
        self.prompt_proj = nn.Linear(d_model, d_proj)
        self.hs_proj = nn.Linear(d_model, d_proj)
        self.scale = d_proj**-0.5
        self.clamp_max = clamp_max

    def forward(self, hs: torch.Tensor, prompt: torch.Tensor, prompt_mask: torch.Tensor) -> torch.Tensor:
        """hs [L, B, Q, C], prompt [P, B, C], prompt_mask [B, P] -> logits [L, B, Q, 1]."""
        prompt = self.prompt_mlp(prompt)
        valid = (~prompt_mask).float().permute(1, 0)[..., None]  # P x B x 1
        pooled = (prompt * valid).sum(dim=0) / valid.sum(dim=0).clamp(min=1.0)  # B x C
        scores = torch.matmul(self.hs_proj(hs), self.prompt_proj(pooled).unsqueeze(-1)) * self.scale
        return scores.clamp(min=-self.clamp_max, max=self.clamp_max)
