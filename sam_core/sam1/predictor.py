"""SamPredictor: run the heavy image encoder once per image, then the light decoder once per prompt."""

from __future__ import annotations

import numpy as np
import torch

from sam_core.sam1.sam import Sam
from sam_core.tracing import count, timed
from sam_core.transforms import ResizeLongestSide


class SamPredictor:
    """Stateful wrapper around a (shared, never mutated) Sam model, with Meta's SamPredictor API."""

    def __init__(self, sam_model: Sam) -> None:
        self.model = sam_model
        self.transform = ResizeLongestSide(sam_model.image_encoder.img_size)
        self.last_timings_ms: dict[str, float] = {}
        self.reset_image()

    # ---- image -------------------------------------------------------------------------------
    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """Encode an image: uint8 [H, W, 3] in `image_format` ("RGB" or "BGR")."""
        if image_format not in ("RGB", "BGR"):
            raise ValueError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}.")
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"set_image expects a uint8 array [H, W, 3], got {image.dtype} {image.shape}.")
        if image_format != self.model.image_format:
            image = image[..., ::-1]
        resized = self.transform.apply_image(np.ascontiguousarray(image))
        image_torch = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
        self.set_torch_image(image_torch, image.shape[:2])

    @torch.inference_mode()
    def set_torch_image(self, transformed_image: torch.Tensor, original_image_size: tuple[int, ...]) -> None:
        """Encode an already resized image [1, 3, h, w] (longest side = img_size)."""
        size = self.model.image_encoder.img_size
        if transformed_image.ndim != 4 or transformed_image.shape[1] != 3 or max(transformed_image.shape[2:]) != size:
            raise ValueError(f"set_torch_image expects [1, 3, h, w] with longest side {size}.")
        self.reset_image()
        self.original_size = tuple(int(v) for v in original_image_size)
        self.input_size = tuple(int(v) for v in transformed_image.shape[-2:])
        with timed("image_encoder", self.last_timings_ms, self.device):
            count("image_encoder")
            self.features = self.model.image_encoder(self.model.preprocess(transformed_image.float()))
        self.image_pe = self.model.prompt_encoder.get_dense_pe()
        self.is_image_set = True

    def get_image_embedding(self) -> torch.Tensor:
        """The current image's embedding [1, C, 64, 64]."""
        self._require_image()
        return self.features

    def reset_image(self) -> None:
        self.is_image_set = False
        self.features = None
        self.image_pe = None
        self.original_size = None
        self.input_size = None

    # ---- prompts -----------------------------------------------------------------------------
    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predict masks for prompts given in ORIGINAL image pixels.

        Arguments:
          point_coords: [N, 2] (x, y); point_labels: [N], 1 = foreground, 0 = background.
          box: [4] (x0, y0, x1, y1). mask_input: [1, 256, 256] low-res logits from a previous call.
          multimask_output: 3 masks for ambiguous prompts, else 1. return_logits: unthresholded masks.
        Returns:
          masks [C, H, W] (bool, or float logits), scores [C] (predicted IoU), low_res_logits [C, 256, 256].
        """
        self._require_image()
        coords_torch = labels_torch = box_torch = mask_torch = None
        if point_coords is not None:
            if point_labels is None:
                raise ValueError("point_labels must be given with point_coords.")
            coords = self.transform.apply_coords(np.asarray(point_coords, dtype=float).reshape(-1, 2), self.original_size)
            coords_torch = torch.as_tensor(coords, dtype=torch.float, device=self.device)[None]
            labels_torch = torch.as_tensor(np.asarray(point_labels).reshape(-1), dtype=torch.int, device=self.device)[None]
        if box is not None:
            boxes = self.transform.apply_boxes(np.asarray(box, dtype=float).reshape(-1, 4), self.original_size)
            box_torch = torch.as_tensor(boxes, dtype=torch.float, device=self.device)[:1]
        if mask_input is not None:
            mask_torch = torch.as_tensor(np.asarray(mask_input), dtype=torch.float, device=self.device)[None]
        masks, scores, low_res = self.predict_torch(
            coords_torch, labels_torch, box_torch, mask_torch, multimask_output, return_logits=return_logits
        )
        return masks[0].cpu().numpy(), scores[0].float().cpu().numpy(), low_res[0].float().cpu().numpy()

    @torch.inference_mode()
    def predict_torch(
        self,
        point_coords: torch.Tensor | None,
        point_labels: torch.Tensor | None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batched prediction with prompts already in the RESIZED frame (use self.transform).

        Arguments: point_coords [B, N, 2], point_labels [B, N], boxes [B, 4], mask_input [B, 1, 256, 256].
        Returns: masks [B, C, H, W], iou_predictions [B, C], low_res_logits [B, C, 256, 256].
        """
        low_res, iou_predictions = self.decode_low_res(point_coords, point_labels, boxes, mask_input, multimask_output)
        masks = self.upsample_logits(low_res)
        if not return_logits:
            masks = masks > self.model.mask_threshold
        return masks, iou_predictions, low_res

    @torch.inference_mode()
    def decode_low_res(
        self,
        point_coords: torch.Tensor | None,
        point_labels: torch.Tensor | None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """predict_torch's first half: prompts -> (low_res_logits [B, C, 256, 256], iou_predictions [B, C]).

        Segment-everything decodes hundreds of prompts, drops most by predicted IoU, and upsamples only
        the rest (`upsample_logits`): the same masks as predict_torch, without upsampling the dropped ones.
        """
        self._require_image()
        points = (point_coords, point_labels) if point_coords is not None else None
        timings = self.last_timings_ms
        with timed("prompt_encoder", timings, self.device):
            sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
        with timed("mask_decoder", timings, self.device):
            return self.model.mask_decoder(
                image_embeddings=self.features,
                image_pe=self.image_pe,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask_output,
            )

    @torch.inference_mode()
    def upsample_logits(self, low_res: torch.Tensor) -> torch.Tensor:
        """Low-res logits [B, C, 256, 256] -> logits [B, C, H, W] at the original image size."""
        with timed("postprocess", self.last_timings_ms, self.device):
            return self.model.postprocess_masks(low_res, self.input_size, self.original_size)

    # ---- helpers -----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.model.device

    def _require_image(self) -> None:
        if not self.is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")
