"""The concept side of the service: a SAM 3 image model behind ``Sam3Processor`` (``/detect``, ``/segment/text``).

``ConceptEngine.encode`` runs SAM 3's vision backbone once per image (cached by the SHA-256 of the
uploaded bytes, like the SAM 1 engine's embeddings); ``detect`` then runs only the text encoder and the
detector heads for a phrase and / or exemplar boxes. A fresh ``Sam3Processor`` per call carries that
call's confidence threshold, so two students' thresholds never mix (the model itself is shared and
never mutated). Call the methods on the ModelWorker thread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sam_core.device import ensure_float32, pick_device
from sam_core.sam3.build import SAM3_CONFIGS, build_sam3
from sam_core.sam3.processor import Sam3Processor
from sam_core.sam3.sam3_image import Sam3Image
from sam_core.serve.engine import EmbeddingCache
from sam_core.serve.fields import masks_to_numpy
from sam_core.serve.images import decode_image
from sam_core.weights.download import fetch_checkpoint
from sam_core.weights.registry import KNOWN_MODELS


@dataclass
class ConceptImage:
    """An image after SAM 3's vision backbone (the ``backbone_out`` of ``Sam3Processor.set_image``)."""

    backbone_out: dict  # never mutated: each call copies it before adding the phrase's features
    sha256: str
    width: int
    height: int
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Detections:
    """Every instance found: masks bool [N, H, W], boxes float32 [N, 4] (x0, y0, x1, y1 pixels), scores [N];
    presence σ(presence logit) ("is the concept here at all?"), query_scores [Q] σ(logit)·presence of every
    query, kept or not, high first (what the threshold cut)."""

    masks: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    presence: float
    query_scores: np.ndarray


class ConceptEngine:
    family = "sam3"

    def __init__(self, model: Sam3Image, name: str, *, cache_size: int, max_pixels: int, min_side: int) -> None:
        self.model = model
        self.name = name
        self.cache = EmbeddingCache(cache_size)
        self.max_pixels = max_pixels
        self.min_side = min_side

    @property
    def device(self) -> torch.device:
        return self.model.device

    def _processor(self, confidence: float) -> Sam3Processor:
        return Sam3Processor(self.model, resolution=self.model.image_size, confidence_threshold=confidence)

    def encode(self, data: bytes) -> ConceptImage:
        """The backbone features of an uploaded image, from the cache or computed now."""
        key = hashlib.sha256(data).hexdigest()
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        decoded = decode_image(data, max_pixels=self.max_pixels, min_side=self.min_side)
        state = self._processor(0.5).set_image(np.array(decoded.rgb))  # writable: torch warns on a read-only one
        entry = ConceptImage(state["backbone_out"], key, state["original_width"], state["original_height"],
                             decoded.notes)
        self.cache.put(entry)
        return entry

    def detect(self, image: ConceptImage, text: str | None, boxes: list[tuple[list[float], bool]],
               confidence: float) -> Detections:
        """Every instance of the concept: a phrase, exemplar boxes (normalised cx, cy, w, h; True = positive),
        or both. Detections above ``confidence`` (σ(logit)·σ(presence)), best first."""
        processor = self._processor(confidence)
        state = {"backbone_out": dict(image.backbone_out), "original_height": image.height,
                 "original_width": image.width}
        if text is not None:
            state = processor.set_text_prompt(text, state)
        for box, positive in boxes:
            state = processor.add_geometric_prompt(box, positive, state)
        scores = state["scores"].detach().float().cpu().numpy()
        order = np.argsort(-scores, kind="stable")
        masks = masks_to_numpy(state["masks"])[order]
        xyxy = state["boxes"].detach().float().cpu().numpy()[order]
        if "outputs" in state:
            out = state["outputs"]
            presence = float(out["presence_logit_dec"].float().sigmoid().reshape(-1)[0])
            queries = (out["pred_logits"].float().sigmoid().reshape(-1) * presence).cpu().numpy()
        else:  # neither a phrase nor a box: nothing was asked
            presence, queries = 0.0, np.zeros(0, dtype=np.float32)
        return Detections(masks, xyxy.astype(np.float32), scores[order].astype(np.float32), presence,
                          np.sort(queries)[::-1].astype(np.float32))


def load_concept_engine(name: str, checkpoint: Path | None, device: str | None, *, cache_size: int,
                        max_pixels: int, min_side: int) -> ConceptEngine:
    """Build the SAM 3 model once: ``name`` is a registry name of the sam3 family (weights fetched unless
    ``checkpoint`` is given) or a size of ``SAM3_CONFIGS`` with an explicit ``checkpoint``.

    Raises ValueError (unknown name, not SAM 3, no weights) or CheckpointError / OfflineError.
    """
    spec = KNOWN_MODELS.get(name)
    if spec is not None and spec.family == "sam3":
        model_type = spec.model_type
        weights = checkpoint if checkpoint is not None else fetch_checkpoint(spec.name, show_progress_bar=True)
    elif name in SAM3_CONFIGS:  # a size (also when a SAM 1 model shares the name, as "nano" may)
        if checkpoint is None:
            raise ValueError(f"SAM 3 size '{name}' has no published weights: give --concept-checkpoint")
        model_type, weights = name, checkpoint
    elif spec is not None:
        raise ValueError(f"model '{name}' is a {spec.family} model, not a SAM 3 concept model")
    else:
        known = sorted({n for n, s in KNOWN_MODELS.items() if s.family == "sam3"} | set(SAM3_CONFIGS))
        raise ValueError(f"unknown SAM 3 model '{name}'; known: {', '.join(known)}")
    chosen = pick_device(device)
    try:
        model = build_sam3(model_type, checkpoint=weights, device=chosen)
    except RuntimeError as error:  # keys that do not fit the size
        raise ValueError(str(error)) from None
    if chosen.type == "mps":
        ensure_float32(model)
    return ConceptEngine(model.eval(), name, cache_size=cache_size, max_pixels=max_pixels, min_side=min_side)
