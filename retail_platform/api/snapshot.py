"""A short-lived copy of the serving stock, held by the API process for the stock reads.

Why: every read of ``v_stock_current`` costs the warehouse a fixed ~20-50 ms of planning and joins
(four sources, FINAL), whether it returns one row or all of them, and the machine has two cores: one
query per request caps the API at a few dozen answers a second. So the process reads the whole
answer (the view, the demand rate, the product names) once, keeps it, and answers a product's stock
from memory.

Bounded staleness: a background thread re-reads the view every ``max_age / 2``; a copy is used only
while it is younger than ``max_age`` (else the caller reads the warehouse itself), and every answer
says when its copy was read (``read_at``). Read-your-writes: once a caller has seen its own event in
the warehouse, ``require_after`` makes every copy read before that moment unusable, so no later read
can answer an older level (the caller falls back to the warehouse until the next copy is in). Each
worker process holds its own copy; the moment is shared by all of them (``Floor``), so the guarantee
holds whichever worker answers the next read."""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Copy:
    """One read of the stock: rows per product (ordered by store), when it was read."""

    by_product: dict[str, list[dict[str, Any]]]
    read_at: datetime  # wall-clock time the read started: it includes every event queryable then
    started: float  # the same moment on the monotonic clock (ages are measured on it)
    # The answers rendered from this copy, by product and store scope (None: every store). A copy never
    # changes, so a question asked again gets the same bytes without building them again.
    answers: dict[tuple[str, tuple[str, ...] | None], bytes] = field(default_factory=dict, compare=False)


_FLOOR = struct.Struct("<d")


class Floor:
    """The moment (monotonic clock, which is the same for every process of the host) before which no
    stock copy may answer. With ``path``: an 8-byte memory-mapped file the API's worker processes
    share, so reading it on every request costs no system call; raised under a file lock. Without:
    held in this process."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._file: int | None = None
        self._cell: mmap.mmap | bytearray
        if path is None:
            self._cell = bytearray(_FLOOR.pack(float("-inf")))
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        with self._locked():
            if os.fstat(self._file).st_size < _FLOOR.size:
                os.write(self._file, _FLOOR.pack(float("-inf")))
        self._cell = mmap.mmap(self._file, _FLOOR.size)

    @staticmethod
    def reset(path: Path) -> None:
        """No floor: called by the process that starts the workers, before it starts them (the
        monotonic clock restarts with the host, so a moment kept from an earlier run means nothing)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, _FLOOR.pack(float("-inf")))
        finally:
            os.close(fd)

    def get(self) -> float:
        return float(_FLOOR.unpack_from(self._cell)[0])

    def raise_to(self, moment: float) -> None:
        with self._locked():
            if moment > self.get():
                _FLOOR.pack_into(self._cell, 0, moment)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            if self._file is None:
                yield
                return
            fcntl.flock(self._file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._file, fcntl.LOCK_UN)


@dataclass
class StockSnapshot:
    """Holds the newest ``Copy`` read by ``load`` (every stock row, in any order)."""

    load: Callable[[], list[dict[str, Any]]]
    max_age_s: float
    clock: Callable[[], float] = time.monotonic
    floor: Floor = field(default_factory=Floor)
    _copy: Copy | None = field(default=None, init=False)
    _wake: threading.Event = field(default_factory=threading.Event, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def refresh(self) -> Copy:
        started, read_at = self.clock(), datetime.now(timezone.utc)
        by_product: dict[str, list[dict[str, Any]]] = {}
        for row in sorted(self.load(), key=lambda r: (r["product_id"], r["store_id"])):
            by_product.setdefault(row["product_id"], []).append(row)
        copy = Copy(by_product, read_at, started)
        self._copy = copy  # one reference swap: readers see the old copy or the new one, whole
        return copy

    def current(self) -> Copy | None:
        """The copy, if it is young enough and read after every ``require_after`` moment; else None."""
        copy = self._copy
        if copy is None or copy.started < self.floor.get() or self.clock() - copy.started > self.max_age_s:
            return None
        return copy

    def require_after(self, moment: float) -> None:
        """Copies read before ``moment`` (monotonic clock) no longer answer; the next read is made now."""
        self.floor.raise_to(moment)
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stock-snapshot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        period = self.max_age_s / 2
        while not self._stop.is_set():
            self._wake.clear()
            started = self.clock()
            try:
                self.refresh()
            except Exception:  # the warehouse is away: readers fall back to it (and get its error) until it is back
                log.warning("stock snapshot: reading the serving view failed", exc_info=True)
            self._wake.wait(max(0.0, period - (self.clock() - started)))
