"""Where an INSERT statement ends and its data begins; the output format a query names."""

from __future__ import annotations

import pytest

from retail_platform.warehouse.endpoint.statements import InsertHead, may_be_insert, output_format, split_insert


@pytest.mark.parametrize(
    "text, statement, fmt, data",
    [
        (b"INSERT INTO t FORMAT CSV\n1,2\n", "INSERT INTO t", "CSV", b"1,2\n"),
        (b"insert into db.t (a, b) format Native\n\x00\x01", "insert into db.t (a, b)", "Native", b"\x00\x01"),
        (b"  INSERT INTO `t` (`a`) FORMAT TSV\r\n1\n", "INSERT INTO `t` (`a`)", "TSV", b"1\n"),
        (b'INSERT INTO t FORMAT JSONEachRow {"a":1}', "INSERT INTO t", "JSONEachRow", b'{"a":1}'),
        (b"INSERT INTO t SETTINGS async_insert=1 FORMAT CSV\n", "INSERT INTO t SETTINGS async_insert=1", "CSV", b""),
        (b"INSERT INTO t (format, b) FORMAT CSV\nx\n", "INSERT INTO t (format, b)", "CSV", b"x\n"),
        (b"INSERT INTO t\nFORMAT\nCSV\n\n1\n", "INSERT INTO t", "CSV", b"\n1\n"),
    ],
)
def test_insert_with_data(text: bytes, statement: str, fmt: str, data: bytes) -> None:
    head = split_insert(text, complete=True)
    assert head == InsertHead(statement, fmt, len(text) - len(data))
    assert text[head.data_offset :] == data


@pytest.mark.parametrize(
    "text",
    [b"SELECT 1 FORMAT CSV", b"INSERT INTO t VALUES (1)", b"INSERT INTO t SELECT * FROM s", b"CREATE TABLE t (a Int8)"],
)
def test_not_an_insert_with_data(text: bytes) -> None:
    assert split_insert(text, complete=True) is None


def test_waits_for_the_end_of_the_format_name() -> None:
    assert split_insert(b"INSERT INTO t FORMAT CS", complete=False) is None
    assert split_insert(b"INSERT INTO t FORMAT CSV", complete=False) is None
    assert split_insert(b"INSERT INTO t FORMAT CSV  ", complete=False) is None
    assert split_insert(b"INSERT INTO t FORMAT CSV\n", complete=False) == InsertHead("INSERT INTO t", "CSV", 25)
    assert split_insert(b"INSERT INTO t FORMAT CSV", complete=True) == InsertHead("INSERT INTO t", "CSV", 24)


@pytest.mark.parametrize(
    "text, expected",
    [(b"", True), (b"  ins", True), (b"INSERT", True), (b"INSERT ", True), (b"SELECT 1", False), (b"  WITH", False)],
)
def test_may_be_insert(text: bytes, expected: bool) -> None:
    assert may_be_insert(text) is expected


@pytest.mark.parametrize(
    "sql, fmt",
    [
        ("SELECT 1", None),
        ("SELECT 1\n FORMAT Native", "Native"),
        ("SELECT 1 format JSONEachRow;", "JSONEachRow"),
        ("SELECT 1 FORMAT JSON SETTINGS max_threads = 1", "JSON"),
        ("SELECT 'FORMAT CSV' AS x", None),
    ],
)
def test_output_format(sql: str, fmt: str | None) -> None:
    assert output_format(sql) == fmt
