"""A small Python client for the model service (standard library only, plus numpy and Pillow).

    client = SamServiceClient("http://gpu-box:8001", token="...")
    client.health()                                               # {"status": "running", ...}
    session = client.start_image(rgb)                             # upload once
    result = client.predict_mask(session_id=session.session_id, points=[[120, 80]], multimask=True)
    result.masks.shape, result.scores                             # (3, H, W) bool, (3,) float32
    client.stop_image(session.session_id)

    detections, info = client.detect(rgb, text="ripe apple")     # SAM 3 (a server with --concept-model)
    detections[0].mask, detections[0].bbox, detections[0].score  # bool [H, W], (x0, y0, x1, y1), float
    video = client.track_start(frames)                            # SAM 2 (a server with --video-model)
    client.track_prompt(video["session_id"], frame_idx=0, points=[[120, 80]])   # obj_id 1
    for frame in client.track_propagate(video["session_id"], direction="both"):
        frame.frame_idx, frame.object_ids, frame.masks            # masks bool [N_obj, H, W]
    client.track_stop(video["session_id"])

Every failure is a ``ServiceError`` with the HTTP ``status`` and the server's message;
``ServiceUnavailable`` (status None) when the server cannot be reached at all.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from sam_core.serve.fields import box_xyxy_to_cxcywh, decode_mask_png

__all__ = ["SamServiceClient", "ServiceError", "ServiceUnavailable", "MaskResult", "ImageSession", "Detection",
           "FrameResult",
           "box_xyxy_to_cxcywh", "encode_multipart"]


class ServiceError(Exception):
    """The server refused a request: ``status`` (HTTP code) and ``message`` (its ``detail``)."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


class ServiceUnavailable(ServiceError):
    """No answer at all: the server is down, unreachable, or too slow."""


@dataclass(frozen=True)
class MaskResult:
    masks: np.ndarray  # bool [N, H, W]
    scores: np.ndarray  # float32 [N], the model's predicted IoU
    best: int  # index of the highest score
    width: int
    height: int
    image_sha256: str
    session_id: str | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class ImageSession:
    session_id: str
    width: int
    height: int
    image_sha256: str
    expires_in_s: float


def image_bytes(image: bytes | np.ndarray) -> bytes:
    """Encoded file bytes as given, or a uint8 [H, W, 3] array encoded as PNG."""
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"an image array must be uint8 [H, W, 3], got {array.dtype} {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(array, "RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def encode_multipart(fields: dict[str, Any], files: dict[str, bytes] | list[tuple[str, bytes]]
                     ) -> tuple[bytes, str]:
    """multipart/form-data body and its Content-Type; non-str field values are sent as JSON. ``files`` is a
    dict or a list of (name, bytes) pairs (a name may repeat: the frames of a video)."""
    boundary = "sam" + secrets.token_hex(16)
    parts = []
    for name, value in fields.items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + text.encode() + b"\r\n")
    for name, data in (files.items() if isinstance(files, dict) else files):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass(frozen=True)
class Detection:
    mask: np.ndarray  # bool [H, W]
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 pixels
    score: float
    label: str


@dataclass(frozen=True)
class FrameResult:
    frame_idx: int
    object_ids: list[int]
    masks: np.ndarray  # bool [N_obj, H, W]


def _decode_masks(encoded: list[str], height: int, width: int) -> np.ndarray:
    if not encoded:
        return np.zeros((0, height, width), dtype=bool)
    return np.stack([decode_mask_png(base64.b64decode(m)) for m in encoded])


def _frame_result(answer: dict, shape: list[int]) -> FrameResult:
    """One frame of a /track answer; ``shape`` is the answer's [N_obj, H, W]."""
    return FrameResult(int(answer["frame_idx"]), [int(o) for o in answer["object_ids"]],
                       _decode_masks(answer["masks"], shape[1], shape[2]))


