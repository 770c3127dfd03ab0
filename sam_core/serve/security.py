"""What keeps a shared model server safe: access tokens, a request-size limit, and the media-root guard.

- ``TokenAuthMiddleware``: with tokens configured, every path but ``/health`` needs
  ``Authorization: Bearer <token>`` (401 otherwise). The token's fingerprint becomes the request's
  *principal*, the owner of the sessions it creates: another token gets 403 on them.
- ``BodyLimitMiddleware``: a request body must declare its length (411 otherwise) and stay within the
  limit (413 otherwise), checked before any byte of it is parsed (an oversized body is read and dropped
  first, so simple clients that send everything before reading get the 413); the HTTP parser (h11 /
  httptools) refuses a body longer than it declared.
- ``resolve_media_path``: the only way a client-supplied string becomes a server path.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from sam_core.serve.errors import ApiError, error_response

PRINCIPAL_KEY = "sam_principal"  # ASGI scope key holding the caller's principal
LOCAL_PRINCIPAL = "local"  # every caller of a server without tokens (loopback only)
OPEN_PATHS = frozenset({"/health"})
MAX_MEDIA_PATH_CHARS = 1024
DRAIN_LIMIT_BYTES = 256 * 2**20  # an oversized body up to this is read and dropped before the 413; larger: closed


def principal_of(token: str) -> str:
    """A stable, non-reversible name for a token (so logs and session records never hold the token)."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]


class TokenAuthMiddleware:
    """401 for a missing or unknown bearer token; otherwise records the principal in the ASGI scope."""

    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]) -> None:
        self.app = app
        self.tokens = tuple(t.encode() for t in tokens)

    def _match(self, presented: bytes) -> str | None:
        found = None
        for token in self.tokens:  # compare against every token, in constant time each
            if hmac.compare_digest(presented, token):
                found = token.decode()
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.tokens:
            scope[PRINCIPAL_KEY] = LOCAL_PRINCIPAL
            await self.app(scope, receive, send)
            return
        if scope["path"] in OPEN_PATHS:
            scope[PRINCIPAL_KEY] = None
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, presented = header.partition(b" ")
        token = self._match(presented.strip()) if scheme.lower() == b"bearer" else None
        if token is None:
            message = "an access token is required: send 'Authorization: Bearer <token>'"
            if header:
                message = "the access token was not accepted"
            response = error_response(401, message, {"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        scope[PRINCIPAL_KEY] = principal_of(token)
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """411 for a body without Content-Length, 413 for one declared larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if b"content-length" not in headers:
            if b"transfer-encoding" in headers:
                await error_response(411, "send the request with a Content-Length header")(scope, receive, send)
                return
            await self.app(scope, receive, send)  # no body at all
            return
        try:
            declared = int(headers[b"content-length"])
        except ValueError:
            await error_response(400, "the Content-Length header is not a number")(scope, receive, send)
            return
        if declared > self.max_bytes:
            message = f"the request is {declared / 2**20:.1f} MiB; this server accepts at most " \
                      f"{self.max_bytes / 2**20:.1f} MiB"
            if declared <= DRAIN_LIMIT_BYTES:
                await _discard_body(receive)  # a client that sends before reading then sees the 413, not a reset
            await error_response(413, message)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _discard_body(receive: Receive) -> None:
    """Read the request body and drop it, chunk by chunk (memory stays one chunk)."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def resolve_media_path(root: Path | None, requested: str, allow_folder: bool = False) -> Path:
    """The file under the media root that ``requested`` names, or an ApiError saying why not.

    Arguments:
      root: the configured media root (``--media-root`` / ``SAM_MEDIA_ROOT``), or None.
      requested: a path RELATIVE to the root, as the client sent it ("class/desk.png").
      allow_folder: a folder is acceptable too (a video as a folder of frames).
    Returns:
      the resolved absolute path of an existing regular file (or folder) inside ``root``.
    Raises:
      ApiError 403: no media root configured, an absolute path, or a path that leaves the root
        (``..``, or a symbolic link pointing outside); 400: empty, too long or NUL bytes;
        404: nothing (or not a regular file) at that path inside the root.
    """
    if root is None:
        raise ApiError(403, "this server reads no files by path; upload the file instead "
                            "(the operator can allow a folder with --media-root)")
    if not isinstance(requested, str) or not requested.strip():
        raise ApiError(400, "the path is empty")
    if len(requested) > MAX_MEDIA_PATH_CHARS or "\x00" in requested:
        raise ApiError(400, "the path is too long or contains a NUL byte")
    relative = Path(requested)
    if relative.is_absolute() or requested.startswith(("/", "\\", "~")):
        raise ApiError(403, "give the path relative to the server's media folder, not an absolute path")
    base = root.resolve()
    candidate = (base / relative).resolve()  # follows symbolic links, so a link pointing out is caught
    if not candidate.is_relative_to(base):
        raise ApiError(403, "the path leaves the server's media folder")
    if not (candidate.is_file() or (allow_folder and candidate.is_dir())):
        raise ApiError(404, f"no file {requested!r} in the server's media folder")
    return candidate
