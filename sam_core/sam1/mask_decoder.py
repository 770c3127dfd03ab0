"""SAM's mask decoder: output tokens + prompt tokens -> two-way transformer -> masks and IoU scores.

Tokens entering the transformer: [IoU token, 4 mask tokens, prompt tokens]. After it, each mask token
goes through its own hypernetwork MLP to a C/8 vector, and mask_k = that vector · every pixel of the
image features upscaled 4x by two transposed convolutions (64x64 -> 256x256). The IoU token goes
through an MLP to 4 predicted IoUs. multimask_output returns masks 1-3, otherwise mask 0.
"""

from __future__ import annotations

import torch
from torch import nn

from sam_core.nn.blocks import MLP, LayerNorm2d
from sam_core.sam1.transformer import TwoWayTransformer
from sam_core.tracing import record


class MaskDecoder(nn.Module):
    """Predicts masks from an image embedding and prompt embeddings.

    Arguments:
      transformer_dim: token width C (256 in SAM).
      transformer: the TwoWayTransformer.
      num_multimask_outputs: masks returned when ambiguous (3); one more token makes the single mask.
      activation: activation of the upscaling path (GELU).
      iou_head_depth, iou_head_hidden_dim: the IoU-prediction MLP.
    """

    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: TwoWayTransformer,
        num_multimask_outputs: int = 3,
        activation: type[nn.Module] = nn.GELU,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.num_mask_tokens = num_multimask_outputs + 1

        self.iou_token = nn.Embedding(1, transformer_dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            activation(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            activation(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth)

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Arguments:
          image_embeddings: [1 or B, C, 64, 64] from the image encoder (1 = shared by all B prompts).
          image_pe: [1, C, 64, 64] dense positional encoding of the embedding grid.
          sparse_prompt_embeddings: [B, N_prompt_tokens, C] point and box tokens.
          dense_prompt_embeddings: [B, C, 64, 64] mask prompt (or the learned no-mask embedding).
          multimask_output: return 3 masks (tokens 1-3) instead of 1 (token 0).
        Returns:
          masks [B, 3 or 1, 256, 256] (logits) and iou_pred [B, 3 or 1].
        """
        masks, iou_pred = self.predict_masks(
            image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings
        )
        selected = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, selected], iou_pred[:, selected]

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All 4 masks [B, 4, 256, 256] and 4 IoU predictions [B, 4]; see forward for the inputs."""
        batch = sparse_prompt_embeddings.shape[0]
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)  # [5, C]
        output_tokens = output_tokens.unsqueeze(0).expand(batch, -1, -1)
        tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)  # B x (5 + N_prompt) x C
        record("decoder.tokens_in", tokens)

        # One image shared by every prompt set (the predictor), or one image per prompt set (training).
        if image_embeddings.shape[0] == batch:
            src = image_embeddings
        else:
            src = torch.repeat_interleave(image_embeddings, batch, dim=0)
        src = src + dense_prompt_embeddings
        pos_src = torch.repeat_interleave(image_pe, batch, dim=0) if image_pe.shape[0] != batch else image_pe
        b, c, h, w = src.shape

        hs, src = self.transformer(src, pos_src, tokens)
        record("decoder.tokens_out", hs)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens, :]

        src = src.transpose(1, 2).reshape(b, c, h, w)  # B x HW x C -> B x C x H x W
        upscaled = self.output_upscaling(src)  # B x C/8 x 4H x 4W
        record("decoder.upscaled_features", upscaled)
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )  # B x 4 x C/8
        record("decoder.hypernetwork_out", hyper_in)
        b, c8, uh, uw = upscaled.shape
        # mask_k(pixel) = hyper_in[k] . upscaled(pixel), as a product over pixel-major features: the
        # upscaling's convolutions return channels-last memory, so this reads it without a copy (and its
        # backward keeps GELU's gradient in the same layout as its input). Upscaling + product, forward and
        # backward for 4 prompt sets on 1 CPU thread: 43-50 ms with the channels-first product, 32-34 ms so.
        pixels = upscaled.permute(0, 2, 3, 1).reshape(b, uh * uw, c8)  # B x 4H*4W x C/8
        masks = (pixels @ hyper_in.transpose(1, 2)).transpose(1, 2).reshape(b, -1, uh, uw)  # B x 4 x 4H x 4W
        iou_pred = self.iou_prediction_head(iou_token_out)  # B x 4
        record("decoder.low_res_logits_all", masks)
        record("decoder.iou_pred_all", iou_pred)
        return masks, iou_pred
