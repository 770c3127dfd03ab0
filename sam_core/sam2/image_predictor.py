"""SAM2ImagePredictor: Meta's image API over a SAM2Base — set_image once, predict many times.

set_image: RGB uint8 [H, W, 3] -> [0, 1] -> bilinear (antialiased) resize to 1024 x 1024 (no aspect
ratio kept, unlike SAM 1) -> ImageNet mean/std -> Hiera + FPN; the stride-16 map gets `no_mem_embed`
added (an image is a prompted frame without memory). predict: points / box (as corner points with
labels 2, 3) / a low-res mask -> masks at the image's size, IoU predictions, 256 x 256 logits.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sam_core.device import bf16_autocast
from sam_core.prompts import BOX_BOTTOM_RIGHT, BOX_TOP_LEFT
from sam_core.sam2.sam2_base import SAM2Base

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocess_image(image: np.ndarray | Image.Image, resolution: int) -> torch.Tensor:
    """RGB image (uint8 HWC array or PIL) -> normalised [3, resolution, resolution] float32 tensor.

    The same steps as Meta's SAM2Transforms (torchvision ToTensor, Resize((r, r)) on a tensor, Normalize).
    """
    array = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float() / 255.0  # HWC -> CHW
    tensor = F.interpolate(
        tensor[None], size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True
    )[0]
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (tensor - mean) / std


class SAM2ImagePredictor:
    """Arguments: sam_model: a SAM2Base; mask_threshold: logit threshold of the returned binary masks.

    On CUDA, set_image and predict run under bfloat16 autocast as Meta runs SAM 2 there (set
    ``use_bf16_autocast = False`` to turn it off); predict's outputs are float32 numpy arrays on every device.
    """

    use_bf16_autocast = True

    def __init__(self, sam_model: SAM2Base, mask_threshold: float = 0.0) -> None:
        self.model = sam_model
        self.mask_threshold = mask_threshold
        self.resolution = sam_model.image_size
        self.reset_predictor()

    @property
    def device(self) -> torch.device:
        return self.model.device

    def reset_predictor(self) -> None:
        self._is_image_set = False
        self._features: dict | None = None
        self._orig_hw: list[tuple[int, int]] | None = None

    @torch.no_grad()
    def set_image(self, image: np.ndarray | Image.Image) -> None:
        """Compute the image embedding (and the high-res features) of an RGB image."""
        self.reset_predictor()
        if isinstance(image, Image.Image):
            w, h = image.size
        elif isinstance(image, np.ndarray):
            h, w = image.shape[:2]
        else:
            raise NotImplementedError("Image format not supported: pass an RGB numpy array or a PIL image")
        self._orig_hw = [(h, w)]
        input_image = preprocess_image(image, self.resolution)[None].to(self.device)
        self.set_image_tensor(input_image)

    @torch.no_grad()
    @bf16_autocast
    def set_image_tensor(self, input_image: torch.Tensor) -> None:
        """Embed an already normalised [1, 3, 1024, 1024] tensor (set_image does the preprocessing)."""
        backbone_out = self.model.forward_image(input_image)
        _, vision_feats, _, feat_sizes = self.model._prepare_backbone_features(backbone_out)
        if self.model.directly_add_no_mem_embed:
            vision_feats[-1] = vision_feats[-1] + self.model.no_mem_embed
        feats = [
            feat.permute(1, 2, 0).reshape(1, -1, *size) for feat, size in zip(vision_feats, feat_sizes, strict=True)
        ]  # HW x 1 x C -> 1 x C x H x W, finest first
        self._features = {"image_embed": feats[-1], "high_res_feats": feats[:-1]}
        if self._orig_hw is None:
            self._orig_hw = [tuple(input_image.shape[-2:])]
        self._is_image_set = True

    def get_image_embedding(self) -> torch.Tensor:
        """The stride-16 image embedding [1, 256, 64, 64] of the image set."""
        if not self._is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) to generate an embedding.")
        return self._features["image_embed"]

    def _transform_coords(self, coords: torch.Tensor, normalize: bool) -> torch.Tensor:
        """Pixel coords of the original image (normalize=True) or [0, 1] coords -> input-frame pixels."""
        if normalize:
            h, w = self._orig_hw[0]
            coords = coords.clone()
            coords[..., 0] = coords[..., 0] / w
            coords[..., 1] = coords[..., 1] / h
        return coords * self.resolution

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """
        Arguments:
          point_coords: [N, 2] (x, y) pixels of the original image (or [0, 1] with normalize_coords=False);
          point_labels: [N] 1 foreground / 0 background; box: [4] x0 y0 x1 y1; mask_input: [1, 256, 256]
          logits from an earlier call; multimask_output: 3 masks or 1; return_logits: skip thresholding.
        Returns:
          masks [C, H, W] (bool, or float logits), iou_predictions [C], low_res_masks [C, 256, 256].
        """
        if not self._is_image_set:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")
        device = self.device
        coords = labels = boxes = mask = None
        if point_coords is not None:
            assert point_labels is not None, "point_labels must be supplied if point_coords is supplied."
            coords = self._transform_coords(torch.as_tensor(point_coords, dtype=torch.float, device=device), normalize_coords)
            labels = torch.as_tensor(point_labels, dtype=torch.int, device=device)
            if coords.dim() == 2:
                coords, labels = coords[None], labels[None]
        if box is not None:
            boxes = torch.as_tensor(box, dtype=torch.float, device=device)
            boxes = self._transform_coords(boxes.reshape(-1, 2, 2), normalize_coords)  # B x 2 x 2
        if mask_input is not None:
            mask = torch.as_tensor(mask_input, dtype=torch.float, device=device)
            if mask.dim() == 3:
                mask = mask[None]
        masks, iou_predictions, low_res_masks = self._predict(coords, labels, boxes, mask, multimask_output, return_logits)
        return (
            masks.squeeze(0).float().cpu().numpy() if return_logits else masks.squeeze(0).cpu().numpy(),
            iou_predictions.squeeze(0).float().cpu().numpy(),
            low_res_masks.squeeze(0).float().cpu().numpy(),
        )

    @torch.no_grad()
    @bf16_autocast
    def _predict(
        self,
        point_coords: torch.Tensor | None,
        point_labels: torch.Tensor | None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batched input-frame prompts ([B, N, 2], [B, N], boxes [B, 2, 2], masks [B, 1, 256, 256]) ->
        masks [B, C, H, W], IoUs [B, C], low-res logits [B, C, 256, 256] clamped to +-32."""
        points = (point_coords, point_labels) if point_coords is not None else None
        if boxes is not None:  # a box is two corner points, placed before the clicks
            box_labels = torch.tensor([[BOX_TOP_LEFT, BOX_BOTTOM_RIGHT]], dtype=torch.int, device=boxes.device)
            box_labels = box_labels.repeat(boxes.shape[0], 1)
            if points is not None:
                points = (torch.cat([boxes, points[0]], dim=1), torch.cat([box_labels, points[1]], dim=1))
            else:
                points = (boxes, box_labels)
        sparse, dense = self.model.sam_prompt_encoder(points=points, boxes=None, masks=mask_input)
        batched = points is not None and points[0].shape[0] > 1  # several objects on one image
        low_res_masks, iou_predictions, _, _ = self.model.sam_mask_decoder(
            image_embeddings=self._features["image_embed"],
            image_pe=self.model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=batched,
            high_res_features=self._features["high_res_feats"],
        )
        masks = F.interpolate(low_res_masks.float(), self._orig_hw[0], mode="bilinear", align_corners=False)
        low_res_masks = torch.clamp(low_res_masks, -32.0, 32.0)
        if not return_logits:
            masks = masks > self.mask_threshold
        return masks, iou_predictions, low_res_masks