class ConceptAndVideoCalls:
    """The SAM 3 (``/detect``, ``/segment/text``) and SAM 2 (``/track/*``) calls of SamServiceClient."""

    def detect(self, image: bytes | np.ndarray | None = None, *, text: str | None = None,
               confidence: float | None = None, boxes_cxcywh: list | None = None, box_labels: list | None = None,
               image_path: str | None = None) -> tuple[list[Detection], dict]:
        """``POST /detect`` -> (detections best first, the raw answer without its masks)."""
        fields, files = self._image_fields(image, image_path, None)
        for name, value in (("text", text), ("confidence", confidence), ("boxes", boxes_cxcywh),
                            ("box_labels", box_labels)):
            if value is not None:
                fields[name] = value if isinstance(value, str) else json.dumps(value)
        answer = self._json("POST", "/detect", fields, files)
        detections = [Detection(decode_mask_png(base64.b64decode(o["mask"])), tuple(o["bbox"]), float(o["score"]),
                                o["label"]) for o in answer["objects"]]
        return detections, {k: v for k, v in answer.items() if k != "objects"}

    def segment_text(self, image: bytes | np.ndarray | None = None, *, text: str, confidence: float | None = None,
                     image_path: str | None = None) -> tuple[np.ndarray, int]:
        """``POST /segment/text`` -> (bool [H, W], every instance merged; the number of instances)."""
        fields, files = self._image_fields(image, image_path, None)
        fields["text"] = text
        if confidence is not None:
            fields["confidence"] = json.dumps(confidence)
        headers, body = self._call("POST", "/segment/text", fields, files)
        count = {k.lower(): v for k, v in headers.items()}["x-object-count"]
        return decode_mask_png(body), int(count)

    def track_start(self, frames: list[bytes | np.ndarray] | None = None, *, video_path: str | None = None) -> dict:
        """``POST /track/start`` with frame uploads (in order) or a media path -> {"session_id", "num_frames", ...}."""
        fields = {} if video_path is None else {"video_path": video_path}
        files = None if frames is None else [("frames", image_bytes(f)) for f in frames]
        return self._json("POST", "/track/start", fields, files)

    def track_prompt(self, session_id: str, *, frame_idx: int = 0, obj_id: int | None = None,
                     points: list | None = None, labels: list | None = None,
                     box_cxcywh: list[float] | None = None) -> FrameResult:
        """``POST /track/prompt`` -> that frame's masks for every object."""
        fields: dict[str, Any] = {"session_id": session_id, "frame_idx": str(frame_idx)}
        for name, value in (("obj_id", obj_id), ("points", points), ("labels", labels), ("boxes", box_cxcywh)):
            if value is not None:
                fields[name] = json.dumps(np.asarray(value).tolist()) if name != "obj_id" else str(value)
        answer = self._json("POST", "/track/prompt", fields)
        return _frame_result(answer, answer["shape"])

    def track_propagate(self, session_id: str, *, direction: str = "forward", start_frame: int | None = None,
                        max_frames: int | None = None) -> list[FrameResult]:
        """``POST /track/propagate`` -> every tracked frame's masks, in frame order."""
        fields = {"session_id": session_id, "direction": direction}
        if start_frame is not None:
            fields["start_frame"] = str(start_frame)
        if max_frames is not None:
            fields["max_frames"] = str(max_frames)
        answer = self._json("POST", "/track/propagate", fields)
        return [_frame_result(frame, answer["shape"]) for frame in answer["frames"]]

    def track_export(self, session_id: str) -> bytes:
        """``POST /track/export`` -> the zip's bytes (masks/frame_NNNNN_obj_NNN.png + manifest.json)."""
        return self._call("POST", "/track/export", {"session_id": session_id})[1]

    def track_stop(self, session_id: str) -> None:
        """``POST /track/stop``; a ServiceError 404 if the session is already gone."""
        self._json("POST", "/track/stop", {"session_id": session_id})


