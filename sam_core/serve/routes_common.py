"""Endpoints every family shares: ``/health`` (open, no token) and ``/sessions`` (the caller's own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from sam_core.serve.service import Service, get_principal, get_service

router = APIRouter(tags=["service"])

CAPABILITIES = {"sam1": ("predict_mask", "image_sessions", "export"), "sam3": ("detect", "segment_text"),
                "sam2": ("track",)}


@router.get("/health", summary="Is the service up, and what can it do (no token needed)")
async def health(service: Annotated[Service, Depends(get_service)]) -> dict:
    engine = service.engine
    return {
        "status": "running", "model_loaded": True, "processor_ready": True,
        "model": engine.name, "family": engine.family, "device": str(engine.device),
        "capabilities": [c for e in service.engines for c in CAPABILITIES[e.family]],
        "auth_required": bool(service.config.tokens),
        "models": {e.family: e.name for e in service.engines},
    }


@router.get("/sessions", summary="The caller's open sessions, with their remaining lifetime")
async def my_sessions(
    service: Annotated[Service, Depends(get_service)], principal: Annotated[str, Depends(get_principal)],
) -> dict:
    return {"sessions": service.sessions.describe_owner(principal),
            "limits": {"per_token": service.sessions.max_per_owner, "ttl_s": service.sessions.ttl_s}}


@router.get("/stats", summary="Queue, embedding cache and session counts (for the instructor)")
async def stats(
    service: Annotated[Service, Depends(get_service)], _: Annotated[str, Depends(get_principal)],
) -> dict:
    caches = [("embedding_cache", service.engine)] + ([("concept_cache", service.concept)] if service.concept else [])
    return {
        "queued": service.worker.pending, "max_queued": service.worker.max_queued,
        **{key: {"entries": len(e.cache), "capacity": e.cache.capacity, "hits": e.cache.hits,
                 "misses": e.cache.misses} for key, e in caches},
        "sessions": {"open": len(service.sessions), "max": service.sessions.max_sessions,
                     "frames_held": service.sessions.frames_held, "max_frames": service.sessions.max_frames},
    }
