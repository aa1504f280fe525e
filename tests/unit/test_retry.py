"""The one retry/poll helper: bounds, what is retried, what propagates, the waits asked for."""

from __future__ import annotations

import logging

import pytest

from retail_platform.retry import poll, retrying

log = logging.getLogger(__name__)


class Flaky:
    def __init__(self, errors: list[BaseException], value: str = "ok") -> None:
        self.errors = list(errors)
        self.calls = 0
        self.value = value

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.value


def test_retrying_retries_the_named_errors_with_growing_waits():
    slept: list[float] = []
    call = Flaky([ConnectionError("a"), ConnectionError("b")])
    controller = retrying(ConnectionError, what="x", log=log, attempts=4, first_wait=1, wait_step=1, sleep=slept.append)
    assert controller(call) == "ok"
    assert call.calls == 3 and slept == [1, 2]


def test_retrying_gives_up_with_the_last_error_after_its_attempts():
    call = Flaky([ConnectionError(str(i)) for i in range(5)])
    with pytest.raises(ConnectionError, match="2"):
        retrying(ConnectionError, what="x", attempts=3, sleep=lambda s: None)(call)
    assert call.calls == 3


def test_retrying_lets_other_errors_through_at_once():
    call = Flaky([ValueError("answered")])
    with pytest.raises(ValueError):
        retrying(ConnectionError, what="x", attempts=3, sleep=lambda s: None)(call)
    assert call.calls == 1


def test_retrying_takes_a_predicate_and_needs_a_bound():
    call = Flaky([RuntimeError("HTTP 404"), RuntimeError("HTTP 500")])
    with pytest.raises(RuntimeError, match="500"):
        retrying(lambda e: "404" in str(e), what="x", within=60, sleep=lambda s: None)(call)
    assert call.calls == 2
    with pytest.raises(ValueError, match="bound"):
        retrying(ConnectionError, what="x")


def test_poll_returns_the_first_done_result():
    values = iter([1, 2, 3, 4])
    slept: list[float] = []
    assert poll(lambda: next(values), lambda v: v >= 3, timeout=60, interval=0.5, sleep=slept.append) == 3
    assert slept == [0.5, 0.5]


def test_poll_returns_the_last_result_when_time_runs_out():
    calls: list[int] = []
    assert poll(lambda: calls.append(1) or len(calls), lambda v: False, timeout=0, interval=1) == 1


def test_poll_does_not_swallow_a_probe_error():
    def probe() -> int:
        raise KeyError("gone")

    with pytest.raises(KeyError):
        poll(probe, lambda v: True, timeout=60, interval=1, sleep=lambda s: None)
