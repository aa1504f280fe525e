"""Every common ClickHouse type goes through the endpoint and back unchanged, by each client method."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from clickhouse_connect.driver.client import Client

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]

COLUMNS = {
    "id": "UInt32",
    "i8": "Int8",
    "i16": "Int16",
    "i32": "Int32",
    "i64": "Int64",
    "u8": "UInt8",
    "u64": "UInt64",
    "i128": "Int128",
    "f32": "Float32",
    "f64": "Float64",
    "dec_small": "Decimal(9, 2)",
    "dec_big": "Decimal(38, 10)",
    "flag": "Bool",
    "s": "String",
    "fs": "FixedString(3)",
    "u": "UUID",
    "d": "Date",
    "d32": "Date32",
    "ts": "DateTime('UTC')",
    "ts_ms_berlin": "DateTime64(3, 'Europe/Berlin')",
    "ts_us_ny": "DateTime64(6, 'America/New_York')",
    "e": "Enum8('red' = 1, 'green' = 2)",
    "arr": "Array(Int32)",
    "arr_str": "Array(Nullable(String))",
    "m": "Map(String, UInt64)",
    "tup": "Tuple(Int32, String)",
    "n_int": "Nullable(Int32)",
    "n_str": "Nullable(String)",
    "lc": "LowCardinality(String)",
    "lc_n": "LowCardinality(Nullable(String))",
}

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def sample_rows() -> list[list[object]]:
    rows: list[list[object]] = []
    for i in range(50):
        rows.append(
            [
                i,
                -128 + i,
                -32768 + i,
                -(2**31) + i,
                -(2**63) + i,
                255 - i,
                2**64 - 1 - i,
                -(2**127) + i,
                1.5 * i,
                -1e300 / (i + 1),
                Decimal(f"{i}.25"),
                Decimal(f"-{i}.0000000001"),
                i % 2 == 0,
                f"text {i} ünïcödé \t'\"\\",
                b"ab" + bytes([65 + i % 26]),
                uuid.UUID(int=i * 7919),
                dt.date(2024, 1, 1) + dt.timedelta(days=i),
                dt.date(1950, 6, 1) + dt.timedelta(days=i),
                dt.datetime(2024, 3, 31, 0, 30, tzinfo=dt.timezone.utc) + dt.timedelta(hours=i),
                dt.datetime(2024, 3, 31, 1, 59, 59, 123000, tzinfo=BERLIN) + dt.timedelta(minutes=i),
                dt.datetime(2024, 11, 3, 1, 30, 0, 654321, tzinfo=NEW_YORK) + dt.timedelta(seconds=i),
                "red" if i % 3 else "green",
                list(range(i % 5)),
                [None if j % 2 else f"v{j}" for j in range(i % 4)],
                {f"k{j}": j * i for j in range(i % 3)},
                (i, f"t{i}"),
                None if i % 4 == 0 else i * 10,
                None if i % 5 == 0 else f"maybe {i}",
                f"store-{i % 4}",
                None if i % 6 == 0 else f"lc-{i % 3}",
            ]
        )
    return rows


def create(client: Client, table: str) -> None:
    columns = ", ".join(f"{name} {ch_type}" for name, ch_type in COLUMNS.items())
    client.command(f"CREATE TABLE {table} ({columns}) ENGINE = MergeTree ORDER BY id")


def same_content(client: Client, left: str, right: str) -> bool:
    """Compared by the engine: no row of one table is missing from the other, counts equal."""
    columns = ", ".join(COLUMNS)
    missing = client.command(
        f"SELECT count() FROM (SELECT {columns} FROM {left} EXCEPT SELECT {columns} FROM {right})"
    ) + client.command(f"SELECT count() FROM (SELECT {columns} FROM {right} EXCEPT SELECT {columns} FROM {left})")
    return missing == 0 and client.command(f"SELECT count() FROM {left}") == client.command(
        f"SELECT count() FROM {right}"
    )


def normalise(value: object) -> object:
    if isinstance(value, dt.datetime):
        # the client returns UTC columns as naive UTC values
        return value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, tuple):
        return tuple(normalise(v) for v in value)
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-6)
    return value


def test_insert_and_query_rows_round_trip(client: Client, database: str) -> None:
    create(client, "rows")
    rows = sample_rows()
    summary = client.insert("rows", rows, column_names=list(COLUMNS))
    assert summary.written_rows == len(rows)

    result = client.query("SELECT * FROM rows ORDER BY id")
    assert result.column_names == tuple(COLUMNS)
    assert len(result.result_rows) == len(rows)
    for sent, received in zip(rows, result.result_rows, strict=True):
        assert [normalise(v) for v in received] == [normalise(v) for v in sent]
    # time zones come back as the column's zone, not just the same instant
    first = result.result_rows[0]
    assert first[list(COLUMNS).index("ts_ms_berlin")].tzinfo.key == "Europe/Berlin"
    assert first[list(COLUMNS).index("ts_us_ny")].tzinfo.key == "America/New_York"


def test_dataframe_round_trip(client: Client, database: str) -> None:
    create(client, "source")
    create(client, "copy")
    client.insert("source", sample_rows(), column_names=list(COLUMNS))
    frame = client.query_df("SELECT * FROM source ORDER BY id")
    assert len(frame) == 50 and list(frame.columns) == list(COLUMNS)
    assert str(frame["ts_ms_berlin"].dt.tz) == "Europe/Berlin"
    # query_df puts pd.NA inside nullable arrays, which the client's own insert_df cannot serialise
    frame["arr_str"] = frame["arr_str"].map(lambda items: [None if item is pd.NA else item for item in items])
    assert client.insert_df("copy", frame).written_rows == 50
    assert same_content(client, "source", "copy")


def test_arrow_round_trip(client: Client, database: str) -> None:
    create(client, "source")
    create(client, "copy")
    client.insert("source", sample_rows(), column_names=list(COLUMNS))
    table = client.query_arrow("SELECT * FROM source ORDER BY id")
    assert table.num_rows == 50 and table.column_names == list(COLUMNS)
    assert client.insert_arrow("copy", table).written_rows == 50
    assert same_content(client, "source", "copy")


def test_arrow_stream_and_row_blocks(client: Client) -> None:
    query = "SELECT number, toString(number) AS s FROM numbers(300000)"
    with client.query_arrow_stream(query) as stream:
        batches = list(stream)
    assert sum(batch.num_rows for batch in batches) == 300000
    assert batches[0].column_names == ["number", "s"]
    with client.query_row_block_stream(query) as blocks:
        assert sum(len(block) for block in blocks) == 300000
    with client.query_arrow_stream("SELECT number FROM numbers(10) WHERE number > 100") as stream:
        assert sum(batch.num_rows for batch in stream) == 0


def test_command_returns_values(client: Client, database: str) -> None:
    assert client.command("SELECT 42") == 42
    assert client.command("SELECT 'a', 2") == ["a", "2"]
    assert client.command("SELECT toDateTime64('2024-01-01 00:00:00.123', 3, 'Asia/Tokyo')") == (
        "2024-01-01 00:00:00.123"
    )
    client.command("CREATE TABLE cmd (id UInt32) ENGINE = MergeTree ORDER BY id")
    assert client.command("INSERT INTO cmd SELECT number FROM numbers(7)").written_rows == 7
    assert client.command("EXISTS TABLE cmd") == 1
    assert client.query("DESCRIBE TABLE cmd").result_rows[0][:2] == ("id", "UInt32")
    assert client.query("SHOW TABLES").result_rows == [("cmd",)]
