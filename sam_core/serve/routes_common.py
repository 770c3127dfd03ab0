"""Endpoints every family shares: ``/health`` (open, no token) and ``/sessions`` (the caller's own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from sam_core.serve.service import Service, get_principal, get_service

router = APIRouter(tags=["service"])

CAPABILITIES = {"sam1": ("predict_mask", "image_sessions", "export")}


@router.get("/health", summary="Is the service up, and what can it do (no token needed)")
async def health(service: Annotated[Service, Depends(get_service)]) -> dict:
    engine = service.engine
    return {
        "status": "running", "model_loaded": True, "processor_ready": True,
        "model": engine.name, "family": engine.family, "device": str(engine.device),
        "capabilities": list(CAPABILITIES[engine.family]), "auth_required": bool(service.config.tokens),
    }


@router.get("/sessions", summary="The caller's open sessions, with their remaining lifetime")
async def my_sessions(
    service: Annotated[Service, Depends(get_service)], principal: Annotated[str, Depends(get_principal)],
) -> dict:
    return {"sessions": service.sessions.describe_owner(principal),
            "limits": {"per_token": service.sessions.max_per_owner, "ttl_s": service.sessions.ttl_s}}
