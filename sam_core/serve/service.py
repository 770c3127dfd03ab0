"""What every endpoint shares: the configuration, the engine, the worker queue and the session store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request, UploadFile

from sam_core.serve.config import ServerConfig
from sam_core.serve.engine import EncodedImage, ModelWorker, Sam1Engine
from sam_core.serve.engine_sam3 import ConceptEngine
from sam_core.serve.engine_video import VideoEngine
from sam_core.serve.errors import ApiError
from sam_core.serve.security import PRINCIPAL_KEY, resolve_media_path
from sam_core.serve.sessions import SessionStore

T = TypeVar("T")


@dataclass
class Service:
    config: ServerConfig
    engine: Sam1Engine
    worker: ModelWorker
    sessions: SessionStore
    concept: ConceptEngine | None = None  # SAM 3: /detect, /segment/text
    video: VideoEngine | None = None  # SAM 2: /track/*

    @property
    def engines(self) -> list:
        return [e for e in (self.engine, self.concept, self.video) if e is not None]


def get_service(request: Request) -> Service:
    return request.app.state.service


def get_principal(request: Request) -> str:
    """The caller's principal, set by TokenAuthMiddleware (every protected route has one)."""
    principal = request.scope.get(PRINCIPAL_KEY)
    if principal is None:
        raise ApiError(401, "an access token is required")
    return principal


def known_fields(*allowed: str) -> Callable:
    """A dependency refusing form fields the endpoint does not know (a misspelt field must not be ignored)."""
    allowed_set = frozenset(allowed)

    async def check(request: Request) -> None:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            return
        unknown = sorted(set((await request.form()).keys()) - allowed_set)
        if unknown:
            raise ApiError(422, f"unknown fields {[name[:40] for name in unknown[:5]]}; "
                                f"this endpoint takes {sorted(allowed_set)}")

    return check


async def encoded_image(service: Service, principal: str, image: UploadFile | None, image_path: str | None,
                        session_id: str | None) -> tuple[EncodedImage, str | None]:
    """The image a request names: an upload, a file under the media root, or an image session's image.

    Returns (the encoded image, the session id if one was used). Exactly one source must be given.
    """
    given = [name for name, value in (("image", image), ("image_path", image_path), ("session_id", session_id))
             if value is not None]
    if len(given) != 1:
        raise ApiError(422, "give exactly one of 'image' (an upload), 'image_path' (under the server's media "
                            f"folder) or 'session_id' (from /image/start); got {given or 'none'}")
    if session_id is not None:
        session = service.sessions.get(session_id, principal, kind="image")
        return session.payload, session.session_id
    return await encode_upload_or_path(service, service.engine.encode, image, image_path), None


async def encode_upload_or_path(service: Service, encode: Callable[[bytes], T], image: UploadFile | None,
                                image_path: str | None) -> T:
    """``encode(bytes)`` on the worker for an upload, or for a file under the media root (read there, bounded)."""
    if image is not None and image_path is not None:
        raise ApiError(422, "give either 'image' (an upload) or 'image_path', not both")
    if image is not None:
        data = await image.read()
        return await service.worker.run(encode, data)
    if image_path is None:
        raise ApiError(422, "give 'image' (an upload) or 'image_path' (under the server's media folder)")
    path = resolve_media_path(service.config.media_root, image_path)
    limit = service.config.max_request_bytes

    def read_and_encode() -> T:
        try:
            with open(path, "rb") as file:
                data = file.read(limit + 1)  # never more than the limit (a file may grow after the check)
        except OSError:
            raise ApiError(403, f"the server cannot read {image_path!r}") from None
        if len(data) > limit:
            raise ApiError(413, f"{image_path!r} is larger than this server's limit of {limit / 2**20:.1f} MiB")
        return encode(data)

    return await service.worker.run(read_and_encode)