class SamServiceClient(ConceptAndVideoCalls):
    """Calls one model service. Thread-safe (no shared state besides the settings)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8001", token: str | None = None,
                 timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    # ---- transport -------------------------------------------------------------------------
    def request(self, method: str, path: str, fields: dict[str, Any] | None = None,
                files: dict[str, bytes] | None = None, headers: dict[str, str] | None = None,
                ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP call -> (status, headers, body), for ANY status (errors are not raised here)."""
        body, all_headers = None, dict(headers or {})
        if fields is not None or files is not None:
            body, all_headers["Content-Type"] = encode_multipart(fields or {}, files or {})
        if self.token:
            all_headers.setdefault("Authorization", f"Bearer {self.token}")
        req = urllib.request.Request(self.base_url + path, data=body, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read()
        except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError) as error:
            reason = getattr(error, "reason", error)
            raise ServiceUnavailable(None, f"the model server at {self.base_url} is not reachable ({reason})") from None

    def _call(self, method: str, path: str, fields=None, files=None) -> tuple[dict[str, str], bytes]:
        status, headers, body = self.request(method, path, fields, files)
        if status >= 400:
            try:
                message = json.loads(body)["detail"]
            except (ValueError, KeyError, TypeError):
                message = body[:200].decode("utf-8", "replace") or "no message"
            raise ServiceError(status, str(message))
        return headers, body

    def _json(self, method: str, path: str, fields=None, files=None) -> dict:
        return json.loads(self._call(method, path, fields, files)[1])

    @staticmethod
    def _image_fields(image, image_path, session_id) -> tuple[dict, dict]:
        fields, files = {}, {}
        if image is not None:
            files["image"] = image_bytes(image)
        if image_path is not None:
            fields["image_path"] = image_path
        if session_id is not None:
            fields["session_id"] = session_id
        return fields, files

    # ---- endpoints -------------------------------------------------------------------------
    def health(self) -> dict:
        """``GET /health``: status, model, family, device, capabilities, auth_required."""
        return self._json("GET", "/health")

    def predict_mask(self, image: bytes | np.ndarray | None = None, *, session_id: str | None = None,
                     image_path: str | None = None, points: list | None = None, labels: list | None = None,
                     box_cxcywh: list[float] | None = None, multimask: bool = False) -> MaskResult:
        """``POST /predict/mask`` with a JSON answer.

        Arguments: one of image / session_id / image_path; points [[x, y], ...] in pixels; labels
        [1 | 0, ...]; box_cxcywh [cx, cy, w, h] normalised (``box_xyxy_to_cxcywh`` converts pixel boxes).
        Returns: MaskResult with masks [N, H, W] (N = 3 with multimask, else 1).
        """
        fields, files = self._image_fields(image, image_path, session_id)
        for name, value in (("points", points), ("labels", labels), ("boxes", box_cxcywh)):
            if value is not None:
                fields[name] = np.asarray(value).tolist()
        fields["multimask"] = "true" if multimask else "false"
        fields["response_format"] = "json"
        answer = self._json("POST", "/predict/mask", fields, files)
        masks = np.stack([decode_mask_png(base64.b64decode(m)) for m in answer["masks"]])
        return MaskResult(masks, np.asarray(answer["scores"], dtype=np.float32), int(answer["best"]),
                          int(answer["width"]), int(answer["height"]), answer["sha256"], answer["session_id"],
                          tuple(answer["notes"]))

    def start_image(self, image: bytes | np.ndarray | None = None, *, image_path: str | None = None) -> ImageSession:
        """``POST /image/start``: the server keeps the image's embedding until stop (or its lifetime ends)."""
        fields, files = self._image_fields(image, image_path, None)
        answer = self._json("POST", "/image/start", fields, files)
        return ImageSession(answer["session_id"], int(answer["width"]), int(answer["height"]), answer["sha256"],
                            float(answer["expires_in_s"]))

    def stop_image(self, session_id: str) -> None:
        """``POST /image/stop``; a ServiceError 404 if the session is already gone."""
        self._json("POST", "/image/stop", {"session_id": session_id})

    def sessions(self) -> list[dict]:
        """``GET /sessions``: this token's open sessions."""
        return self._json("GET", "/sessions")["sessions"]

    def export(self, image: bytes | np.ndarray | None = None, *, objects: list[dict], session_id: str | None = None,
               image_path: str | None = None, multimask: bool = False) -> bytes:
        """``POST /export`` -> the zip's bytes (masks/obj_NNN.png + manifest.json)."""
        fields, files = self._image_fields(image, image_path, session_id)
        fields["objects"] = objects
        fields["multimask"] = "true" if multimask else "false"
        return self._call("POST", "/export", fields, files)[1]
