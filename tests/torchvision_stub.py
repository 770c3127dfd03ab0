"""A minimal stand-in for ``torchvision`` so that Meta's ``segment_anything`` can be imported in tests.

torchvision cannot be installed on the build machines, yet the official ``segment-anything`` package
imports it at module level:

- ``segment_anything/utils/transforms.py``: ``from torchvision.transforms.functional import resize,
  to_pil_image``
- ``segment_anything/automatic_mask_generator.py``: ``from torchvision.ops.boxes import batched_nms,
  box_area``

``install_torchvision_stub()`` puts fake modules with just those functions into ``sys.modules``. The
two transform functions behave like torchvision's for the inputs ``segment_anything`` gives them
(``ResizeLongestSide.apply_image`` calls ``np.array(resize(to_pil_image(image), target_size))`` with a
uint8 HWC image and ``target_size = (h, w)``), so equivalence tests against the official predictor
see the same pixels. The box ops are plain-torch reference implementations (slow, but correct).

A real torchvision, if one is importable, is left alone unless ``force=True``.
"""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import torch
from PIL import Image

_STUB_MARKER = "__sam_lesson_stub__"


def _to_pil_image(pic, mode=None):
    """Like ``torchvision.transforms.functional.to_pil_image`` for numpy HWC/HW arrays and CHW tensors."""
    if isinstance(pic, torch.Tensor):
        arr = pic.detach().cpu()
        if arr.ndim == 3:
            arr = arr.permute(1, 2, 0)  # CHW -> HWC
        if arr.is_floating_point():
            arr = (arr * 255).clamp(0, 255).to(torch.uint8)  # torchvision scales float [0,1] to uint8
        pic = arr.numpy()
    pic = np.asarray(pic)
    if pic.ndim == 3 and pic.shape[2] == 1:
        pic = pic[:, :, 0]
    return Image.fromarray(pic, mode=mode) if mode else Image.fromarray(pic)


def _resize(img, size, interpolation=None, max_size=None, antialias=True):
    """Like ``torchvision.transforms.functional.resize`` for PIL images; ``size`` is ``(h, w)``.

    torchvision (PIL path) calls ``img.resize((w, h), Image.BILINEAR)`` by default; with an int size it
    matches the shorter side to it, keeping the aspect ratio.
    """
    if not isinstance(img, Image.Image):
        raise TypeError("torchvision stub: resize() only supports PIL images")
    resample = Image.BILINEAR if interpolation is None else getattr(interpolation, "value", interpolation)
    if isinstance(resample, str):
        resample = getattr(Image, resample.upper())
    if isinstance(size, int) or (isinstance(size, (list, tuple)) and len(size) == 1):
        short = size if isinstance(size, int) else size[0]
        w, h = img.size
        if w <= h:
            new_w, new_h = short, int(short * h / w)
        else:
            new_w, new_h = int(short * w / h), short
    else:
        new_h, new_w = int(size[0]), int(size[1])
    return img.resize((new_w, new_h), resample)


def _box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of [N, 4] XYXY boxes."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS; returns kept indices sorted by decreasing score (torchvision's contract)."""
    order = torch.argsort(scores, descending=True)
    keep = []
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    areas = _box_area(boxes)
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        lt = torch.maximum(boxes[i, :2], boxes[:, :2])
        rb = torch.minimum(boxes[i, 2:], boxes[:, 2:])
        wh = (rb - lt).clamp(min=0)
        inter = wh[:, 0] * wh[:, 1]
        iou = inter / (areas[i] + areas - inter)
        suppressed |= iou > iou_threshold
    return torch.as_tensor(keep, dtype=torch.int64)


def _batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS done independently per category ``idxs`` (same offset trick as torchvision)."""
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64)
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    return _nms(boxes + offsets[:, None], scores, iou_threshold)


def _prime_transformers_cache() -> None:
    """Let ``transformers`` record "torchvision unavailable" before the stub exists.

    transformers asks ``importlib.util.find_spec("torchvision")`` (cached with ``lru_cache``); with a
    spec-less stub in ``sys.modules`` that call raises ValueError, and with a spec it would believe a
    real torchvision is there and import ``torchvision.transforms.v2``. Asking once beforehand caches
    the truthful answer (False); SamModel itself never needs torchvision.
    """
    if importlib.util.find_spec("transformers") is None:
        return
    try:
        from transformers.utils import import_utils

        import_utils.is_torchvision_available()
    except Exception:  # noqa: BLE001 - a broken transformers must not break tests that do not use it
        pass


def install_torchvision_stub(force: bool = False) -> bool:
    """Insert fake ``torchvision`` modules into ``sys.modules``.

    Arguments:
      force: install even if a real torchvision is importable.
    Returns:
      True if the stub is (now) installed, False if a real torchvision was left in place.
    """
    existing = sys.modules.get("torchvision")
    if existing is not None and getattr(existing, _STUB_MARKER, False):
        return True
    if not force and existing is None and importlib.util.find_spec("torchvision") is not None:
        return False
    if not force and existing is not None:
        return False

    _prime_transformers_cache()

    def module(name: str) -> types.ModuleType:
        mod = types.ModuleType(name)
        setattr(mod, _STUB_MARKER, True)
        sys.modules[name] = mod
        return mod

    tv = module("torchvision")
    transforms = module("torchvision.transforms")
    functional = module("torchvision.transforms.functional")
    ops = module("torchvision.ops")
    boxes = module("torchvision.ops.boxes")

    functional.resize = _resize
    functional.to_pil_image = _to_pil_image
    transforms.functional = functional
    boxes.batched_nms = _batched_nms
    boxes.box_area = _box_area
    boxes.nms = _nms
    ops.boxes = boxes
    ops.batched_nms = _batched_nms
    ops.box_area = _box_area
    ops.nms = _nms
    tv.transforms = transforms
    tv.ops = ops
    tv.__version__ = "0.0.0+sam_lesson_stub"
    return True
