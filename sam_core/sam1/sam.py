"""The Segment Anything model: image encoder + prompt encoder + mask decoder, and its pre/post-processing."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sam_core.sam1.mask_decoder import MaskDecoder
from sam_core.sam1.prompt_encoder import PromptEncoder


class Sam(nn.Module):
    """
    Arguments:
      image_encoder: image -> embedding [B, C, 64, 64]; must have `.img_size`.
      prompt_encoder: PromptEncoder. mask_decoder: MaskDecoder.
      pixel_mean, pixel_std: per-channel normalisation on 0-255 RGB (ImageNet statistics).
    """

    mask_threshold: float = 0.0
    image_format: str = "RGB"

    def __init__(
        self,
        image_encoder: nn.Module,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
        pixel_mean: tuple[float, float, float] = (123.675, 116.28, 103.53),
        pixel_std: tuple[float, float, float] = (58.395, 57.12, 57.375),
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        # Not persistent: official checkpoints do not store them.
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def img_size(self) -> int:
        return self.image_encoder.img_size

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise and zero-pad bottom/right: [B, 3, h, w] 0-255 -> [B, 3, img_size, img_size]."""
        x = (x - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        return F.pad(x, (0, self.img_size - w, 0, self.img_size - h))

    def postprocess_masks(
        self, masks: torch.Tensor, input_size: tuple[int, ...], original_size: tuple[int, ...]
    ) -> torch.Tensor:
        """Low-res logits [B, C, 256, 256] -> [B, C, H, W] at the original image size.

        Upsample to the padded input (img_size), crop the padding away (input_size), resize to the original.
        """
        masks = F.interpolate(masks, (self.img_size, self.img_size), mode="bilinear", align_corners=False)
        masks = masks[..., : input_size[0], : input_size[1]]
        if tuple(masks.shape[-2:]) == tuple(original_size):  # a same-size bilinear resize is the identity
            return masks
        return F.interpolate(masks, tuple(original_size), mode="bilinear", align_corners=False)

    @torch.no_grad()
    def forward(self, batched_input: list[dict[str, Any]], multimask_output: bool) -> list[dict[str, torch.Tensor]]:
        """End-to-end batched prediction, as Meta's Sam.forward.

        Each input dict: "image" [3, H, W] already resized (longest side img_size), "original_size" (H, W),
        optional "point_coords" [B, N, 2], "point_labels" [B, N], "boxes" [B, 4], "mask_inputs" [B, 1, 256, 256]
        (all in the resized frame). Each output dict: "masks" [B, C, H, W] bool, "iou_predictions" [B, C],
        "low_res_logits" [B, C, 256, 256].
        """
        input_images = torch.stack([self.preprocess(x["image"]) for x in batched_input], dim=0)
        image_embeddings = self.image_encoder(input_images)
        outputs = []
        for record, embedding in zip(batched_input, image_embeddings, strict=True):
            points = (record["point_coords"], record["point_labels"]) if "point_coords" in record else None
            sparse, dense = self.prompt_encoder(
                points=points, boxes=record.get("boxes"), masks=record.get("mask_inputs")
            )
            low_res, iou_pred = self.mask_decoder(
                image_embeddings=embedding.unsqueeze(0),
                image_pe=self.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask_output,
            )
            masks = self.postprocess_masks(low_res, record["image"].shape[-2:], record["original_size"])
            outputs.append(
                {"masks": masks > self.mask_threshold, "iou_predictions": iou_pred, "low_res_logits": low_res}
            )
        return outputs
