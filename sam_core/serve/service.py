"""What every endpoint shares: the configuration, the engine, the worker queue and the session store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request, UploadFile

from sam_core.serve.config import ServerConfig
from sam_core.serve.engine import EncodedImage, ModelWorker, Sam1Engine
from sam_core.serve.errors import ApiError
from sam_core.serve.security import PRINCIPAL_KEY, resolve_media_path
from sam_core.serve.sessions import SessionStore


@dataclass
class Service:
    config: ServerConfig
    engine: Sam1Engine
    worker: ModelWorker
    sessions: SessionStore


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
    if image is not None:
        data = await image.read()
        return await service.worker.run(service.engine.encode, data), None
    path = resolve_media_path(service.config.media_root, image_path)
    limit = service.config.max_request_bytes

    def read_and_encode() -> EncodedImage:
        try:
            with open(path, "rb") as file:
                data = file.read(limit + 1)  # never more than the limit (a file may grow after the check)
        except OSError:
            raise ApiError(403, f"the server cannot read {image_path!r}") from None
        if len(data) > limit:
            raise ApiError(413, f"{image_path!r} is larger than this server's limit of {limit / 2**20:.1f} MiB")
        return service.engine.encode(data)

    return await service.worker.run(read_and_encode), None
