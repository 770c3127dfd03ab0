"""The pieces of the automatic mask generator: point grids, crops, stability, boxes, NMS, RLE, cleanup.

Facts from Meta's `segment_anything/utils/amg.py`, written again without torchvision and OpenCV:

- point grid: n x n points at the CENTRES of an n x n tiling of [0, 1]^2, offset 1/(2n), (x, y) order,
  x varying fastest; layer i of the crops uses int(n / downscale^i) points per side.
- stability score: IoU of the mask thresholded at (threshold + offset) and at (threshold - offset) of
  the same logits; the high-threshold mask lies inside the low one, so IoU = |high| / |low|.
- boxes: XYXY with the max corner INCLUSIVE (the last mask column / row), [0, 0, 0, 0] for an empty mask;
  box areas (x1 - x0) * (y1 - y0) as torchvision's `box_area` computes them on those boxes.
- NMS: greedy, by decreasing score; a box is dropped when its IoU with a kept box exceeds the threshold.
- RLE: uncompressed COCO run-length encoding in column-major (Fortran) order, counts start with a
  background run (0 if the first pixel is foreground).
"""

from __future__ import annotations

import math
from copy import copy, deepcopy
from itertools import product
from typing import Any

import numpy as np
import torch
from scipy import ndimage


class MaskData:
    """Per-mask fields (tensors, arrays or lists of equal length) that are filtered and joined together."""

    def __init__(self, **fields: Any) -> None:
        self._fields: dict[str, Any] = {}
        for key, value in fields.items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(value, (list, np.ndarray, torch.Tensor)):
            raise TypeError(f"MaskData holds lists, numpy arrays and tensors; {key!r} is {type(value)}.")
        self._fields[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __delitem__(self, key: str) -> None:
        del self._fields[key]

    def __contains__(self, key: str) -> bool:
        return key in self._fields

    def __len__(self) -> int:
        return len(next(iter(self._fields.values()))) if self._fields else 0

    def items(self):
        return self._fields.items()

    def filter(self, keep: torch.Tensor) -> None:
        """Keep the rows selected by `keep`: a bool mask [N] or indices [K] (the order of indices is kept)."""
        keep = torch.as_tensor(keep)
        index = torch.nonzero(keep).flatten() if keep.dtype == torch.bool else keep.long()
        for key, value in self._fields.items():
            if isinstance(value, torch.Tensor):
                self._fields[key] = value[index.to(value.device)]
            elif isinstance(value, np.ndarray):
                self._fields[key] = value[index.cpu().numpy()]
            else:
                self._fields[key] = [value[i] for i in index.tolist()]

    def cat(self, other: MaskData) -> None:
        """Append `other`'s rows after this one's, field by field."""
        for key, value in other.items():
            mine = self._fields.get(key)
            if mine is None:  # a shallow copy: the rows are new per batch and never changed in place
                self._fields[key] = value.clone() if isinstance(value, torch.Tensor) else copy(value)
            elif isinstance(value, torch.Tensor):
                self._fields[key] = torch.cat([mine, value], dim=0)
            elif isinstance(value, np.ndarray):
                self._fields[key] = np.concatenate([mine, value], axis=0)
            else:
                self._fields[key] = mine + list(value)

    def to_numpy(self) -> None:
        for key, value in self._fields.items():
            if isinstance(value, torch.Tensor):
                self._fields[key] = value.detach().cpu().numpy()


# ---- prompts and crops -----------------------------------------------------------------------------
def build_point_grid(n_per_side: int) -> np.ndarray:
    """[n^2, 2] (x, y) in [0, 1]: the centres of an n x n tiling, x varying fastest."""
    offset = 1 / (2 * n_per_side)
    side = np.linspace(offset, 1 - offset, n_per_side)
    xs, ys = np.meshgrid(side, side)  # [n, n] each; rows vary y
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def build_all_layer_point_grids(n_per_side: int, n_layers: int, scale_per_layer: int) -> list[np.ndarray]:
    """One grid per crop layer 0..n_layers; layer i has int(n_per_side / scale_per_layer^i) points a side."""
    return [build_point_grid(int(n_per_side / (scale_per_layer**i))) for i in range(n_layers + 1)]


def generate_crop_boxes(
    im_size: tuple[int, int], n_layers: int, overlap_ratio: float
) -> tuple[list[list[int]], list[int]]:
    """Crop boxes XYXY (max EXCLUSIVE, slice bounds) and their layer: the whole image (layer 0), then for
    layer i = 1..n_layers a 2^i x 2^i array of overlapping crops; overlap = overlap_ratio x short side x
    2 / 2^i pixels."""
    im_h, im_w = im_size
    short_side = min(im_h, im_w)
    boxes, layers = [[0, 0, im_w, im_h]], [0]
    for layer in range(1, n_layers + 1):
        n_crops = 2**layer
        overlap = int(overlap_ratio * short_side * (2 / n_crops))
        crop_w = int(math.ceil((overlap * (n_crops - 1) + im_w) / n_crops))
        crop_h = int(math.ceil((overlap * (n_crops - 1) + im_h) / n_crops))
        x0s = [int((crop_w - overlap) * i) for i in range(n_crops)]
        y0s = [int((crop_h - overlap) * i) for i in range(n_crops)]
        for x0, y0 in product(x0s, y0s):  # x outer, y inner: Meta's order
            boxes.append([x0, y0, min(x0 + crop_w, im_w), min(y0 + crop_h, im_h)])
            layers.append(layer)
    return boxes, layers


def batch_iterator(batch_size: int, *arrays):
    """Yield aligned slices of `batch_size` rows of every array (the last one may be shorter)."""
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError("batch_iterator needs arrays of the same length.")
    for start in range(0, n, batch_size):
        yield [a[start : start + batch_size] for a in arrays]


def uncrop_boxes_xyxy(boxes: torch.Tensor, crop_box: list[int]) -> torch.Tensor:
    """Boxes [..., 4] in crop pixels -> image pixels."""
    x0, y0 = crop_box[:2]
    return boxes + torch.tensor([x0, y0, x0, y0], device=boxes.device)


def uncrop_points(points: torch.Tensor, crop_box: list[int]) -> torch.Tensor:
    """Points [..., 2] (x, y) in crop pixels -> image pixels."""
    return points + torch.tensor([crop_box[0], crop_box[1]], device=points.device)


def uncrop_masks(masks: torch.Tensor, crop_box: list[int], orig_h: int, orig_w: int) -> torch.Tensor:
    """Masks [N, h, w] of a crop -> [N, orig_h, orig_w], zero outside the crop."""
    x0, y0, x1, y1 = crop_box
    if (x0, y0, x1, y1) == (0, 0, orig_w, orig_h):
        return masks
    pad_x, pad_y = orig_w - (x1 - x0), orig_h - (y1 - y0)
    return torch.nn.functional.pad(masks, (x0, pad_x - x0, y0, pad_y - y0), value=0)


def is_box_near_crop_edge(
    boxes: torch.Tensor, crop_box: list[int], orig_box: list[int], atol: float = 20.0
) -> torch.Tensor:
    """[N] bool: the box (crop pixels) lies within atol of a crop edge that is not an image edge —
    the mask is probably cut by the crop."""
    crop = torch.as_tensor(crop_box, dtype=torch.float, device=boxes.device)
    orig = torch.as_tensor(orig_box, dtype=torch.float, device=boxes.device)
    boxes = uncrop_boxes_xyxy(boxes, crop_box).float()
    near_crop = torch.isclose(boxes, crop[None], atol=atol, rtol=0)
    near_image = torch.isclose(boxes, orig[None], atol=atol, rtol=0)
    return torch.any(near_crop & ~near_image, dim=1)


# ---- mask quality and boxes --------------------------------------------------------------------------
def calculate_stability_score(logits: torch.Tensor, mask_threshold: float, offset: float) -> torch.Tensor:
    """[..., H, W] logits -> [...] |logits > t + offset| / |logits > t - offset| (the IoU of the two masks)."""
    inner = (logits > (mask_threshold + offset)).sum((-1, -2), dtype=torch.int32)
    outer = (logits > (mask_threshold - offset)).sum((-1, -2), dtype=torch.int32)
    return inner / outer


def batched_mask_to_box(masks: torch.Tensor) -> torch.Tensor:
    """Bool masks [..., H, W] -> XYXY boxes [..., 4] (max corner inclusive); [0, 0, 0, 0] when empty."""
    if masks.numel() == 0:
        return torch.zeros(*masks.shape[:-2], 4, device=masks.device, dtype=torch.long)
    h, w = masks.shape[-2:]
    rows, cols = masks.any(-1), masks.any(-2)  # [..., H], [..., W]: which rows / columns are touched

    def extent(touched: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        coords = torch.arange(length, device=touched.device)
        first = torch.where(touched, coords, length).amin(-1)
        last = torch.where(touched, coords, -1).amax(-1)
        return first, last

    y0, y1 = extent(rows, h)
    x0, x1 = extent(cols, w)
    boxes = torch.stack([x0, y0, x1, y1], dim=-1)
    empty = ~rows.any(-1)
    return boxes * (~empty).unsqueeze(-1)


def box_xyxy_to_xywh(box: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """[4] (x0, y0, x1, y1) -> (x0, y0, x1 - x0, y1 - y0)."""
    out = deepcopy(box)
    out[2] = box[2] - box[0]
    out[3] = box[3] - box[1]
    return out


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """[N, 4] XYXY -> [N] (x1 - x0) * (y1 - y0)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """[N, 4] x [M, 4] XYXY -> [N, M] intersection / union of the boxes (areas as `box_area`)."""
    top_left = torch.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])  # [N, M, 2]
    bottom_right = torch.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)  # [N, M]
    return inter / (box_area(boxes_a)[:, None] + box_area(boxes_b)[None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: indices [K] of the kept boxes, by decreasing score.

    Visit boxes from the highest score down; keep a box unless a kept box overlaps it with
    IoU > iou_threshold. Ties in score keep their input order (a stable sort).
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long)
    order = torch.sort(scores, descending=True, stable=True).indices
    overlaps = (box_iou(boxes[order], boxes[order]) > iou_threshold).cpu().numpy()  # [N, N]
    suppressed = np.zeros(len(order), dtype=bool)
    kept = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        kept.append(i)
        suppressed |= overlaps[i]
    return order[torch.as_tensor(kept, dtype=torch.long)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, categories: torch.Tensor, iou_threshold: float):
    """NMS within each category: shifting each category's boxes by category x (max coordinate + 1) makes
    boxes of different categories disjoint, so one NMS pass does them all (torchvision's trick)."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long)
    offsets = categories.to(boxes) * (boxes.max() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


# ---- run-length encoding ----------------------------------------------------------------------------
def mask_to_rle_pytorch(masks: torch.Tensor) -> list[dict[str, Any]]:
    """Bool masks [N, H, W] -> uncompressed RLEs {"size": [H, W], "counts": [...]} (column-major runs)."""
    n, h, w = masks.shape
    flat = masks.permute(0, 2, 1).flatten(1)  # [N, W*H]: Fortran order
    changes = (flat[:, 1:] ^ flat[:, :-1]).nonzero()  # [K, 2] (mask, position before a change)
    out = []
    for i in range(n):
        idx = changes[changes[:, 0] == i, 1] + 1
        bounds = torch.cat([idx.new_zeros(1), idx, idx.new_full((1,), h * w)])
        counts = [] if not bool(flat[i, 0]) else [0]
        counts.extend((bounds[1:] - bounds[:-1]).tolist())
        out.append({"size": [h, w], "counts": counts})
    return out


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Uncompressed RLE -> bool mask [H, W]."""
    h, w = rle["size"]
    values = np.zeros(len(rle["counts"]), dtype=bool)
    values[1::2] = True  # runs alternate background, foreground, ...
    return np.repeat(values, rle["counts"]).reshape(w, h).T


def area_from_rle(rle: dict[str, Any]) -> int:
    return int(sum(rle["counts"][1::2]))


def coco_encode_rle(uncompressed_rle: dict[str, Any]) -> dict[str, Any]:
    """Compressed COCO RLE (counts as a UTF-8 string), through pycocotools (install it for 'coco_rle')."""
    from pycocotools import mask as mask_utils

    h, w = uncompressed_rle["size"]
    rle = mask_utils.frPyObjects(uncompressed_rle, h, w)
    rle["counts"] = rle["counts"].decode("utf-8")
    return rle


# ---- post-processing -------------------------------------------------------------------------------
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def remove_small_regions(mask: np.ndarray, area_thresh: float, mode: str) -> tuple[np.ndarray, bool]:
    """Fill holes ("holes") or delete islands ("islands") smaller than area_thresh pixels, 8-connected.

    Islands: if every island is small, the largest one stays. Returns (mask [H, W] bool, changed).
    Holes are the connected components of the background, so the background around the object counts
    as one (normally large) hole, as in Meta's OpenCV version.
    """
    if mode not in ("holes", "islands"):
        raise ValueError(f"mode must be 'holes' or 'islands', got {mode!r}.")
    fill_holes = mode == "holes"
    working = np.asarray(mask, dtype=bool) ^ fill_holes  # the regions to measure are True
    labels, n_labels = ndimage.label(working, structure=_EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel(), minlength=n_labels + 1)[1:]  # [n_labels], label 0 excluded
    small = [i + 1 for i, size in enumerate(sizes) if size < area_thresh]
    if not small:
        return np.asarray(mask, dtype=bool), False
    if fill_holes:
        keep_false = [0] + small  # labels that end up foreground: the mask (0) and the small holes
        return np.isin(labels, keep_false), True
    kept = [i for i in range(1, n_labels + 1) if i not in small] or [int(np.argmax(sizes)) + 1]
    return np.isin(labels, kept), True
