"""A handle applies a request's settings as one SET of differences from what it already has."""

from __future__ import annotations

from typing import Any

import pytest

from retail_platform.warehouse.endpoint.engine import Handle, quote
from retail_platform.warehouse.endpoint.errors import EndpointError


class FakeConn:
    def __init__(self, fail_on: str | None = None) -> None:
        self.statements: list[tuple[str, dict[str, str]]] = []
        self.fail_on = fail_on

    def query(self, sql: str, fmt: str = "CSV", params: dict[str, str] | None = None) -> Any:
        if self.fail_on and self.fail_on in sql:
            raise RuntimeError("Code: 115. DB::Exception: Unknown setting 'bogus'. (UNKNOWN_SETTING)")
        self.statements.append((sql, params or {}))


def test_only_differences_are_set() -> None:
    conn = FakeConn()
    handle = Handle(conn, {"async_insert": "0"}, "default")
    handle.prepare("default", {"max_threads": "2"})
    handle.prepare("default", {"max_threads": "2"})  # nothing to do
    handle.prepare("retail", {"max_threads": "2", "async_insert": "1"})
    handle.prepare("retail", {})
    assert conn.statements == [
        ("SET max_threads = '2'", {}),
        ("SET async_insert = '1'", {}),
        ("USE {db:Identifier}", {"db": "retail"}),
        # back to the handle's baseline, and the engine default for what the baseline does not set
        ("SET async_insert = '0', max_threads = DEFAULT", {}),
    ]


def test_values_are_quoted_and_names_checked() -> None:
    assert quote("it's \\ here") == "'it\\'s \\\\ here'"
    handle = Handle(FakeConn(), {}, "default")
    with pytest.raises(EndpointError) as error:
        handle.prepare("default", {"max_threads = 1; DROP TABLE t; --": "1"})
    assert error.value.code == 115 and handle.broken


def test_failed_set_marks_the_handle_broken() -> None:
    handle = Handle(FakeConn(fail_on="bogus"), {}, "default")
    with pytest.raises(EndpointError) as error:
        handle.prepare("default", {"bogus": "1"})
    assert error.value.name == "UNKNOWN_SETTING" and handle.broken
