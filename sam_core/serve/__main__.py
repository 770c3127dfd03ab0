"""``python -m sam_core.serve --model nano [--concept-model sam3] [--video-model sam2.1_hiera_tiny]
[--host 127.0.0.1] [--port 8001] [--token T] [--media-root DIR]``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sam_core.device import set_mps_fallback_env
from sam_core.serve.config import TOKEN_ENV, ServerConfig, media_root_from, tokens_from
from sam_core.weights.checkpoint import CheckpointError


def parse_args(argv: list[str] | None = None) -> ServerConfig:
    defaults = ServerConfig()
    parser = argparse.ArgumentParser(prog="python -m sam_core.serve", description=__doc__)
    parser.add_argument("--model", default=defaults.model, help="registry name (nano, mobile_sam, sam_vit_b, ...)")
    parser.add_argument("--checkpoint", type=Path, help="weights file (default: registry / SAM_CHECKPOINT)")
    parser.add_argument("--concept-model", help="SAM 3 model for /detect and /segment/text (registry name or size)")
    parser.add_argument("--concept-checkpoint", type=Path, help="its weights (needed for a bare size)")
    parser.add_argument("--video-model", help="SAM 2 model for /track/* (registry name or Hiera size)")
    parser.add_argument("--video-checkpoint", type=Path, help="its weights (needed for a bare size)")
    parser.add_argument("--video-image-size", type=int, default=defaults.video_image_size,
                        help="SAM 2 input size (1024 as trained; smaller is faster on a CPU)")
    parser.add_argument("--max-video-frames", type=int, default=defaults.max_video_frames)
    parser.add_argument("--max-video-mp", type=float, default=defaults.max_video_pixels / 1e6,
                        help="frames x width x height of one video, in megapixels")
    parser.add_argument("--device", help="cuda, cuda:1, mps or cpu (default: SAM_DEVICE, else cuda -> mps -> cpu)")
    parser.add_argument("--host", default=defaults.host, help="address to bind; not loopback needs a token")
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--token", action="append", help=f"accepted bearer token (repeatable; or {TOKEN_ENV})")
    parser.add_argument("--token-file", type=Path, help="file with one accepted token per line")
    parser.add_argument("--cors-origin", action="append", default=[], help="allowed browser origin (repeatable)")
    parser.add_argument("--media-root", help="folder readable by relative path (or SAM_MEDIA_ROOT)")
    parser.add_argument("--max-request-mb", type=float, default=defaults.max_request_bytes / 2**20)
    parser.add_argument("--max-image-mp", type=float, default=defaults.max_image_pixels / 1e6)
    parser.add_argument("--max-sessions", type=int, default=defaults.max_sessions)
    parser.add_argument("--max-sessions-per-token", type=int, default=defaults.max_sessions_per_token)
    parser.add_argument("--max-session-frames", type=int, default=defaults.max_session_frames,
                        help="frames held by all sessions together (an image session holds one)")
    parser.add_argument("--session-ttl-s", type=float, default=defaults.session_ttl_s)
    parser.add_argument("--cache-size", type=int, default=defaults.embedding_cache_size)
    args = parser.parse_args(argv)
    return ServerConfig(
        model=args.model, checkpoint=args.checkpoint, device=args.device, host=args.host, port=args.port,
        concept_model=args.concept_model, concept_checkpoint=args.concept_checkpoint,
        video_model=args.video_model, video_checkpoint=args.video_checkpoint,
        video_image_size=args.video_image_size, max_video_frames=args.max_video_frames,
        max_video_pixels=int(args.max_video_mp * 1e6),
        tokens=tokens_from(args.token, token_file=args.token_file), cors_origins=tuple(args.cors_origin),
        media_root=media_root_from(args.media_root),
        max_request_bytes=int(args.max_request_mb * 2**20), max_image_pixels=int(args.max_image_mp * 1e6),
        max_sessions=args.max_sessions, max_sessions_per_token=args.max_sessions_per_token,
        max_session_frames=args.max_session_frames,
        session_ttl_s=args.session_ttl_s, embedding_cache_size=args.cache_size,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    set_mps_fallback_env()  # Apple MPS: ops without an MPS kernel run on the CPU (seed 004 §5.8)
    try:
        config = parse_args(argv)
        config.check_safe()
    except (ValueError, OSError) as error:  # OSError: an unreadable --token-file
        print(f"sam_core.serve: {error}", file=sys.stderr)
        return 2
    import uvicorn

    from sam_core.serve.app import create_app
    from sam_core.serve.engine import load_engine
    from sam_core.serve.engine_sam3 import load_concept_engine
    from sam_core.serve.engine_video import load_video_engine

    sizes = dict(max_pixels=config.max_image_pixels, min_side=config.min_image_side)
    concept = video = None
    loading = config.model
    try:
        engine = load_engine(config.model, config.checkpoint, config.device, cache_size=config.embedding_cache_size,
                             **sizes)
        if config.concept_model:
            loading = config.concept_model
            concept = load_concept_engine(config.concept_model, config.concept_checkpoint, config.device,
                                          cache_size=config.embedding_cache_size, **sizes)
        if config.video_model:
            loading = config.video_model
            video = load_video_engine(config.video_model, config.video_checkpoint, config.device,
                                      image_size=config.video_image_size, max_frames=config.max_video_frames,
                                      max_file_bytes=config.max_request_bytes,
                                      max_video_pixels=config.max_video_pixels, **sizes)
    except (ValueError, CheckpointError, OSError) as error:
        print(f"sam_core.serve: cannot load model '{loading}': {error}", file=sys.stderr)
        return 2
    served = ", ".join(e.name for e in (engine, concept, video) if e is not None)
    logging.getLogger("sam_core.serve").info("serving %s (%s) on %s:%d, %s", served, engine.device,
                                             config.host, config.port,
                                             f"{len(config.tokens)} token(s)" if config.tokens else "no token")
    uvicorn.run(create_app(config, engine, concept, video), host=config.host, port=config.port, log_level="info",
                server_header=False, timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
