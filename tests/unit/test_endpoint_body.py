"""Request body framing and the split of a request's text into statement and streamed data."""

from __future__ import annotations

import io

import lz4.frame
import pytest

from retail_platform.warehouse.endpoint.body import RequestBody, read_statement
from retail_platform.warehouse.endpoint.errors import EndpointError


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nTrailer: x\r\n\r\nNEXT REQUEST"


def test_sized_body() -> None:
    stream = io.BytesIO(b"hello worldNEXT")
    body = RequestBody(stream, "11", None)
    assert b"".join(body.chunks()) == b"hello world" and body.finished
    assert stream.read() == b"NEXT"


def test_chunked_body_leaves_the_next_request_alone() -> None:
    stream = io.BytesIO(chunked(b"abc", b"defgh"))
    body = RequestBody(stream, None, "chunked")
    assert list(body.chunks()) == [b"abc", b"defgh"] and body.finished
    assert stream.read() == b"NEXT REQUEST"


def test_short_body_is_an_error() -> None:
    body = RequestBody(io.BytesIO(b"abc"), "10", None)
    with pytest.raises(EndpointError):
        b"".join(body.chunks())


def test_drain() -> None:
    body = RequestBody(io.BytesIO(chunked(b"x" * 100, b"y" * 100)), None, "chunked")
    assert body.drain(1000) and body.finished
    big = RequestBody(io.BytesIO(b"z" * 5000), "5000", None)
    assert not big.drain(10)


def test_query_parameter_only() -> None:
    assert read_statement("SELECT 1", None, "").sql == "SELECT 1"
    statement = read_statement("INSERT INTO t FORMAT CSV\n1,a", None, "")
    assert (statement.sql, statement.insert_format) == ("INSERT INTO t", "CSV")
    assert statement.data is not None and b"".join(statement.data) == b"1,a"


def test_query_parameter_and_data_in_the_body() -> None:
    body = RequestBody(io.BytesIO(chunked(b"1,a\n", b"2,b\n")), None, "chunked")
    statement = read_statement("INSERT INTO t (x, y) FORMAT CSV", body, "")
    assert (statement.sql, statement.insert_format) == ("INSERT INTO t (x, y)", "CSV")
    assert statement.data is not None and b"".join(statement.data) == b"1,a\n2,b\n"


def test_statement_and_data_in_the_body_split_across_chunks() -> None:
    body = RequestBody(io.BytesIO(chunked(b"INSERT INTO t FOR", b"MAT TS", b"V\n1\tx\n", b"2\ty\n")), None, "chunked")
    statement = read_statement("", body, "")
    assert (statement.sql, statement.insert_format) == ("INSERT INTO t", "TSV")
    assert statement.data is not None and b"".join(statement.data) == b"1\tx\n2\ty\n"


def test_compressed_body_with_the_statement() -> None:
    raw = lz4.frame.compress(b"INSERT INTO t FORMAT CSV\n1\n") + lz4.frame.compress(b"2\n")
    body = RequestBody(io.BytesIO(raw), str(len(raw)), None)
    statement = read_statement("", body, "lz4")
    assert statement.insert_format == "CSV"
    assert statement.data is not None and b"".join(statement.data) == b"1\n2\n"


def test_other_statements_are_read_whole() -> None:
    body = RequestBody(io.BytesIO(chunked(b"SELECT ", b"1")), None, "chunked")
    assert read_statement("", body, "").sql == "SELECT 1"
    values = RequestBody(io.BytesIO(b"(1), (2)"), "8", None)
    assert read_statement("INSERT INTO t VALUES", values, "").sql == "INSERT INTO t VALUES\n(1), (2)"
