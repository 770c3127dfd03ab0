"""The lesson plan's pseudocode, quoted verbatim (../shared/seeds/000_b9bf69d00edd7de8.txt, "Revision --
Depth Rework", sections 7g and 8g), so the pages can show it beside the code that really runs.

These are quotations, not lesson numbers: their sizes (256, 4096, 3 mask tokens + 1 IoU token) are the
plan's and are shown labelled as such; the pages set them beside shapes read from a live trace.
Imports no Streamlit.
"""

PLAN_SOURCE = "lesson plan, Revision -- Depth Rework"

MASK_DECODER_PSEUDOCODE = """\
class MaskDecoder(nn.Module):
    def forward(self, image_embedding, prompt_tokens):
        # image_embedding: [1, 256, 64, 64]
        # prompt_tokens: [1, N_prompt, 256]  (N_prompt = 1 for point, 2 for box)

        # Concatenate prompt tokens with learned output tokens
        output_tokens = self.mask_tokens.weight    # [4, 256] (3 mask + 1 IoU)
        tokens = torch.cat([prompt_tokens, output_tokens], dim=1)  # [1, N_prompt+4, 256]

        # Flatten image embedding for attention
        image_tokens = image_embedding.flatten(2).permute(0, 2, 1)  # [1, 4096, 256]

        # Two decoder layers
        for layer in self.layers:
            # Step 1: Self-attention among tokens
            tokens = layer.self_attn(q=tokens, k=tokens, v=tokens)

            # Step 2: Token-to-image cross-attention
            tokens = layer.cross_attn_token_to_image(
                q=tokens, k=image_tokens, v=image_tokens
            )

            # Step 3: Image-to-token cross-attention
            image_tokens = layer.cross_attn_image_to_token(
                q=image_tokens, k=tokens, v=tokens
            )

        # Extract output tokens
        mask_tokens = tokens[:, -4:-1, :]    # [1, 3, 256] -- 3 mask tokens
        iou_token = tokens[:, -1:, :]        # [1, 1, 256] -- IoU token

        # Generate masks via dot product with upsampled image features
        upsampled = self.upsample(image_tokens)  # [1, 256, 256, 256] via transposed conv
        # Each mask token produces one mask
        masks = torch.einsum('bmc,bcwh->bmwh',
            self.mask_mlp(mask_tokens),          # [1, 3, 256]
            upsampled                            # [1, 256, 256, 256]
        )                                        # [1, 3, 256, 256]

        # Predict IoU scores
        iou_scores = self.iou_head(iou_token)    # [1, 3]

        return masks, iou_scores
"""

LOSS_PSEUDOCODE = """\
# SAM loss computation
def compute_loss(pred_masks, pred_ious, gt_mask):
    # pred_masks: [3, H, W] -- 3 candidate masks
    # pred_ious: [3] -- predicted IoU for each mask
    # gt_mask: [H, W] -- ground truth binary mask

    losses = []
    actual_ious = []
    for i in range(3):
        # Focal loss (per-pixel, focuses on hard examples)
        p_t = pred_masks[i].sigmoid()
        focal = -alpha * (1 - p_t)**gamma * F.binary_cross_entropy_with_logits(
            pred_masks[i], gt_mask, reduction='none'
        )

        # Dice loss (mask-level overlap)
        intersection = (p_t * gt_mask).sum()
        dice = 1 - (2 * intersection + 1) / (p_t.sum() + gt_mask.sum() + 1)

        losses.append(20.0 * focal.mean() + 1.0 * dice)

        # Actual IoU for IoU prediction training
        pred_binary = (p_t > 0.5).float()
        intersection = (pred_binary * gt_mask).sum()
        union = pred_binary.sum() + gt_mask.sum() - intersection
        actual_ious.append(intersection / (union + 1e-6))

    # Minimum loss assignment: backprop through best mask only
    losses = torch.stack(losses)
    best_mask_idx = losses.argmin()
    mask_loss = losses[best_mask_idx]

    # IoU prediction loss
    actual_ious = torch.stack(actual_ious)
    iou_loss = F.mse_loss(pred_ious, actual_ious)

    return mask_loss + iou_loss
"""
