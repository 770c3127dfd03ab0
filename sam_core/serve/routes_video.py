"""SAM 2 tracking sessions (seed 004 §5.2): ``/track/start``, ``/track/prompt``, ``/track/propagate``, ``/track/stop``.

- ``/track/start``: the frames as uploads (``frames``, repeated, in order) or ``video_path`` (a folder
  of frames or a video file under the media root). The server chooses the session id (unguessable,
  tied to the caller's token); a client-chosen ``session_id`` is refused.
- ``/track/prompt``: ``session_id``, ``frame_idx``, ``obj_id`` (absent: 1, as the seed's fix),
  ``points`` ``[[x, y], ...]`` in frame pixels with ``labels``, and / or one ``boxes`` ``[cx, cy, w, h]``
  normalised. Answers that frame's masks for every object as JSON (never ``str(result)``).
- ``/track/propagate``: ``direction`` forward / backward / both, ``start_frame`` (absent: the first
  prompted frame), ``max_frames`` (-1 or absent: to the end; passed to the predictor as None, never
  as -1). Answers every tracked frame's masks ``[N_obj, H, W]`` as base64 PNGs.
- ``/track/export``: a zip of every tracked frame's masks (``masks/frame_NNNNN_obj_NNN.png``) and a
  ``manifest.json`` (the seed's tracking save, as a download: nothing is written on the server).
- ``/track/stop``: frees the session; its id is then unknown (404).
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sam_core.serve.engine_video import FrameMasks, TrackSession
from sam_core.serve.errors import ApiError
from sam_core.serve.export import build_tracking_zip
from sam_core.serve.fields import (
    masks_to_base64,
    parse_box,
    parse_json_field,
    parse_labels,
    parse_max_frames,
    parse_points,
)
from sam_core.serve.schemas import StoppedAnswer, TrackPromptAnswer, TrackPropagateAnswer, TrackStartAnswer
from sam_core.serve.security import resolve_media_path
from sam_core.serve.service import Service, get_principal, get_service, known_fields
from sam_core.serve.sessions import SessionError

router = APIRouter(tags=["SAM 2: video tracking"])

KIND = "video"
MAX_OBJ_ID = 10**6
SessionField = Annotated[str, Form(description="the id from /track/start")]


def _frame_json(result: FrameMasks, encoded: list[str]) -> dict:
    return {"frame_idx": result.frame_idx, "object_ids": result.obj_ids, "num_objects": len(result.obj_ids),
            "masks": encoded, "areas": [int(m.sum()) for m in result.masks]}


def _session(service: Service, session_id: str, principal: str) -> TrackSession:
    payload = service.sessions.get(session_id, principal, kind=KIND).payload
    if payload is None:
        raise ApiError(409, "the session is still starting; retry in a moment")
    return payload


def _frame_index(name: str, value: int, session: TrackSession) -> int:
    if not 0 <= value < session.num_frames:
        raise ApiError(422, f"field '{name}': frame {value} is outside the video's frames 0..{session.num_frames - 1}")
    return value


@router.post("/track/start", summary="Open a tracking session on a video (uploaded frames or a media file)",
             response_model=None, responses={200: {"model": TrackStartAnswer}})
async def track_start(
    service: Annotated[Service, Depends(get_service)],
    principal: Annotated[str, Depends(get_principal)],
    _: Annotated[None, Depends(known_fields("frames", "video_path", "session_id"))],
    frames: Annotated[list[UploadFile] | None, File(description="the video's frames, in order (PNG / JPEG)")] = None,
    video_path: Annotated[str | None, Form(description="a frame folder or video file under the media folder")] = None,
    session_id: Annotated[str | None, Form(description="refused: the server chooses session ids")] = None,
) -> dict:
    if session_id is not None:
        raise ApiError(422, "field 'session_id': session ids are chosen by the server (unguessable, tied to "
                            "your token); leave it out and use the one this call returns")
    if (frames is None) == (video_path is None):
        raise ApiError(422, "give either 'frames' (uploaded frame images, in order) or 'video_path' "
                            "(under the server's media folder)")
    video = service.video
    if frames is not None:
        if len(frames) > video.max_frames:
            raise ApiError(413, f"the video has {len(frames)} frames; this server tracks at most {video.max_frames}")
        data = [await frame.read() for frame in frames]
        # decoded on the worker, like the model calls: one video decoded at a time bounds the memory
        decoded = await service.worker.run(video.decode_frames, data)
    else:
        path = resolve_media_path(service.config.media_root, video_path, allow_folder=True)
        decoded = await service.worker.run(video.read_media, path)
    # reserve the frames before SAM 2 encodes them: a full server answers 429 without that cost
    reserved = service.sessions.create(principal, KIND, None, frames=len(decoded), on_close=video.close_payload)
    try:
        reserved.payload = await service.worker.run(video.start, decoded)
    except BaseException:  # the model failed or the client went away: give the frames back
        with contextlib.suppress(SessionError):
            service.sessions.close(reserved.session_id, principal)
        raise
    tracked = reserved.payload
    return {**reserved.describe(reserved.last_used, service.sessions.ttl_s), "num_frames": tracked.num_frames,
            "width": tracked.width, "height": tracked.height, "model": video.name, "family": video.family}


@router.post("/track/prompt", summary="Clicks and / or a box for one object on one frame",
             response_model=None, responses={200: {"model": TrackPromptAnswer}})
async def track_prompt(
    service: Annotated[Service, Depends(get_service)],
    principal: Annotated[str, Depends(get_principal)],
    _: Annotated[None, Depends(known_fields("session_id", "frame_idx", "obj_id", "points", "labels", "boxes",
                                            "text"))],
    session_id: SessionField,
    frame_idx: Annotated[int, Form(description="the frame the prompt is on")] = 0,
    obj_id: Annotated[int | None, Form(description="the object (absent: 1)")] = None,
    points: Annotated[str | None, Form(description="JSON [[x, y], ...] in frame pixels")] = None,
    labels: Annotated[str | None, Form(description="JSON [1 | 0, ...] per point; default all 1")] = None,
    boxes: Annotated[str | None, Form(description="JSON [cx, cy, w, h], normalised 0..1")] = None,
    text: Annotated[str | None, Form(description="needs a SAM 3 video model (refused by SAM 2)")] = None,
) -> dict:
    session = _session(service, session_id, principal)
    if session.busy:
        raise ApiError(409, "this session is propagating; add prompts when that call has finished")
    if text is not None:
        raise ApiError(422, f"field 'text': this server tracks with {service.video.name} (SAM 2), which takes "
                            "points and boxes; text prompts need a SAM 3 video model")
    frame = _frame_index("frame_idx", frame_idx, session)
    obj = 1 if obj_id is None else obj_id  # the seed's fix: points without an object id belong to object 1
    if not 1 <= obj <= MAX_OBJ_ID:
        raise ApiError(422, f"field 'obj_id' must be between 1 and {MAX_OBJ_ID}")
    if obj not in session.obj_ids and len(session.obj_ids) >= service.config.max_objects:
        raise ApiError(422, f"the session already tracks {len(session.obj_ids)} objects; at most "
                            f"{service.config.max_objects}")
    point_array = label_array = box_array = None
    if points is not None:
        point_array = parse_points(parse_json_field("points", points), session.width, session.height,
                                   service.config.max_points)
        label_array = parse_labels(None if labels is None else parse_json_field("labels", labels), len(point_array))
    elif labels is not None:
        raise ApiError(422, "field 'labels' was given without 'points'")
    if boxes is not None:
        box_array = parse_box(parse_json_field("boxes", boxes), session.width, session.height)
    if point_array is None and box_array is None:
        raise ApiError(422, "give 'points' (JSON [[x, y], ...]) or 'boxes' (JSON [cx, cy, w, h], 0..1)")
    result = await service.worker.run(service.video.add_prompt, session, frame, obj, point_array, label_array,
                                      box_array)
    encoded = await run_in_threadpool(masks_to_base64, result.masks)
    return {"session_id": session_id, "obj_id": obj, "shape": [len(result.obj_ids), session.height, session.width],
            **_frame_json(result, encoded)}


@router.post("/track/propagate", summary="Track every prompted object through the video",
             response_model=None, responses={200: {"model": TrackPropagateAnswer}})
async def track_propagate(
    service: Annotated[Service, Depends(get_service)],
    principal: Annotated[str, Depends(get_principal)],
    _: Annotated[None, Depends(known_fields("session_id", "direction", "start_frame", "max_frames"))],
    session_id: SessionField,
    direction: Annotated[Literal["forward", "backward", "both"], Form(description="which way in time")] = "forward",
    start_frame: Annotated[int | None, Form(description="absent: the first prompted frame")] = None,
    max_frames: Annotated[int | None, Form(description="frames after start_frame; -1 or absent: all")] = None,
) -> dict:
    session = _session(service, session_id, principal)
    if not session.obj_ids:
        raise ApiError(409, "the session has no prompt yet: add points or a box with /track/prompt first")
    start = None if start_frame is None else _frame_index("start_frame", start_frame, session)
    limit = parse_max_frames(max_frames)
    if session.busy:
        raise ApiError(409, "this session is already propagating; wait for that call to finish")
    session.busy = True
    try:
        steps = service.video.propagation(session, direction, start, limit)
        results = []
        while (result := await service.worker.run(next, steps, None)) is not None:  # one frame per model call
            results.append(result)
    finally:
        session.busy = False
    results.sort(key=lambda r: r.frame_idx)

    def encode_all() -> list[dict]:
        return [_frame_json(r, masks_to_base64(r.masks)) for r in results]

    frames = await run_in_threadpool(encode_all)
    return {"session_id": session_id, "direction": direction, "start_frame": start, "max_frames": limit,
            "video_frames": session.num_frames, "num_frames_tracked": len(frames),
            "shape": [len(session.obj_ids), session.height, session.width], "frames": frames}


@router.post("/track/export", summary="Every tracked frame's masks as PNGs plus manifest.json, as a zip",
             responses={200: {"content": {"application/zip": {}}}})
async def track_export(
    service: Annotated[Service, Depends(get_service)],
    principal: Annotated[str, Depends(get_principal)],
    _: Annotated[None, Depends(known_fields("session_id"))],
    session_id: SessionField,
) -> Response:
    session = _session(service, session_id, principal)
    if not session.obj_ids:
        raise ApiError(409, "the session has no prompt yet: nothing to export")
    if session.busy:
        raise ApiError(409, "this session is propagating; export when that call has finished")
    frames = await service.worker.run(service.video.tracked_masks, session)
    video_info = {"num_frames": session.num_frames, "width": session.width, "height": session.height}
    model_info = {"name": service.video.name, "family": service.video.family}
    archive = await run_in_threadpool(build_tracking_zip, frames, video_info, model_info)
    return Response(archive, media_type="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="tracking.zip"'})


@router.post("/track/stop", summary="Close a tracking session and free its memory",
             response_model=None, responses={200: {"model": StoppedAnswer}})
async def track_stop(
    service: Annotated[Service, Depends(get_service)],
    principal: Annotated[str, Depends(get_principal)],
    _: Annotated[None, Depends(known_fields("session_id"))],
    session_id: SessionField,
) -> dict:
    session = service.sessions.close(session_id, principal, kind=KIND)
    return {"session_id": session.session_id, "stopped": True}
