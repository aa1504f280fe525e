"""The handle pool: warm handles, overflow after a short wait, arrival order, broken handles."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from retail_platform.warehouse.endpoint.errors import EndpointError
from retail_platform.warehouse.endpoint.pool import HandlePool


class FakeHandle:
    created = 0

    def __init__(self) -> None:
        FakeHandle.created += 1
        self.id = FakeHandle.created
        self.broken = False
        self.closed = False

    def close(self) -> None:
        self.closed = True


def make_pool(size: int, overflow: int, grace: float = 0.01) -> HandlePool:
    return HandlePool(FakeHandle, size, overflow, grace)  # type: ignore[arg-type]


def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_warm_handles_are_reused() -> None:
    pool = make_pool(2, 0)
    first = pool.acquire(1)
    pool.release(first)
    again = pool.acquire(1)
    assert again is first and pool.in_use == 1


def test_overflow_when_all_are_busy_then_closed_on_return() -> None:
    pool = make_pool(2, 2)
    held = [pool.acquire(1) for _ in range(2)]
    extra = pool.acquire(1)  # after the grace period, not blocked behind the busy ones
    assert pool.in_use == 3
    for handle in held:
        pool.release(handle)
    pool.release(extra)
    assert extra.closed and pool.in_use == 0  # type: ignore[attr-defined]


def test_limit_then_timeout() -> None:
    pool = make_pool(1, 1)
    pool.acquire(1), pool.acquire(1)
    with pytest.raises(EndpointError) as error:
        pool.acquire(0.05)
    assert error.value.name == "TIMEOUT_EXCEEDED"


def test_waiters_are_served_in_arrival_order() -> None:
    pool = make_pool(1, 0)
    held = pool.acquire(1)
    served: list[str] = []

    def wait(name: str) -> None:
        handle = pool.acquire(10)
        served.append(name)
        if name == "first":
            second_waiting.wait(10)
        pool.release(handle)

    second_waiting = threading.Event()
    first = threading.Thread(target=wait, args=("first",))
    first.start()
    eventually(lambda: len(pool._waiters) == 1)
    second = threading.Thread(target=wait, args=("second",))
    second.start()
    eventually(lambda: len(pool._waiters) == 2)
    late = pool.acquire  # a newcomer may not overtake the queue while handles are idle
    pool.release(held)
    eventually(lambda: served == ["first"])
    second_waiting.set()
    first.join(10), second.join(10)
    assert served == ["first", "second"]
    assert late(1) is held


def test_broken_handles_are_replaced() -> None:
    pool = make_pool(1, 0)
    handle = pool.acquire(1)
    handle.broken = True
    pool.release(handle)
    assert handle.closed  # type: ignore[attr-defined]
    assert pool.acquire(1) is not handle


def test_close_wakes_waiters_and_closes_idle_handles() -> None:
    pool = make_pool(1, 0)
    held = pool.acquire(1)
    errors: list[EndpointError] = []

    def wait() -> None:
        try:
            pool.acquire(10)
        except EndpointError as error:
            errors.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    eventually(lambda: len(pool._waiters) == 1)
    pool.close()
    waiter.join(10)
    assert errors and errors[0].name == "NETWORK_ERROR"
    pool.release(held)
    assert held.closed  # type: ignore[attr-defined]
