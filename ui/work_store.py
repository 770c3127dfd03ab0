"""A student's work kept on the server, so it survives a reload and a server restart.

Each browser tab carries an unguessable token in its URL (`?work=...`, 128 random bits). The pages save
their small state (image choice, points, box, chosen mask ...) under that token as JSON, and the
student's decoded upload by content hash as a PNG. A new Streamlit session (a reload, or the same tab
reconnecting after a restart) finds the token in its URL and restores the work. Nothing is looked up
by anything a student can guess: no token, nothing restored; another tab has another token.

Bounded: a state file is at most MAX_STATE_BYTES, images at most MAX_IMAGE_BYTES in all (the oldest go
first), everything older than TTL_S expires. The folder is SAM_LESSON_WORK_DIR, by default
~/.cache/sam_lesson/work (XDG_CACHE_HOME is honoured).

    store = default_store()
    token = work_token()                          # from the URL, created on the first visit
    store.save_page(token, "segment", {...})      # JSON-able values only
    saved = store.load_page(token, "segment")     # {} when there is nothing
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import secrets
import time
from pathlib import Path

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

TOKEN_PARAM = "work"  # the URL query parameter
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
_DIGEST_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_STATE_BYTES = 256 * 1024  # points are bounded (ui.prompt_state.MAX_POINTS): a state is a few KB
MAX_IMAGE_BYTES = 512 * 1024 * 1024  # all students' kept uploads together (each <= 2048 px: ~5 MB)
TTL_S = 3 * 24 * 3600  # a lesson, and the days after it


class WorkStore:
    """JSON states per token and PNG images per content hash under `root` (see the module docstring)."""

    def __init__(self, root: Path, max_image_bytes: int = MAX_IMAGE_BYTES, ttl_s: float = TTL_S):
        self.root = Path(root)
        self.max_image_bytes = max_image_bytes
        self.ttl_s = ttl_s
        (self.root / "states").mkdir(parents=True, exist_ok=True)
        (self.root / "images").mkdir(parents=True, exist_ok=True)

    # ---- states ---------------------------------------------------------------------------------------
    def _state_path(self, token: str) -> Path:
        if not valid_token(token):
            raise ValueError("not a work token")
        return self.root / "states" / f"{token}.json"

    def load(self, token: str) -> dict:
        """Every page's saved state for `token`; {} when none, expired, too large or unreadable."""
        try:
            path = self._state_path(token)
            stat = path.stat()
            if stat.st_size > MAX_STATE_BYTES or time.time() - stat.st_mtime > self.ttl_s:
                return {}
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def load_page(self, token: str, page: str) -> dict:
        value = self.load(token).get(page)
        return value if isinstance(value, dict) else {}

    def save_page(self, token: str, page: str, state: dict) -> bool:
        """Replace one page's state (atomically). False (and nothing written) if too large or unwritable."""
        data = self.load(token)
        data[page] = state
        return self._write(token, data)

    def _write(self, token: str, data: dict) -> bool:
        text = json.dumps(data, separators=(",", ":"))
        if len(text.encode()) > MAX_STATE_BYTES:
            log.warning("work state for one token is over %d bytes: not saved", MAX_STATE_BYTES)
            return False
        try:
            path = self._state_path(token)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)
        except OSError as error:
            log.warning("could not save work state: %s", error)
            return False
        return True

    def clear(self, token: str, page: str | None = None) -> None:
        """Forget one page's state, or (page None) everything saved under token."""
        if page is not None:
            data = self.load(token)
            if data.pop(page, None) is not None:
                self._write(token, data)
            return
        try:
            self._state_path(token).unlink(missing_ok=True)
        except (OSError, ValueError):
            pass

    # ---- images ---------------------------------------------------------------------------------------
    def put_image(self, rgb: np.ndarray, digest: str) -> bool:
        """Keep an uint8 [H, W, 3] image under its content hash (ui.session.image_hash)."""
        if not _DIGEST_RE.match(digest):
            raise ValueError("not an image digest")
        path = self.root / "images" / f"{digest}.png"
        try:
            if path.exists():
                path.touch()  # recently used: pruned last
                return True
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(partial, format="PNG", compress_level=1)
            partial.replace(path)
        except OSError as error:
            log.warning("could not keep an image: %s", error)
            return False
        self.prune()
        return True

    def get_image(self, digest: str) -> np.ndarray | None:
        """The kept image (read-only uint8 [H, W, 3]), or None. The file is our own PNG, not the upload."""
        if not _DIGEST_RE.match(str(digest)):
            return None
        path = self.root / "images" / f"{digest}.png"
        try:
            if time.time() - path.stat().st_mtime > self.ttl_s:
                return None
            with Image.open(path, formats=("PNG",)) as img:
                rgb = np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
            path.touch()
        except (OSError, ValueError):
            return None
        rgb.flags.writeable = False
        return rgb

    def prune(self) -> None:
        """Drop expired states and images, then the oldest images until they fit max_image_bytes."""
        now = time.time()
        for folder in ("states", "images"):
            for path in (self.root / folder).iterdir():
                try:
                    if now - path.stat().st_mtime > self.ttl_s:
                        path.unlink(missing_ok=True)
                except OSError:
                    pass
        images = []
        for path in (self.root / "images").glob("*.png"):
            try:
                stat = path.stat()
            except OSError:
                continue
            images.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in images)
        for _, size, path in sorted(images):
            if total <= self.max_image_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size


def valid_token(token: object) -> bool:
    return isinstance(token, str) and bool(_TOKEN_RE.match(token))


def new_token() -> str:
    return secrets.token_urlsafe(16)  # 128 bits, 22 characters


def default_root() -> Path:
    configured = os.environ.get("SAM_LESSON_WORK_DIR", "").strip()
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "sam_lesson" / "work"


@functools.lru_cache(maxsize=4)
def _store_at(root: str) -> WorkStore:
    return WorkStore(Path(root))


def default_store() -> WorkStore:
    return _store_at(str(default_root()))


_TOKEN_KEY = "app_work_token"


def work_token() -> str:
    """This tab's work token: from the URL (?work=...), else the session's, else a new one.

    The token is (re)written into the URL on every call, so a page switch that dropped the query
    parameter puts it back, and a reload or reconnect finds it.
    """
    import streamlit as st

    token = st.query_params.get(TOKEN_PARAM)
    if not valid_token(token):
        token = st.session_state.get(_TOKEN_KEY)
        if not valid_token(token):
            token = new_token()
    st.session_state[_TOKEN_KEY] = token
    if st.query_params.get(TOKEN_PARAM) != token:
        st.query_params[TOKEN_PARAM] = token
    return token
