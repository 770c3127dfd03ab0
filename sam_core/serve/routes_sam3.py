"""SAM 3 endpoints (seed 004 §5.2): ``/detect`` (every instance of a concept) and ``/segment/text``.

Both take a multipart upload ``image`` (or ``image_path`` under the media root), a noun phrase
``text`` and ``confidence`` (default 0.5, Sam3Processor's threshold on σ(logit)·σ(presence)); exemplar
boxes (``boxes``: ``[cx, cy, w, h]`` normalised, one or a list; ``box_labels`` 1 / 0) may join or
replace the phrase. ``/detect`` answers JSON ``{"objects": [{"mask": base64 PNG, "bbox": [x0, y0, x1,
y1], "score", "label"}, ...], "shape": [N, H, W], ...}``, best score first; ``/segment/text`` one PNG
with every instance ORed together (all zeros when nothing was found), for inpainting.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sam_core.serve.engine_sam3 import ConceptImage, Detections
from sam_core.serve.errors import ApiError
from sam_core.serve.fields import (
    mask_png,
    masks_to_base64,
    parse_confidence,
    parse_exemplar_boxes,
    parse_json_field,
    parse_text,
)
from sam_core.serve.schemas import DetectAnswer
from sam_core.serve.service import Service, encode_upload_or_path, get_principal, get_service, known_fields

router = APIRouter(tags=["SAM 3: concepts"])

FIELDS = ("image", "image_path", "text", "confidence", "boxes", "box_labels")
ImageUpload = Annotated[UploadFile | None, File(description="the image (PNG, JPEG, ...), as a file upload")]
ImagePath = Annotated[str | None, Form(description="a file under the server's media folder, relative path")]
Text = Annotated[str | None, Form(description="a noun phrase: 'a person', 'red car', 'ripe apple'")]
Confidence = Annotated[float | None, Form(description="keep detections scoring above this (default 0.5)")]
Boxes = Annotated[str | None, Form(description="JSON exemplar box [cx, cy, w, h] (0..1) or a list of them")]
BoxLabels = Annotated[str | None, Form(description="JSON list of 1 (positive) / 0 (negative) per box")]


async def _detect(service: Service, image, image_path, text, confidence, boxes, box_labels
                  ) -> tuple[ConceptImage, Detections, str | None, float]:
    concept = service.concept
    threshold = parse_confidence(confidence)
    phrase = parse_text(text, required=boxes is None)
    raw_boxes = parse_json_field("boxes", boxes) if boxes is not None else None
    raw_labels = parse_json_field("box_labels", box_labels) if box_labels is not None else None
    if raw_labels is not None and raw_boxes is None:
        raise ApiError(422, "field 'box_labels' was given without 'boxes'")
    encoded = await encode_upload_or_path(service, concept.encode, image, image_path)
    exemplars = [] if raw_boxes is None else parse_exemplar_boxes(
        raw_boxes, raw_labels, encoded.width, encoded.height, service.config.max_exemplar_boxes)
    found = await service.worker.run(concept.detect, encoded, phrase, exemplars, threshold)
    return encoded, found, phrase, threshold


@router.post("/detect", summary="Every instance of a concept: masks (base64 PNG), boxes, scores, labels",
             responses={200: {"model": DetectAnswer}})
async def detect(
    service: Annotated[Service, Depends(get_service)],
    _principal: Annotated[str, Depends(get_principal)],
    _: Annotated[None, Depends(known_fields(*FIELDS))],
    image: ImageUpload = None, image_path: ImagePath = None, text: Text = None, confidence: Confidence = None,
    boxes: Boxes = None, box_labels: BoxLabels = None,
) -> JSONResponse:
    encoded, found, phrase, threshold = await _detect(service, image, image_path, text, confidence, boxes, box_labels)
    label = phrase if phrase is not None else "visual exemplar"
    masks = await run_in_threadpool(masks_to_base64, found.masks)  # PNG encoding: off the model's queue
    objects = [{"mask": mask, "bbox": [round(float(v), 2) for v in box], "score": round(float(score), 6),
                "label": label} for mask, box, score in zip(masks, found.boxes, found.scores, strict=True)]
    return JSONResponse({
        "model": service.concept.name, "family": service.concept.family, "width": encoded.width,
        "height": encoded.height, "sha256": encoded.sha256, "text": phrase, "confidence": threshold,
        "count": len(objects), "shape": [len(objects), encoded.height, encoded.width], "objects": objects,
        "presence": round(found.presence, 6), "query_scores": [round(float(q), 6) for q in found.query_scores],
        "notes": list(encoded.notes),
    })


@router.post("/segment/text", summary="Every instance of a concept merged into one PNG mask",
             responses={200: {"content": {"image/png": {}}, "description": "8-bit mask, 255 = any instance"}})
async def segment_text(
    service: Annotated[Service, Depends(get_service)],
    _principal: Annotated[str, Depends(get_principal)],
    _: Annotated[None, Depends(known_fields(*FIELDS))],
    image: ImageUpload = None, image_path: ImagePath = None, text: Text = None, confidence: Confidence = None,
    boxes: Boxes = None, box_labels: BoxLabels = None,
) -> Response:
    encoded, found, _phrase, _threshold = await _detect(service, image, image_path, text, confidence, boxes,
                                                        box_labels)
    merged = found.masks.any(axis=0) if len(found.masks) else np.zeros((encoded.height, encoded.width), bool)
    png = await run_in_threadpool(mask_png, merged)
    return Response(png, media_type="image/png", headers={
        "X-Object-Count": str(len(found.masks)), "X-Image-Width": str(encoded.width),
        "X-Image-Height": str(encoded.height)})
