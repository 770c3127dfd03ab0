"""Segment everything: a grid of single-point prompts, filtered, de-duplicated (Meta's SamAutomaticMaskGenerator).

For each crop of the image (the whole image, plus 2^i x 2^i crops for layers i = 1..crop_n_layers):

1. encode the crop once; prompt every grid point alone (one foreground click), 3 masks per point,
   points_per_batch points at a time;
2. keep masks whose predicted IoU > pred_iou_thresh and whose stability score
   |logits > +offset| / |logits > -offset| >= stability_score_thresh;
3. drop masks whose box touches a crop edge that is not an image edge (cut by the crop);
4. box NMS inside the crop (score = predicted IoU), then between crops (score = 1 / crop area:
   smaller crops, i.e. more detail, win);
5. optionally fill small holes and delete small islands (< min_mask_region_area px), preferring
   masks that needed no cleaning in a last NMS.

The same order, thresholds and tie rules as Meta's `segment_anything/automatic_mask_generator.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sam_core.amg_utils import (
    MaskData,
    area_from_rle,
    batch_iterator,
    batched_mask_to_box,
    batched_nms,
    box_area,
    box_xyxy_to_xywh,
    build_all_layer_point_grids,
    calculate_stability_score,
    coco_encode_rle,
    generate_crop_boxes,
    is_box_near_crop_edge,
    mask_to_rle_pytorch,
    remove_small_regions,
    rle_to_mask,
    uncrop_boxes_xyxy,
    uncrop_masks,
    uncrop_points,
)
from sam_core.sam1.predictor import SamPredictor
from sam_core.sam1.sam import Sam

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")

# progress(done, total): point batches decoded so far and in all, over every crop.
ProgressCallback = Callable[[int, int], None]

# Meta's points_per_batch (64) suits a GPU. On a CPU smaller batches are faster: the decoder's per-prompt
# copies of the image tokens ([batch, 1024, 128] for the nano model) then stay in cache. Measured on this
# project's 2-core CPU, nano, 256 px street scene, 16 x 16 grid (`python -m benchmarks.bench_amg`):
# 64 -> 1.96-2.04 s, 32 -> 1.29-1.35 s, 16 -> 1.07-1.28 s; the masks are the same.
CPU_POINTS_PER_BATCH = 16


def points_per_batch_for(device: torch.device | str) -> int:
    """The points_per_batch to use on `device`: 16 on a CPU, Meta's 64 on an accelerator."""
    return CPU_POINTS_PER_BATCH if torch.device(device).type == "cpu" else 64


