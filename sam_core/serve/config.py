"""The server's settings: one dataclass, a why-comment per default, and the rules that keep it safe.

``ServerConfig.from_args`` is the only place command-line flags and environment variables are read;
``check_safe`` refuses a configuration that would expose the model to a network without a token.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

TOKEN_ENV = "SAM_SERVE_TOKEN"  # one token, or several separated by commas (one per student group)
MEDIA_ROOT_ENV = "SAM_MEDIA_ROOT"  # the only folder whose files the API may read (by relative path)
MIN_TOKEN_CHARS = 16  # shorter tokens can be guessed by a class of curious students with a loop


@dataclass(frozen=True)
class ServerConfig:
    """Everything the service needs to start; every limit is per server process."""

    model: str = "nano"  # registry name (sam_core.weights.registry); nano ships with the app, works offline
    checkpoint: Path | None = None  # explicit weights file; None: the registry / SAM_CHECKPOINT decide
    concept_model: str | None = None  # SAM 3 (registry name or SAM3_CONFIGS size) for /detect, /segment/text
    concept_checkpoint: Path | None = None  # its weights; None: the registry's (a bare size needs one)
    video_model: str | None = None  # SAM 2 (registry name or HIERA_SIZES size) for /track/*
    video_checkpoint: Path | None = None  # its weights; None: the registry's (a bare size needs one)
    video_image_size: int = 1024  # SAM 2's input size; smaller is faster on a CPU, less accurate
    device: str | None = None  # None: SAM_DEVICE, else cuda -> mps -> cpu (sam_core.device)
    host: str = "127.0.0.1"  # loopback: nothing outside this machine can connect unless asked for
    port: int = 8001  # the seed's model-service port
    tokens: tuple[str, ...] = ()  # accepted bearer tokens; required when host is not loopback
    cors_origins: tuple[str, ...] = ()  # browsers may call from these origins only; none: CORS off
    media_root: Path | None = None  # files readable through `image_path` / `video_path`; None: none

    max_request_bytes: int = 40 * 2**20  # the app's upload limit; a request body larger than this is 413
    max_image_pixels: int = 4096 * 4096  # 16.8 MP: a 12 MP phone photo fits; masks come back at full size
    min_image_side: int = 16  # smaller than one ViT patch: nothing to segment
    max_points: int = 64  # SAM was trained with ~10 clicks; 64 is generous and keeps one decode cheap
    max_objects: int = 32  # objects in one /export (each costs one decode)
    max_exemplar_boxes: int = 16  # SAM 3 exemplar boxes per request (each re-runs the detector heads)
    max_video_frames: int = 300  # frames in one tracking session: 10 s at 30 fps
    max_video_pixels: int = 300 * 1920 * 1080  # frames x width x height of one video: 10 s of 1080p (1.9 GB
    # decoded); small PNGs of a huge frame would otherwise decode to many GB (a "video bomb")

    embedding_cache_size: int = 32  # image embeddings kept (LRU); vit_h: ~8 MB each with the positional map
    max_queued: int = 128  # model calls waiting for the worker; beyond this a request gets 503 + Retry-After

    session_ttl_s: float = 15 * 60  # a session idle this long is closed (a lesson's pause, not a day)
    max_sessions: int = 64  # two per student of a class of thirty, and a few spare
    max_sessions_per_token: int = 16  # one token cannot take every slot
    max_session_frames: int = 2000  # held by all sessions together (an image session holds one); a video
    # frame costs SAM 2 ~12.6 MB of host memory at 1024 px (3 x 1024^2 float32), so 2000 frames ~ 25 GB
    sweep_interval_s: float = 30.0  # how often expired sessions are closed in the background

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def check_safe(self) -> None:
        """Raise ValueError for a configuration that must not start (see the module docstring)."""
        if not self.is_loopback and not self.tokens:
            raise ValueError(
                f"Refusing to listen on {self.host!r} without an access token: anyone on the network could "
                f"use the model. Pass --token (or set {TOKEN_ENV}), or bind to 127.0.0.1."
            )
        for token in self.tokens:
            if len(token) < MIN_TOKEN_CHARS:
                raise ValueError(
                    f"Access tokens must have at least {MIN_TOKEN_CHARS} characters; "
                    "make one with: python -c 'import secrets; print(secrets.token_urlsafe(24))'"
                )
        if "*" in self.cors_origins:
            raise ValueError("CORS origin '*' is not allowed: list the exact origins (https://host:port).")
        if self.media_root is not None and not self.media_root.is_dir():
            raise ValueError(f"--media-root {self.media_root} is not a folder.")
        for name in ("max_request_bytes", "max_image_pixels", "max_points", "max_objects", "max_sessions",
                     "max_exemplar_boxes", "max_video_frames", "max_video_pixels", "video_image_size", "max_sessions_per_token",
                     "max_session_frames", "embedding_cache_size", "max_queued"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1.")


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; False for 0.0.0.0, "::" and every other address."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def tokens_from(values: list[str] | None, environ: dict[str, str] | None = None,
                token_file: Path | None = None) -> tuple[str, ...]:
    """Tokens from repeated ``--token`` flags and ``--token-file`` (one per line, # comments), else from
    ``SAM_SERVE_TOKEN`` (comma-separated)."""
    environ = os.environ if environ is None else environ
    raw = list(values or [])
    if token_file is not None:
        raw += [line.split("#", 1)[0] for line in token_file.read_text().splitlines()]
    if not any(t.strip() for t in raw):
        raw = environ.get(TOKEN_ENV, "").split(",")
    return tuple(dict.fromkeys(t.strip() for t in raw if t.strip()))


def media_root_from(value: str | None, environ: dict[str, str] | None = None) -> Path | None:
    """``--media-root`` if given, else ``SAM_MEDIA_ROOT``, resolved; None when neither is set."""
    environ = os.environ if environ is None else environ
    chosen = value or environ.get(MEDIA_ROOT_ENV, "").strip() or None
    return Path(chosen).expanduser().resolve() if chosen else None
