"""SAM 2's mask decoder: SAM 1's, plus an object-score token, high-resolution skips and a stability fallback.

Tokens entering the two-way transformer: [object-score token, IoU token, 4 mask tokens, prompt tokens].
- Object score: the first output token through an MLP -> one logit, "is the object in this frame?"
  (negative = occluded / absent; SAM2Base then sets the masks to NO_OBJ_SCORE).
- Upscaling with high-resolution features: the stride-8 and stride-4 FPN maps, projected by conv_s1
  (256 -> 64) and conv_s0 (256 -> 32) once per image, are added after each transposed convolution:
      up1 = GELU(LN(deconv1(image) + s1))
      up2 = GELU(deconv2(up1) + s0)
- IoU predictions pass a sigmoid (iou_prediction_use_sigmoid).
- Dynamic multimask: asked for one mask, if mask 0 is unstable (IoU of its >+0.05 and >-0.05 regions
  below 0.98), return the multimask output with the highest predicted IoU instead.
"""

from __future__ import annotations

import torch
from torch import nn

from sam_core.nn.blocks import MLP, LayerNorm2d
from sam_core.sam1.transformer import TwoWayTransformer
from sam_core.tracing import record


class MaskDecoder(nn.Module):
    """Predicts masks, IoUs, the output token for the object pointer and an object-score logit.

    Arguments:
      transformer_dim: C (256); transformer: the two-way transformer; num_multimask_outputs: 3;
      activation: upscaling activation; iou_head_depth, iou_head_hidden_dim: IoU MLP;
      use_high_res_features: build conv_s0 / conv_s1; iou_prediction_use_sigmoid: squash IoUs;
      dynamic_multimask_via_stability (+ _delta, _thresh): the single-mask fallback;
      pred_obj_scores: add the object-score token; pred_obj_scores_mlp: MLP (else Linear) head;
      use_multimask_token_for_obj_ptr: with multimask output, pointers come from tokens 1-3.
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
        use_high_res_features: bool = False,
        iou_prediction_use_sigmoid: bool = False,
        dynamic_multimask_via_stability: bool = False,
        dynamic_multimask_stability_delta: float = 0.05,
        dynamic_multimask_stability_thresh: float = 0.98,
        pred_obj_scores: bool = False,
        pred_obj_scores_mlp: bool = False,
        use_multimask_token_for_obj_ptr: bool = False,
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.pred_obj_scores = pred_obj_scores
        if pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, transformer_dim)
        self.use_multimask_token_for_obj_ptr = use_multimask_token_for_obj_ptr

        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            activation(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            activation(),
        )
        self.use_high_res_features = use_high_res_features
        if use_high_res_features:
            self.conv_s0 = nn.Conv2d(transformer_dim, transformer_dim // 8, kernel_size=1, stride=1)
            self.conv_s1 = nn.Conv2d(transformer_dim, transformer_dim // 4, kernel_size=1, stride=1)
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth,
            sigmoid_output=iou_prediction_use_sigmoid,
        )
        if pred_obj_scores:
            self.pred_obj_score_head = (
                MLP(transformer_dim, transformer_dim, 1, 3) if pred_obj_scores_mlp else nn.Linear(transformer_dim, 1)
            )
        self.dynamic_multimask_via_stability = dynamic_multimask_via_stability
        self.dynamic_multimask_stability_delta = dynamic_multimask_stability_delta
        self.dynamic_multimask_stability_thresh = dynamic_multimask_stability_thresh

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        repeat_image: bool,
        high_res_features: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Arguments:
          image_embeddings: [B or 1, C, 64, 64] (memory-conditioned in video); image_pe: [1, C, 64, 64];
          sparse_prompt_embeddings: [B, N, C]; dense_prompt_embeddings: [B, C, 64, 64];
          multimask_output: 3 masks (tokens 1-3) or 1; repeat_image: one image shared by B prompt sets;
          high_res_features: [conv_s0 features [B, C/8, 256, 256], conv_s1 features [B, C/4, 128, 128]].
        Returns:
          masks [B, 3 or 1, 256, 256] logits, iou_pred [B, 3 or 1], sam_tokens_out [B, 1 or 3, C]
          (for the object pointer), object_score_logits [B, 1].
        """
        masks, iou_pred, mask_tokens_out, object_score_logits = self.predict_masks(
            image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings,
            repeat_image, high_res_features,
        )
        if multimask_output:
            masks, iou_pred = masks[:, 1:], iou_pred[:, 1:]
        elif self.dynamic_multimask_via_stability and not self.training:
            masks, iou_pred = self._dynamic_multimask_via_stability(masks, iou_pred)
        else:
            masks, iou_pred = masks[:, 0:1], iou_pred[:, 0:1]
        # Tracking was trained on single-mask tokens, so the pointer always comes from token 0 unless
        # multimask tokens are configured for it.
        if multimask_output and self.use_multimask_token_for_obj_ptr:
            sam_tokens_out = mask_tokens_out[:, 1:]
        else:
            sam_tokens_out = mask_tokens_out[:, 0:1]
        return masks, iou_pred, sam_tokens_out, object_score_logits

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        repeat_image: bool,
        high_res_features: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """All 4 masks [B, 4, 256, 256], 4 IoUs, the 4 mask tokens [B, 4, C], object score [B, 1]."""
        first = 1 if self.pred_obj_scores else 0  # index of the IoU token
        output_tokens = [self.iou_token.weight, self.mask_tokens.weight]
        if self.pred_obj_scores:
            output_tokens.insert(0, self.obj_score_token.weight)
        batch = sparse_prompt_embeddings.shape[0]
        output_tokens = torch.cat(output_tokens, dim=0).unsqueeze(0).expand(batch, -1, -1)
        tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)  # B x (6 + N_prompt) x C
        record("sam2_decoder.tokens_in", tokens)

        if repeat_image:
            src = torch.repeat_interleave(image_embeddings, batch, dim=0)
        else:
            assert image_embeddings.shape[0] == batch
            src = image_embeddings
        src = src + dense_prompt_embeddings
        assert image_pe.shape[0] == 1, "image_pe should have size 1 in batch dim (from get_dense_pe())"
        pos_src = torch.repeat_interleave(image_pe, batch, dim=0)
        b, c, h, w = src.shape

        hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, first, :]
        mask_tokens_out = hs[:, first + 1 : first + 1 + self.num_mask_tokens, :]

        src = src.transpose(1, 2).reshape(b, c, h, w)  # B x HW x C -> B x C x H x W
        if not self.use_high_res_features:
            upscaled = self.output_upscaling(src)
        else:
            deconv1, ln1, act1, deconv2, act2 = self.output_upscaling
            feat_s0, feat_s1 = high_res_features
            upscaled = act1(ln1(deconv1(src) + feat_s1))  # B x C/4 x 2H x 2W
            upscaled = act2(deconv2(upscaled) + feat_s0)  # B x C/8 x 4H x 4W

        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1
        )  # B x 4 x C/8
        b, c8, uh, uw = upscaled.shape
        masks = (hyper_in @ upscaled.reshape(b, c8, uh * uw)).reshape(b, -1, uh, uw)  # B x 4 x 4H x 4W
        iou_pred = self.iou_prediction_head(iou_token_out)
        if self.pred_obj_scores:
            object_score_logits = self.pred_obj_score_head(hs[:, 0, :])  # B x 1
        else:
            object_score_logits = 10.0 * iou_pred.new_ones(iou_pred.shape[0], 1)  # "present": sigmoid(10) ~ 1
        record("sam2_decoder.low_res_logits_all", masks)
        record("sam2_decoder.iou_pred_all", iou_pred)
        record("sam2_decoder.object_score_logits", object_score_logits)
        return masks, iou_pred, mask_tokens_out, object_score_logits

    def _get_stability_scores(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """IoU of the regions above +delta and above -delta, per mask: [B, M, H, W] -> [B, M]."""
        mask_logits = mask_logits.flatten(-2)
        delta = self.dynamic_multimask_stability_delta
        area_i = torch.sum(mask_logits > delta, dim=-1).float()
        area_u = torch.sum(mask_logits > -delta, dim=-1).float()
        return torch.where(area_u > 0, area_i / area_u, 1.0)

    def _dynamic_multimask_via_stability(
        self, all_mask_logits: torch.Tensor, all_iou_scores: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask 0 if stable, else the multimask output with the best predicted IoU -> [B, 1, H, W], [B, 1]."""
        multimask_logits = all_mask_logits[:, 1:]
        multimask_iou_scores = all_iou_scores[:, 1:]
        best = torch.argmax(multimask_iou_scores, dim=-1)
        rows = torch.arange(multimask_iou_scores.shape[0], device=all_iou_scores.device)
        best_logits = multimask_logits[rows, best].unsqueeze(1)
        best_iou = multimask_iou_scores[rows, best].unsqueeze(1)
        single_logits = all_mask_logits[:, 0:1]
        single_iou = all_iou_scores[:, 0:1]
        is_stable = self._get_stability_scores(single_logits) >= self.dynamic_multimask_stability_thresh
        mask_logits_out = torch.where(is_stable[..., None, None].expand_as(single_logits), single_logits, best_logits)
        iou_scores_out = torch.where(is_stable.expand_as(single_iou), single_iou, best_iou)
        return mask_logits_out, iou_scores_out
