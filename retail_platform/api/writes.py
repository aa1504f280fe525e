"""Adjustments become inventory_update events, produced to Kafka with acks=all.

The event carries the stock after the change (``new_quantity``), so the API needs the level before
it: the serving view's, unless an API process produced a newer event for the same store/product that
the stream has not applied yet (``Pending``). Without that, two adjustments a second apart would both
start from the same level and the first would be lost. Adjustments of one store/product are
serialised for the same reason, across the worker processes of one host (RETAIL_API_WORKERS): the
levels live in SQLite beside the API's state and the lock is a record lock on a file there. Replicas
on several hosts would need the level from a single writer per store."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from retail_platform.events import contracts

TOPIC = contracts.EVENT_TYPES["inventory_update"].topic.name
SEND_TIMEOUT_S = 15.0


def event_time_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def build_event(
    event_id: str, moment: datetime, store_id: str, product_id: str, change: int, new_quantity: int,
    reason: str, reference: str | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "event_id": event_id,
        "event_type": "inventory_update",
        "schema_version": 1,
        "event_time": event_time_text(moment),
        "store_id": store_id,
        "product_id": product_id,
        "quantity_change": change,
        "new_quantity": new_quantity,
        "reason": reason,
        "reference_id": reference,
    }


class Pending:
    """Levels the API's processes produced that the serving view may not show yet, per store/product,
    and the lock that serialises the adjustments of one store/product.

    With ``path`` (the API): the levels are a SQLite table every worker process reads, and the lock
    is a POSIX record lock on one byte of ``<path>.lock`` picked by the key's hash, taken under an
    in-process lock for the same byte (record locks belong to the process, so its threads need their
    own; keys sharing a byte only wait for each other). Without ``path``: one process, in memory."""

    def __init__(self, path: Path | None = None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            ":memory:" if path is None else path, check_same_thread=False, isolation_level=None, timeout=30
        )
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS pending_levels (store_id TEXT NOT NULL, product_id TEXT NOT NULL,"
            " event_time TEXT NOT NULL, quantity INTEGER NOT NULL, PRIMARY KEY (store_id, product_id))"
        )
        self._db_lock = threading.Lock()
        self._file = None if path is None else os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextmanager
    def lock(self, store_id: str, product_id: str) -> Iterator[None]:
        byte = zlib.crc32(f"{store_id}\x00{product_id}".encode())
        with self._guard:
            local = self._locks.setdefault(byte, threading.Lock())
        with local:
            if self._file is None:
                yield
                return
            fcntl.lockf(self._file, fcntl.LOCK_EX, 1, byte)
            try:
                yield
            finally:
                fcntl.lockf(self._file, fcntl.LOCK_UN, 1, byte)

    def base(self, store_id: str, product_id: str, view_level: int, view_as_of: datetime | None) -> int:
        """The level to change: the view's, or a newer level produced and not yet applied."""
        with self._db_lock:
            row = self._db.execute(
                "SELECT event_time, quantity FROM pending_levels WHERE store_id = ? AND product_id = ?",
                (store_id, product_id),
            ).fetchone()
            if row is None:
                return view_level
            if view_as_of is not None and view_as_of >= datetime.fromisoformat(row[0]):
                self._db.execute(  # the view has caught up
                    "DELETE FROM pending_levels WHERE store_id = ? AND product_id = ?", (store_id, product_id)
                )
                return view_level
            return int(row[1])

    def produced(self, store_id: str, product_id: str, event_time: datetime, quantity: int) -> None:
        with self._db_lock:
            self._db.execute(
                "INSERT OR REPLACE INTO pending_levels (store_id, product_id, event_time, quantity)"
                " VALUES (?, ?, ?, ?)",
                (store_id, product_id, event_time.isoformat(), quantity),
            )

    def close(self) -> None:
        with self._db_lock:
            self._db.close()
        if self._file is not None:
            os.close(self._file)
            self._file = None


class EventWriter:
    """A kafka-python producer with acks=all and idempotence; ``send`` returns once the log has it."""

    def __init__(self, bootstrap: str, **security: Any) -> None:
        """``security``: kafka_security.client_options (SSL verified with the platform's CA) or nothing."""
        from kafka import KafkaProducer

        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id="retail-inventory-api",
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            **security,
        )

    def send(self, event: dict[str, Any]) -> None:
        value = json.dumps(event, separators=(",", ":")).encode()
        future = self.producer.send(TOPIC, key=event["store_id"].encode(), value=value)
        future.get(timeout=SEND_TIMEOUT_S)

    def close(self) -> None:
        self.producer.close(timeout=5)
