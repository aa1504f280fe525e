"""Sessions: created on use, one query at a time, expiring after their timeout."""

from __future__ import annotations

import pytest

from retail_platform.warehouse.endpoint import sessions as sessions_module
from retail_platform.warehouse.endpoint.errors import EndpointError
from retail_platform.warehouse.endpoint.sessions import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(sessions_module.time, "monotonic", clock)
    return clock


def test_state_is_kept_between_queries(clock: Clock) -> None:
    store = SessionStore()
    with store.use("s", None, check=False) as session:
        session.settings["max_threads"] = "2"
        session.database = "retail"
    with store.use("s", None, check=False) as session:
        assert session.settings == {"max_threads": "2"} and session.database == "retail"


def test_one_query_at_a_time(clock: Clock) -> None:
    store = SessionStore()
    with store.use("s", None, check=False):
        with pytest.raises(EndpointError) as error:
            with store.use("s", None, check=False):
                pass
    assert error.value.code == 373
    with store.use("s", None, check=False):
        pass


def test_expiry_and_check(clock: Clock) -> None:
    store = SessionStore()
    with pytest.raises(EndpointError) as error:
        with store.use("s", None, check=True):
            pass
    assert error.value.code == 372
    with store.use("s", 5, check=False) as session:
        session.settings["a"] = "1"
    clock.now += 4
    with store.use("s", None, check=True) as session:
        assert session.settings == {"a": "1"}
    clock.now += 6
    with pytest.raises(EndpointError):
        with store.use("s", None, check=True):
            pass
    with store.use("s", None, check=False) as session:
        assert session.settings == {}


def test_expired_sessions_are_swept(clock: Clock) -> None:
    store = SessionStore()
    for i in range(100):
        with store.use(f"s{i}", 1, check=False):
            pass
    clock.now += 60
    with store.use("fresh", None, check=False):
        pass
    assert len(store) == 1


def test_timeout_limit(clock: Clock) -> None:
    with pytest.raises(EndpointError) as error:
        with SessionStore().use("s", 100000, check=False):
            pass
    assert error.value.code == 36
