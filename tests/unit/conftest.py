"""Unit tests must not touch a service: any network connection or embedded-engine open fails."""

from __future__ import annotations

import socket

import pytest


class ServiceTouched(AssertionError):
    pass


def _refuse(*args: object, **kwargs: object) -> None:
    raise ServiceTouched(
        "a unit test tried to reach a service; move it to tests/integration and mark it with the service it needs"
    )


@pytest.fixture(autouse=True)
def _no_services(monkeypatch: pytest.MonkeyPatch) -> None:
    original_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> None:
        if self.family == socket.AF_UNIX:
            return original_connect(self, address)
        _refuse()

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: _refuse())
    monkeypatch.setattr(socket, "create_connection", _refuse)
    try:
        import chdb

        monkeypatch.setattr(chdb, "connect", _refuse)
        monkeypatch.setattr(chdb, "query", _refuse)
    except ImportError:
        pass
