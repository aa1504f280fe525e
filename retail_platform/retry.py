"""The platform's one way to retry a failing call and to poll for a condition (tenacity).

Two shapes cover every wait in the package:

* ``retrying``: call again after an error the caller names as transient (a connection that gave no
  answer, a Delta commit conflict), waiting ``first_wait``, then ``first_wait + wait_step``, ... and
  give up (re-raising the last error) after ``attempts`` calls or ``within`` seconds;
* ``poll``: call a probe every ``interval`` seconds until its result is ``done`` or ``timeout`` seconds
  have passed, and return the last result; the caller decides what a result that never got done means.
  An error inside the probe is not retried: it propagates at once.

``sleep`` is injectable so unit tests run a wait without waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    stop_never,
    wait_fixed,
    wait_incrementing,
)
from tenacity.stop import stop_base

T = TypeVar("T")
ErrorTypes = type[BaseException] | tuple[type[BaseException], ...]


def _stop(attempts: int | None, within: float | None) -> stop_base:
    stop: stop_base = stop_never
    if attempts is not None:
        stop = stop_after_attempt(attempts)
    if within is not None:
        stop = stop_after_delay(within) if attempts is None else stop | stop_after_delay(within)
    return stop


def retrying(
    transient: ErrorTypes | Callable[[BaseException], bool],
    *,
    what: str,
    log: logging.Logger | None = None,
    attempts: int | None = None,
    within: float | None = None,
    first_wait: float = 1.0,
    wait_step: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """A tenacity controller for ``controller(fn, *args)``: retries the errors ``transient`` names (types,
    or a predicate over the error), logging each retry (given ``log``) as "<what> failed (<error>); retrying
    in N s"."""
    if attempts is None and within is None:
        raise ValueError("a retry needs a bound: attempts or within")
    condition = (
        retry_if_exception_type(transient)
        if isinstance(transient, tuple) or isinstance(transient, type)
        else retry_if_exception(transient)
    )

    def before_sleep(state: RetryCallState) -> None:
        if log is None:
            return
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s failed (%s); retrying in %.1f s", what, error, wait)

    return Retrying(
        retry=condition,
        stop=_stop(attempts, within),
        wait=wait_incrementing(start=first_wait, increment=wait_step),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def poll(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``probe()`` every ``interval`` seconds until ``done(result)`` or ``timeout`` seconds have passed
    (the probe runs at least once); returns the last result, done or not."""
    controller = Retrying(
        retry=retry_if_result(lambda result: not done(result)),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        sleep=sleep,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    return controller(probe)
