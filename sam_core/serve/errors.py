"""Every failure leaves the server as JSON ``{"detail": "<what was wrong>"}`` with a 4xx status.

``ApiError`` is what the service's own code raises. The handlers installed by ``install_error_handlers``
turn FastAPI's validation errors and Starlette's HTTP errors into the same shape, and a last-resort
handler logs any other exception (with its traceback, in the server log only) and answers a generic 500
that carries no traceback, so a bug never leaks the server's paths or code to a client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("sam_core.serve")


class ApiError(Exception):
    """A request the service refuses: HTTP ``status`` (4xx, or 503 when busy) and a message for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def _describe_validation(error: RequestValidationError) -> str:
    """"field 'points': Field required; field 'multimask': Input should be a valid boolean" (no input echo)."""
    parts = []
    for item in error.errors()[:8]:
        location = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "form")]
        where = f"field '{'.'.join(location)}'" if location else "request"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal server error (logged on the server)")
