"""Server-side sessions: unguessable ids owned by one principal, with an idle lifetime and limits.

A session holds state that is too heavy to send with every request: an image session
(``/image/start``: the image's embedding, so clicks send only coordinates) or a video tracking session
(``/track/start`` .. ``/track/stop``: SAM 2's resized frames and memory bank).

Limits, all per server: ``max_sessions`` open sessions, ``max_per_owner`` of them for one token, and
``max_frames`` frames held by all sessions together (an image session holds one frame, a video
session its frame count). A session unused for ``ttl_s`` seconds is closed by ``sweep`` (run on every
call and periodically by the server). Closing runs the session's ``on_close`` (to free GPU memory).

Errors: ``SessionNotFound`` (404: unknown, expired or stopped), ``SessionForbidden`` (403: another
token's session), ``SessionWrongKind`` (409), ``SessionLimit`` (429: stop a session first).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("sam_core.serve")
SESSION_ID_BYTES = 24  # 192 random bits, url-safe base64: 32 characters


class SessionError(Exception):
    status = 400


class SessionNotFound(SessionError):
    status = 404


class SessionForbidden(SessionError):
    status = 403


class SessionWrongKind(SessionError):
    status = 409


class SessionLimit(SessionError):
    status = 429


@dataclass
class Session:
    session_id: str
    owner: str  # the principal (token fingerprint) that created it
    kind: str  # "image" (/image/start) or "video" (/track/start)
    payload: Any  # the state the endpoints need (e.g. a SamPredictor with the image set)
    frames: int  # frames counted against the server's frame budget
    created: float
    last_used: float
    on_close: Callable[[Any], None] | None = field(default=None, repr=False)

    def describe(self, now: float, ttl_s: float) -> dict:
        return {"session_id": self.session_id, "kind": self.kind, "frames": self.frames,
                "expires_in_s": round(max(0.0, self.last_used + ttl_s - now), 1)}


class SessionStore:
    """Thread-safe map of session id -> Session, with lifetime and limits (see the module docstring)."""

    def __init__(self, *, max_sessions: int, max_per_owner: int, max_frames: int, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_sessions = max_sessions
        self.max_per_owner = max_per_owner
        self.max_frames = max_frames
        self.ttl_s = ttl_s
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    @property
    def frames_held(self) -> int:
        with self._lock:
            return sum(s.frames for s in self._sessions.values())

    def create(self, owner: str, kind: str, payload: Any, frames: int = 1,
               on_close: Callable[[Any], None] | None = None) -> Session:
        """Open a session for ``owner``; raises SessionLimit when a limit would be exceeded."""
        if frames < 1:
            raise ValueError("a session holds at least one frame")
        self.sweep()
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise SessionLimit(f"the server already holds {self.max_sessions} sessions; "
                                   "stop one or try again later")
            owned = sum(1 for s in self._sessions.values() if s.owner == owner)
            if owned >= self.max_per_owner:
                raise SessionLimit(f"this token already holds {self.max_per_owner} sessions; stop one first")
            held = sum(s.frames for s in self._sessions.values())
            if held + frames > self.max_frames:
                raise SessionLimit(f"the session needs {frames} frames but only {self.max_frames - held} of "
                                   f"the server's {self.max_frames} are free")
            session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
            now = self.clock()
            session = Session(session_id, owner, kind, payload, frames, now, now, on_close)
            self._sessions[session_id] = session
            return session

    def get(self, session_id: str, owner: str, kind: str | None = None) -> Session:
        """The session, its lifetime renewed; raises SessionNotFound / SessionForbidden / SessionWrongKind."""
        self.sweep()
        with self._lock:
            session = self._sessions.get(session_id) if isinstance(session_id, str) else None
            if session is None:
                raise SessionNotFound("no such session (it may have expired or been stopped)")
            if not secrets.compare_digest(session.owner, owner):
                raise SessionForbidden("this session belongs to another access token")
            if kind is not None and session.kind != kind:
                raise SessionWrongKind(f"session is a {session.kind} session, not a {kind} session")
            session.last_used = self.clock()
            return session

    def close(self, session_id: str, owner: str, kind: str | None = None) -> Session:
        """Close one session (checked as ``get``) and free what it holds."""
        session = self.get(session_id, owner, kind)
        with self._lock:
            self._sessions.pop(session.session_id, None)
        self._release(session)
        return session

    def sweep(self) -> int:
        """Close every session idle for longer than ``ttl_s``; returns how many were closed."""
        now = self.clock()
        with self._lock:
            expired = [s for s in self._sessions.values() if now - s.last_used > self.ttl_s]
            for session in expired:
                del self._sessions[session.session_id]
        for session in expired:
            self._release(session)
        return len(expired)

    def describe_owner(self, owner: str) -> list[dict]:
        """The sessions ``owner`` holds, as ``Session.describe`` dicts (after a sweep)."""
        self.sweep()
        now = self.clock()
        with self._lock:
            return [s.describe(now, self.ttl_s) for s in self._sessions.values() if s.owner == owner]

    def close_all(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            self._release(session)

    @staticmethod
    def _release(session: Session) -> None:
        if session.on_close is not None:
            try:
                session.on_close(session.payload)
            except Exception:  # noqa: BLE001 - freeing one session must not break the others
                logger.exception("closing session %s failed", session.session_id[:6])
        session.payload = None
