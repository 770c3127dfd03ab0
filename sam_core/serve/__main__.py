"""``python -m sam_core.serve --model nano --host 127.0.0.1 --port 8001 [--token T] [--media-root DIR]``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sam_core.serve.config import TOKEN_ENV, ServerConfig, media_root_from, tokens_from
from sam_core.weights.checkpoint import CheckpointError


def parse_args(argv: list[str] | None = None) -> ServerConfig:
    defaults = ServerConfig()
    parser = argparse.ArgumentParser(prog="python -m sam_core.serve", description=__doc__)
    parser.add_argument("--model", default=defaults.model, help="registry name (nano, mobile_sam, sam_vit_b, ...)")
    parser.add_argument("--checkpoint", type=Path, help="weights file (default: registry / SAM_CHECKPOINT)")
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
    parser.add_argument("--session-ttl-s", type=float, default=defaults.session_ttl_s)
    parser.add_argument("--cache-size", type=int, default=defaults.embedding_cache_size)
    args = parser.parse_args(argv)
    return ServerConfig(
        model=args.model, checkpoint=args.checkpoint, device=args.device, host=args.host, port=args.port,
        tokens=tokens_from(args.token, token_file=args.token_file), cors_origins=tuple(args.cors_origin),
        media_root=media_root_from(args.media_root),
        max_request_bytes=int(args.max_request_mb * 2**20), max_image_pixels=int(args.max_image_mp * 1e6),
        max_sessions=args.max_sessions, max_sessions_per_token=args.max_sessions_per_token,
        session_ttl_s=args.session_ttl_s, embedding_cache_size=args.cache_size,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = parse_args(argv)
        config.check_safe()
    except (ValueError, OSError) as error:  # OSError: an unreadable --token-file
        print(f"sam_core.serve: {error}", file=sys.stderr)
        return 2
    import uvicorn

    from sam_core.serve.app import create_app
    from sam_core.serve.engine import load_engine

    try:
        engine = load_engine(config.model, config.checkpoint, config.device, cache_size=config.embedding_cache_size,
                             max_pixels=config.max_image_pixels, min_side=config.min_image_side)
    except (ValueError, CheckpointError) as error:
        print(f"sam_core.serve: cannot load model '{config.model}': {error}", file=sys.stderr)
        return 2
    logging.getLogger("sam_core.serve").info("serving %s (%s) on %s:%d, %s", engine.name, engine.device,
                                             config.host, config.port,
                                             f"{len(config.tokens)} token(s)" if config.tokens else "no token")
    uvicorn.run(create_app(config, engine), host=config.host, port=config.port, log_level="info",
                server_header=False, timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
