"""SAM 1 endpoints: ``/predict/mask`` (points and box -> masks), image sessions, ``/export``.

``/predict/mask`` follows seed 004 §5.2: a multipart upload ``image`` with JSON fields ``points``,
``labels``, ``boxes`` (``[cx, cy, w, h]`` normalised) and ``multimask``. Its answer is a PNG for one mask
(the seed's default) or JSON ``{"masks": [base64 PNG, ...], "scores": [...], "shape": [N, H, W]}``
with ``multimask`` or ``response_format=json``. Instead of an upload a request may name an image
session (``/image/start`` once, then only coordinates per click; the embedding stays on the server)
or a file under the media root (``image_path``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse, Response

from sam_core.serve.engine import EncodedImage
from sam_core.serve.errors import ApiError
from sam_core.serve.export import build_export_zip, parse_objects
from sam_core.serve.fields import (
    mask_png,
    masks_to_base64,
    parse_box,
    parse_json_field,
    parse_labels,
    parse_points,
)
from sam_core.serve.service import Service, encoded_image, get_principal, get_service, known_fields

router = APIRouter(tags=["SAM 1: points and boxes"])

ImageUpload = Annotated[UploadFile | None, File(description="the image (PNG, JPEG, ...), as a file upload")]
ImagePath = Annotated[str | None, Form(description="a file under the server's media folder, relative path")]
SessionId = Annotated[str | None, Form(description="an image session from /image/start")]
ResponseFormat = Literal["auto", "json", "png"]


def _image_info(image: EncodedImage) -> dict:
    return {"width": image.width, "height": image.height, "sha256": image.sha256}


def _prompt(image: EncodedImage, points: str | None, labels: str | None, boxes: str | None, max_points: int):
    """JSON fields -> (points [P, 2] | None, labels [P] | None, box [4] pixels | None), checked on the image."""
    point_array = label_array = box_array = None
    if points is not None:
        point_array = parse_points(parse_json_field("points", points), image.width, image.height, max_points)
        label_array = parse_labels(None if labels is None else parse_json_field("labels", labels), len(point_array))
    elif labels is not None:
        raise ApiError(422, "field 'labels' was given without 'points'")
    if boxes is not None:
        box_array = parse_box(parse_json_field("boxes", boxes), image.width, image.height)
    if point_array is None and box_array is None:
        raise ApiError(422, "give 'points' (JSON [[x, y], ...]) or 'boxes' (JSON [cx, cy, w, h], 0..1)")
    return point_array, label_array, box_array


@router.post("/predict/mask", summary="Masks for points and/or a box on one image",
             responses={200: {"content": {"image/png": {}, "application/json": {}},
                              "description": "PNG for one mask, JSON for several (or response_format=json)"}})
async def predict_mask(
    service: Annotated[Service, Depends(get_service)],
    principal: Annotated[str, Depends(get_principal)],
    _: Annotated[None, Depends(known_fields("image", "image_path", "session_id", "points", "labels", "boxes",
                                            "multimask", "response_format"))],
    image: ImageUpload = None,
    image_path: ImagePath = None,
    session_id: SessionId = None,
    points: Annotated[str | None, Form(description="JSON list of [x, y] pixel pairs")] = None,
    labels: Annotated[str | None, Form(description="JSON list of 1 (foreground) / 0 (background); default all 1")] = None,
    boxes: Annotated[str | None, Form(description="JSON [cx, cy, w, h], normalised 0..1")] = None,
    multimask: Annotated[bool, Form(description="three masks (whole, part, subpart) with scores")] = False,
    response_format: Annotated[ResponseFormat, Form(description="auto: PNG for one mask, else JSON")] = "auto",
) -> Response:
    encoded, used_session = await encoded_image(service, principal, image, image_path, session_id)
    point_array, label_array, box_array = _prompt(encoded, points, labels, boxes, service.config.max_points)
    want_png = response_format == "png" or (response_format == "auto" and not multimask)
    if want_png and multimask:
        raise ApiError(422, "response_format 'png' holds one mask; use multimask=false or response_format=json")

    def run() -> tuple[np.ndarray, list[str] | bytes]:  # scores [N], PNG bytes or N base64 PNGs
        masks, scores = service.engine.predict(encoded, point_array, label_array, box_array, multimask)
        return scores, (mask_png(masks[0]) if want_png else masks_to_base64(masks))

    scores, encoded_masks = await service.worker.run(run)
    if want_png:
        return Response(encoded_masks, media_type="image/png", headers={
            "X-Mask-Score": f"{float(scores[0]):.6f}", "X-Image-Width": str(encoded.width),
            "X-Image-Height": str(encoded.height)})
    return JSONResponse({
        "model": service.engine.name, "family": service.engine.family, **_image_info(encoded),
        "shape": [len(encoded_masks), encoded.height, encoded.width], "masks": encoded_masks,
        "scores": [round(float(s), 6) for s in scores], "best": int(np.argmax(scores)), "multimask": multimask,
        "session_id": used_session, "notes": list(encoded.notes),
    })


@router.post("/image/start", summary="Keep an image's embedding on the server; clicks then send coordinates only")
async def image_start(
    service: Annotated[Service, Depends(get_service)],
    principal: Annotated[str, Depends(get_principal)],
    _: Annotated[None, Depends(known_fields("image", "image_path"))],
    image: ImageUpload = None,
    image_path: ImagePath = None,
) -> dict:
    if image is None and image_path is None:
        raise ApiError(422, "give 'image' (an upload) or 'image_path'")
    encoded, _unused = await encoded_image(service, principal, image, image_path, None)
    session = service.sessions.create(principal, "image", encoded, frames=1)
    return {**session.describe(session.last_used, service.sessions.ttl_s), **_image_info(encoded),
            "notes": list(encoded.notes)}


@router.post("/image/stop", summary="Close an image session and free its embedding")
async def image_stop(
    service: Annotated[Service, Depends(get_service)],
    principal: Annotated[str, Depends(get_principal)],
    _: Annotated[None, Depends(known_fields("session_id"))],
    session_id: Annotated[str, Form(description="the id from /image/start")],
) -> dict:
    session = service.sessions.close(session_id, principal, kind="image")
    return {"session_id": session.session_id, "stopped": True}


@router.post("/export", summary="PNG masks for several objects and a manifest.json, as a zip",
             responses={200: {"content": {"application/zip": {}}}})
async def export_masks(
    service: Annotated[Service, Depends(get_service)],
    principal: Annotated[str, Depends(get_principal)],
    _: Annotated[None, Depends(known_fields("image", "image_path", "session_id", "objects", "multimask"))],
    objects: Annotated[str, Form(description='JSON [{"obj_id"?, "name"?, "points"?, "labels"?, "box"?}, ...]')],
    image: ImageUpload = None,
    image_path: ImagePath = None,
    session_id: SessionId = None,
    multimask: Annotated[bool, Form(description="decode three masks per object and keep the best")] = False,
) -> Response:
    raw_objects = parse_json_field("objects", objects)
    encoded, _used = await encoded_image(service, principal, image, image_path, session_id)
    config = service.config
    parsed = parse_objects(raw_objects, encoded.width, encoded.height, config.max_objects, config.max_points)

    def run() -> bytes:
        masks, scores = [], []
        for obj in parsed:
            candidates, candidate_scores = service.engine.predict(encoded, obj.points, obj.labels, obj.box_xyxy,
                                                                  multimask)
            best = int(np.argmax(candidate_scores))
            masks.append(candidates[best])
            scores.append(float(candidate_scores[best]))
        model_info = {"name": service.engine.name, "family": service.engine.family}
        return build_export_zip(parsed, masks, scores, _image_info(encoded), model_info)

    archive = await service.worker.run(run)
    filename = f"masks_{encoded.sha256[:12]}.zip"
    return Response(archive, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})

