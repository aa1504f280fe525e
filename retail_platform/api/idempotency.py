"""Idempotency keys, kept durably in SQLite beside the API's state.

A client retries a POST with the same ``Idempotency-Key``; the API must create one event only. The
event id is derived from (caller, key) (``event_id_for``), so even a retry that arrives after a crash
between producing and recording carries the same event id, and the stream's event-id deduplication
drops the copy. The record here adds what the derived id cannot: the first answer is replayed as it
was, and the same key with a different body is refused instead of silently ignored."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A fixed namespace: event ids of API adjustments are UUIDv5(namespace, caller + key).
NAMESPACE = uuid.UUID("6f1c1f9e-4c0b-5d8e-9a53-5d0c2b7f8a11")
MAX_KEY_LENGTH = 128


def event_id_for(subject: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{subject}\x00{key}"))


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Recorded:
    request_hash: str
    status: int
    response: dict[str, Any]


class IdempotencyStore:
    """(subject, key) -> the first answer. Safe across threads; WAL so readers never wait on a writer."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a recorded key survives a power cut
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS idempotency_keys ("
            " subject TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,"
            " status INTEGER NOT NULL, response TEXT NOT NULL,"
            " created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),"
            " PRIMARY KEY (subject, key))"
        )
        self._lock = threading.Lock()

    def get(self, subject: str, key: str) -> Recorded | None:
        with self._lock:
            row = self._db.execute(
                "SELECT request_hash, status, response FROM idempotency_keys WHERE subject = ? AND key = ?",
                (subject, key),
            ).fetchone()
        return None if row is None else Recorded(row[0], row[1], json.loads(row[2]))

    def put(self, subject: str, key: str, recorded: Recorded) -> Recorded:
        """Record the first answer; if another request recorded one first, that one is returned."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO idempotency_keys (subject, key, request_hash, status, response)"
                " VALUES (?, ?, ?, ?, ?)",
                (subject, key, recorded.request_hash, recorded.status, json.dumps(recorded.response)),
            )
        stored = self.get(subject, key)
        assert stored is not None
        return stored

    def close(self) -> None:
        with self._lock:
            self._db.close()
