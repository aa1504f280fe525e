"""ClickHouse's error shape: code and name from the engine's text, HTTP status, body."""

from __future__ import annotations

import pytest

from retail_platform.warehouse.endpoint.errors import EndpointError, authentication_failed


def test_engine_error_text_is_parsed() -> None:
    exc = RuntimeError(
        "Streaming query failed: Code: 60. DB::Exception: Table default.nope does not exist. (UNKNOWN_TABLE) "
        "(version 26.9.2.1)"
    )
    error = EndpointError.from_engine(exc)
    assert (error.code, error.name, error.http_status) == (60, "UNKNOWN_TABLE", 404)
    assert error.text == "Code: 60. DB::Exception: Table default.nope does not exist. (UNKNOWN_TABLE)"
    assert (
        error.body("1.2.3")
        == b"Code: 60. DB::Exception: Table default.nope does not exist. (UNKNOWN_TABLE) (version 1.2.3)\n"
    )


def test_multiline_engine_message() -> None:
    exc = RuntimeError(
        "Code: 117. DB::Exception: Expected end of line: (at row 1)\n: While executing X. (INCORRECT_DATA)"
    )
    error = EndpointError.from_engine(exc)
    assert (error.code, error.name, error.http_status) == (117, "INCORRECT_DATA", 400)


def test_text_without_a_code() -> None:
    error = EndpointError.from_engine(RuntimeError("something odd"))
    assert (error.code, error.name, error.http_status) == (1001, "STD_EXCEPTION", 500)


@pytest.mark.parametrize(
    "name, status",
    [
        ("SYNTAX_ERROR", 400),
        ("TYPE_MISMATCH", 400),
        ("UNKNOWN_SETTING", 404),
        ("AUTHENTICATION_FAILED", 403),
        ("READONLY", 500),
        ("NOT_IMPLEMENTED", 501),
        ("TIMEOUT_EXCEEDED", 408),
    ],
)
def test_status_mapping(name: str, status: int) -> None:
    assert EndpointError(1, name, "x").http_status == status


def test_authentication_failed() -> None:
    error = authentication_failed("bob")
    assert error.code == 516 and error.http_status == 403
    assert error.text.startswith("Code: 516. DB::Exception: bob: Authentication failed")
    assert error.text.endswith("(AUTHENTICATION_FAILED)")