class SamAutomaticMaskGenerator:
    def __init__(
        self,
        model: Sam | SamPredictor,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
    ) -> None:
        """Arguments (Meta's names and defaults, chosen by Meta for SAM ViT-H):
          model: a Sam (wrapped in a SamPredictor here), or a predictor with SamPredictor's interface
            (set_image, reset_image, transform.apply_coords, predict_torch, device, model.mask_threshold):
            the way other families plug in.
          points_per_side: n for an n x n grid per crop; None when point_grids are given.
          points_per_batch: points decoded together (memory vs speed).
          pred_iou_thresh: keep masks whose predicted IoU is above this.
          stability_score_thresh / stability_score_offset: keep masks whose IoU between the masks at
            logit thresholds +offset and -offset is at least this.
          box_nms_thresh: box IoU above which a lower-scored mask of the same crop is a duplicate.
          crop_n_layers: extra crop layers; layer i has (2^i)^2 crops. crop_nms_thresh: NMS between crops.
          crop_overlap_ratio: overlap of first-layer crops as a fraction of the short side.
          crop_n_points_downscale_factor: layer i uses points_per_side / factor^i points a side.
          point_grids: explicit [N, 2] grids in [0, 1] (x, y), one per crop layer.
          min_mask_region_area: > 0 fills holes and removes islands below this many pixels (scipy).
          output_mode: "binary_mask" (bool [H, W]), "uncompressed_rle", or "coco_rle" (needs pycocotools).
        """
        if (points_per_side is None) == (point_grids is None):
            raise ValueError("Exactly one of points_per_side or point_grids must be provided.")
        if point_grids is not None and len(point_grids) != crop_n_layers + 1:
            raise ValueError(f"point_grids needs one grid per crop layer: {crop_n_layers + 1}, got {len(point_grids)}.")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"Unknown output_mode {output_mode!r}; expected one of {OUTPUT_MODES}.")
        if output_mode == "coco_rle":
            try:
                from pycocotools import mask as _  # noqa: F401
            except ImportError as error:
                raise ImportError(
                    "output_mode='coco_rle' needs pycocotools (pip install pycocotools); "
                    "'uncompressed_rle' gives the same runs without it."
                ) from error
        if points_per_side is not None:
            point_grids = build_all_layer_point_grids(points_per_side, crop_n_layers, crop_n_points_downscale_factor)
        self.point_grids = point_grids
        self.predictor = SamPredictor(model) if isinstance(model, Sam) else model
        self.points_per_batch = points_per_batch
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = crop_n_layers
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.crop_n_points_downscale_factor = crop_n_points_downscale_factor
        self.min_mask_region_area = min_mask_region_area
        self.output_mode = output_mode
        # How many masks each stage let through in the last generate() call (for the lesson's filter view).
        self.last_counts: dict[str, int] = {}

    @torch.no_grad()
    def generate(self, image: np.ndarray, progress: ProgressCallback | None = None) -> list[dict[str, Any]]:
        """Masks for everything in `image` (uint8 [H, W, 3]).

        Returns one record per mask:
          segmentation: bool [H, W], or an RLE dict (output_mode); area: pixels (int);
          bbox: [x, y, w, h] (from the inclusive max corner, as Meta); predicted_iou, stability_score: float;
          point_coords: [[x, y]] the grid point that produced it (image pixels); crop_box: [x, y, w, h].
        progress(done, total) is called after every batch of points.
        """
        self.last_counts = {"grid_points": 0, "predicted": 0, "pred_iou": 0, "stability": 0,
                            "crop_edge": 0, "box_nms": 0}
        data = self._generate_masks(image, progress)
        if self.min_mask_region_area > 0:
            data = self.postprocess_small_regions(
                data, self.min_mask_region_area, max(self.box_nms_thresh, self.crop_nms_thresh)
            )
            self.last_counts["small_regions"] = len(data["rles"])
        if self.output_mode == "coco_rle":
            segmentations = [coco_encode_rle(rle) for rle in data["rles"]]
        elif self.output_mode == "binary_mask":
            segmentations = [rle_to_mask(rle) for rle in data["rles"]]
        else:
            segmentations = data["rles"]
        return [
            {
                "segmentation": segmentations[i],
                "area": area_from_rle(data["rles"][i]),
                "bbox": box_xyxy_to_xywh(data["boxes"][i]).tolist(),
                "predicted_iou": data["iou_preds"][i].item(),
                "point_coords": [data["points"][i].tolist()],
                "stability_score": data["stability_score"][i].item(),
                "crop_box": box_xyxy_to_xywh(data["crop_boxes"][i]).tolist(),
            }
            for i in range(len(segmentations))
        ]

    def _generate_masks(self, image: np.ndarray, progress: ProgressCallback | None) -> MaskData:
        orig_size = image.shape[:2]
        crop_boxes, layer_idxs = generate_crop_boxes(orig_size, self.crop_n_layers, self.crop_overlap_ratio)
        n_points = [len(self.point_grids[layer]) for layer in layer_idxs]
        batches_total = sum(-(-n // self.points_per_batch) for n in n_points)
        batches_done = [0]

        def step() -> None:
            batches_done[0] += 1
            if progress is not None:
                progress(batches_done[0], batches_total)

        data = MaskData()
        for crop_box, layer_idx in zip(crop_boxes, layer_idxs, strict=True):
            data.cat(self._process_crop(image, crop_box, layer_idx, orig_size, step))
        if len(crop_boxes) > 1 and len(data) > 0:
            scores = 1 / box_area(data["crop_boxes"])  # prefer masks from smaller crops
            keep = batched_nms(data["boxes"].float(), scores.to(data["boxes"].device),
                               torch.zeros(len(data["boxes"])), iou_threshold=self.crop_nms_thresh)
            data.filter(keep)
            self.last_counts["crop_nms"] = len(keep)
        data.to_numpy()
        return data

    def _process_crop(
        self, image: np.ndarray, crop_box: list[int], layer_idx: int, orig_size: tuple[int, int],
        step: Callable[[], None],
    ) -> MaskData:
        x0, y0, x1, y1 = crop_box
        cropped = image[y0:y1, x0:x1, :]
        cropped_size = cropped.shape[:2]
        self.predictor.set_image(cropped)
        points_for_image = self.point_grids[layer_idx] * np.array(cropped_size)[None, ::-1]  # (x, y) pixels
        self.last_counts["grid_points"] += len(points_for_image)

        data = MaskData()
        for (points,) in batch_iterator(self.points_per_batch, points_for_image):
            data.cat(self._process_batch(points, cropped_size, crop_box, orig_size))
            step()
        self.predictor.reset_image()

        keep = batched_nms(data["boxes"].float(), data["iou_preds"], torch.zeros(len(data["boxes"])),
                           iou_threshold=self.box_nms_thresh)
        data.filter(keep)
        self.last_counts["box_nms"] += len(keep)
        data["boxes"] = uncrop_boxes_xyxy(data["boxes"], crop_box)
        data["points"] = uncrop_points(data["points"], crop_box)
        data["crop_boxes"] = torch.tensor([crop_box] * len(data["rles"]), dtype=torch.long).reshape(-1, 4)
        return data

    def _process_batch(
        self, points: np.ndarray, im_size: tuple[int, int], crop_box: list[int], orig_size: tuple[int, int]
    ) -> MaskData:
        """points [B, 2] (x, y) in crop pixels -> the masks of this batch that pass the per-mask filters."""
        orig_h, orig_w = orig_size
        transformed = self.predictor.transform.apply_coords(points, im_size)  # [B, 2] in the resized frame
        in_points = torch.as_tensor(transformed, dtype=torch.float, device=self.predictor.device)
        in_labels = torch.ones(in_points.shape[0], dtype=torch.int, device=in_points.device)
        low_res_first = hasattr(self.predictor, "decode_low_res")  # SamPredictor: upsample only the kept masks
        if low_res_first:
            logits, iou_preds = self.predictor.decode_low_res(in_points[:, None, :], in_labels[:, None])
        else:  # another family's predictor: predict_torch's full-size logits
            logits, iou_preds, _ = self.predictor.predict_torch(
                in_points[:, None, :], in_labels[:, None], multimask_output=True, return_logits=True
            )
        # logits [B, 3, h, w] (low-res or full-size), iou_preds [B, 3]
        data = MaskData(
            masks=logits.flatten(0, 1),  # [B*3, h, w] logits
            iou_preds=iou_preds.flatten(0, 1),
            points=torch.as_tensor(points.repeat(logits.shape[1], axis=0)),  # each point once per mask
        )
        del logits
        self.last_counts["predicted"] += len(data["iou_preds"])

        if self.pred_iou_thresh > 0.0:
            data.filter(data["iou_preds"] > self.pred_iou_thresh)
        self.last_counts["pred_iou"] += len(data["iou_preds"])
        if low_res_first:  # the same full-size logits as predict_torch's, for the masks that are left
            data["masks"] = self.predictor.upsample_logits(data["masks"][:, None])[:, 0]
        threshold = self.predictor.model.mask_threshold
        data["stability_score"] = calculate_stability_score(data["masks"], threshold, self.stability_score_offset)
        if self.stability_score_thresh > 0.0:
            data.filter(data["stability_score"] >= self.stability_score_thresh)
        self.last_counts["stability"] += len(data["iou_preds"])

        data["masks"] = data["masks"] > threshold
        data["boxes"] = batched_mask_to_box(data["masks"])
        keep = ~is_box_near_crop_edge(data["boxes"], crop_box, [0, 0, orig_w, orig_h])
        if not torch.all(keep):
            data.filter(keep)
        self.last_counts["crop_edge"] += len(data["iou_preds"])

        data["rles"] = mask_to_rle_pytorch(uncrop_masks(data["masks"], crop_box, orig_h, orig_w))
        del data["masks"]
        return data

    @staticmethod
    def postprocess_small_regions(mask_data: MaskData, min_area: int, nms_thresh: float) -> MaskData:
        """Fill holes and remove islands < min_area px in every mask, then NMS again with score 1 for
        untouched masks and 0 for changed ones (a clean mask beats its cleaned duplicate). In place."""
        if len(mask_data["rles"]) == 0:
            return mask_data
        new_masks, scores = [], []
        for rle in mask_data["rles"]:
            mask = rle_to_mask(rle)
            mask, holes_changed = remove_small_regions(mask, min_area, mode="holes")
            mask, islands_changed = remove_small_regions(mask, min_area, mode="islands")
            new_masks.append(torch.as_tensor(mask)[None])
            scores.append(float(not (holes_changed or islands_changed)))
        masks = torch.cat(new_masks, dim=0)
        boxes = batched_mask_to_box(masks)
        keep = batched_nms(boxes.float(), torch.as_tensor(scores), torch.zeros(len(boxes)), iou_threshold=nms_thresh)
        for i in keep.tolist():
            if scores[i] == 0.0:  # only changed masks get a new RLE and box
                mask_data["rles"][i] = mask_to_rle_pytorch(masks[i][None])[0]
                mask_data["boxes"][i] = boxes[i].numpy() if isinstance(mask_data["boxes"], np.ndarray) else boxes[i]
        mask_data.filter(keep)
        return mask_data
