"""``create_app``: the FastAPI application, its middleware (outermost first) and its routers.

Request path: CORS (only with explicit origins) -> token check -> body-size check -> route. The
model is built before the app (``load_engine``) and shared by every request; the lifespan closes
expired sessions in the background and frees everything on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import torch
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from sam_core.serve import routes_common, routes_sam1, routes_sam3, routes_video
from sam_core.serve.config import ServerConfig
from sam_core.serve.engine import ModelWorker, Sam1Engine
from sam_core.serve.engine_sam3 import ConceptEngine
from sam_core.serve.engine_video import VideoEngine
from sam_core.serve.errors import error_response, install_error_handlers
from sam_core.serve.security import BodyLimitMiddleware, TokenAuthMiddleware
from sam_core.serve.service import Service
from sam_core.serve.sessions import SessionError, SessionStore

API_VERSION = "1"


def create_app(config: ServerConfig, engine: Sam1Engine, concept: ConceptEngine | None = None,
               video: VideoEngine | None = None) -> FastAPI:
    """The service for ``engine`` (SAM 1: points and boxes), with ``concept`` (SAM 3: /detect, /segment/text)
    and ``video`` (SAM 2: /track/*) when given, under ``config`` (call ``config.check_safe()`` first; the CLI
    does). A server without a model has no routes for it: 404, and its schema does not list them."""
    service = Service(
        config=config,
        engine=engine,
        worker=ModelWorker(config.max_queued),
        sessions=SessionStore(max_sessions=config.max_sessions, max_per_owner=config.max_sessions_per_token,
                              max_frames=config.max_session_frames, ttl_s=config.session_ttl_s),
        concept=concept,
        video=video,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def sweep_forever() -> None:
            while True:
                await asyncio.sleep(config.sweep_interval_s)
                service.sessions.sweep()
                if any(e.device.type == "cuda" for e in service.engines):
                    torch.cuda.empty_cache()  # give freed sessions' blocks back to the GPU (other processes)

        sweeper = asyncio.create_task(sweep_forever())
        try:
            yield
        finally:
            sweeper.cancel()
            service.sessions.close_all()
            service.worker.shutdown()

    app = FastAPI(
        title="SAM Lesson model service",
        version=API_VERSION,
        summary="Segment Anything over HTTP for a class: one model, many students.",
        lifespan=lifespan,
        debug=False,  # never a traceback in a response
    )
    app.state.service = service
    install_error_handlers(app)

    @app.exception_handler(SessionError)
    async def _session_error(_: Request, exc: SessionError) -> JSONResponse:
        return error_response(exc.status, str(exc))

    app.include_router(routes_common.router)
    app.include_router(routes_sam1.router)
    if concept is not None:
        app.include_router(routes_sam3.router)
    if video is not None:
        app.include_router(routes_video.router)

    # add_middleware wraps: the last added runs first.
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_request_bytes)
    app.add_middleware(TokenAuthMiddleware, tokens=config.tokens)
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], allow_credentials=False)
    return app
