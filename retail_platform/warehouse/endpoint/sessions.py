"""HTTP sessions (``session_id``): the SET settings and current database that outlive one query.

clickhouse-connect opens a session per client by default, so a session is only a small record; it
never owns an engine handle. Like ClickHouse, a session serves one query at a time and expires
``session_timeout`` seconds after its last query.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from retail_platform.warehouse.endpoint.errors import EndpointError

DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0


@dataclass
class Session:
    id: str
    timeout: float
    settings: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    expires_at: float = 0.0
    busy: bool = False


LOCK_WAIT_STEPS = 200  # of 5 ms: a busy session is waited for up to about a second


class SessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    @contextmanager
    def use(self, session_id: str, timeout: float | None, check: bool) -> Iterator[Session]:
        """Hold the session for one query; create it unless ``check`` asks for an existing one."""
        if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
            raise EndpointError.of(
                "BAD_ARGUMENTS", f"Session timeout '{timeout:g}' is larger than max_session_timeout: {MAX_TIMEOUT:g}"
            )
        # A client's next query can arrive a moment before its previous request has released the
        # session (the reply is sent before the handler's cleanup), so a busy session is waited for
        # briefly before it counts as held by a concurrent client.
        for _ in range(LOCK_WAIT_STEPS):
            with self._lock:
                existing = self._sessions.get(session_id)
                if existing is None or not existing.busy:
                    break
            time.sleep(0.005)
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= now and not session.busy:
                del self._sessions[session_id]
                session = None
            if session is None:
                if check:
                    raise EndpointError.of("SESSION_NOT_FOUND", f"Session {session_id} not found")
                session = Session(session_id, timeout or DEFAULT_TIMEOUT)
                self._sessions[session_id] = session
            elif session.busy:
                raise EndpointError.of("SESSION_IS_LOCKED", f"Session {session_id} is locked by a concurrent client")
            if timeout is not None:
                session.timeout = timeout
            session.busy = True
        try:
            yield session
        finally:
            with self._lock:
                session.busy = False
                session.expires_at = time.monotonic() + session.timeout

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + 10.0
        expired = [k for k, s in self._sessions.items() if s.expires_at <= now and not s.busy]
        for key in expired:
            del self._sessions[key]
