"""A fair, elastic pool of engine handles.

A handle serves one statement at a time and stays busy while a streamed result is being read by a
slow client, so a fixed pool lets a few long requests stall everyone (even ``SELECT 1``). Here
``size`` handles are kept warm; a request that finds none free waits briefly in arrival order and
then gets an overflow handle (handles cost a fraction of a millisecond), up to ``size + overflow``.
Only beyond that does it queue. Overflow handles are closed when they come back to a full pool.
The most recently returned handle is handed out first: it most likely has the settings the same
client asks for again, so no SET is needed.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from retail_platform.warehouse.endpoint.engine import Handle
from retail_platform.warehouse.endpoint.errors import EndpointError


class HandlePool:
    def __init__(self, factory: Callable[[], Handle], size: int, overflow: int, grace: float = 0.02) -> None:
        self._factory = factory
        self.size = size
        self.limit = size + overflow
        self._grace = grace
        self._idle: collections.deque[Handle] = collections.deque()
        self._waiters: collections.deque[threading.Event] = collections.deque()
        self._lock = threading.Lock()
        self._total = 0
        self._closed = False
        for _ in range(size):
            self._idle.append(factory())
            self._total += 1

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._total - len(self._idle)

    def acquire(self, timeout: float) -> Handle:
        now = time.monotonic()
        deadline, grace_until = now + timeout, now + self._grace
        event = threading.Event()
        with self._lock:
            if self._idle and not self._waiters:
                return self._idle.pop()
            create = self._total < self.size
            if create:
                self._total += 1
            else:
                self._waiters.append(event)
        if create:
            return self._create()
        try:
            while True:
                now = time.monotonic()
                event.wait(max(0.0, (deadline if now >= grace_until else grace_until) - now))
                with self._lock:
                    if self._closed:
                        raise EndpointError.of("NETWORK_ERROR", "The server is shutting down")
                    # The first in line takes an idle handle; the others keep their place.
                    if self._idle and self._waiters[0] is event:
                        self._waiters.popleft()
                        handle = self._idle.pop()
                        self._wake_next()
                        return handle
                    now = time.monotonic()
                    if now >= grace_until and self._total < self.limit:
                        self._waiters.remove(event)
                        self._wake_next()
                        self._total += 1
                        break
                    if now >= deadline:
                        raise EndpointError.of(
                            "TIMEOUT_EXCEEDED", "Timeout exceeded while waiting for a free engine handle"
                        )
                    event.clear()
        except BaseException:
            with self._lock:
                if event in self._waiters:
                    self._waiters.remove(event)
                    self._wake_next()
            raise
        return self._create()

    def _create(self) -> Handle:
        """Called with the count already taken; gives it back if the engine refuses."""
        try:
            return self._factory()
        except BaseException:
            with self._lock:
                self._total -= 1
            raise

    def _wake_next(self) -> None:
        if self._waiters and self._idle:
            self._waiters[0].set()

    def release(self, handle: Handle) -> None:
        with self._lock:
            discard = handle.broken or self._closed or (len(self._idle) >= self.size and not self._waiters)
            if discard:
                self._total -= 1
            else:
                self._idle.append(handle)
                self._wake_next()
        if discard:
            handle.close()

    @contextmanager
    def lease(self, timeout: float) -> Iterator[Handle]:
        handle = self.acquire(timeout)
        try:
            yield handle
        finally:
            self.release(handle)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), collections.deque()
            self._total -= len(idle)
            for waiter in self._waiters:
                waiter.set()
        for handle in idle:
            handle.close()
