"""Large inserts arrive whole with every body encoding, and bad data is refused with the engine's code."""

from __future__ import annotations

import gzip
import socket
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import lz4.frame
import numpy as np
import pandas as pd
import pytest
import zstandard
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from retail_platform.warehouse.endpoint import EndpointProcess
from retail_platform.warehouse.endpoint.execution import SPOOL_DIR, spool_prefix
from tests.integration.warehouse.conftest import PASSWORD, USER, address, raw_request

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]

ROWS = 1_000_000


def frame(n: int) -> pd.DataFrame:
    ids = np.arange(n, dtype=np.uint64)
    return pd.DataFrame(
        {
            "id": ids,
            "store": (ids % 97).astype(np.uint32),
            "qty": (ids % 13).astype(np.int32) - 6,
            "name": [f"item-{i}" for i in range(n)],
        }
    )


def checksum(df: pd.DataFrame) -> tuple[int, int, int, int]:
    ids = df["id"].to_numpy().astype(np.int64)
    qty = df["qty"].to_numpy().astype(np.int64)
    return len(df), int(ids.sum()), int((ids * qty).sum()), int(df["name"].str.len().sum())


SERVER_CHECKSUM = "SELECT count(), sum(id), sum(toInt64(id) * qty), sum(length(name)) FROM big"


@pytest.mark.parametrize("compress", ["lz4", "zstd", False])
def test_million_rows_arrive_whole(client_factory: Callable[..., Client], compress: str | bool) -> None:
    client = client_factory(compress=compress)
    client.command("DROP TABLE IF EXISTS big")
    client.command("CREATE TABLE big (id UInt64, store UInt32, qty Int32, name String) ENGINE = MergeTree ORDER BY id")
    data = frame(ROWS)
    summary = client.insert_df("big", data)
    assert summary.written_rows == ROWS
    assert tuple(client.query(SERVER_CHECKSUM).result_rows[0]) == checksum(data)
    client.command("DROP TABLE big")


def csv_rows(start: int, count: int) -> bytes:
    return "".join(f"{i},row {i}\n" for i in range(start, start + count)).encode()


@pytest.mark.parametrize(
    "encoding, encode",
    [
        ("lz4", lambda data: lz4.frame.compress(data)),
        ("zstd", lambda data: zstandard.ZstdCompressor().compress(data)),
        ("gzip", lambda data: gzip.compress(data)),
        ("deflate", zlib.compress),
    ],
)
def test_body_of_many_frames_is_decoded_whole(
    endpoint: EndpointProcess, client: Client, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    """Each part compressed on its own and the frames concatenated, as clickhouse-connect sends LZ4."""
    table = f"frames_{encoding}"
    client.command(f"CREATE TABLE {table} (id UInt32, s String) ENGINE = MergeTree ORDER BY id")
    parts = [csv_rows(i * 1000, 1000) for i in range(7)]
    body = b"".join(encode(part) for part in parts)
    reply = raw_request(
        endpoint,
        {"query": f"INSERT INTO {table} FORMAT CSV"},
        data=body,
        headers={"Content-Encoding": encoding},
    )
    assert reply.status == 200, reply.body
    assert client.command(f"SELECT count(), sum(id) FROM {table}") == ["7000", str(sum(range(7000)))]


def test_truncated_compressed_body_is_refused(endpoint: EndpointProcess, client: Client) -> None:
    client.command("CREATE TABLE IF NOT EXISTS truncated (id UInt32, s String) ENGINE = MergeTree ORDER BY id")
    body = lz4.frame.compress(csv_rows(0, 5000))
    reply = raw_request(
        endpoint,
        {"query": "INSERT INTO truncated FORMAT CSV"},
        data=body[: len(body) // 2],
        headers={"Content-Encoding": "lz4"},
    )
    assert reply.status == 500 and reply.headers["X-ClickHouse-Exception-Code"] == "271"
    assert client.command("SELECT count() FROM truncated") == 0


def test_type_mismatch_on_insert_is_a_database_error(client: Client, database: str) -> None:
    client.command("CREATE TABLE typed (id UInt64, day Date) ENGINE = MergeTree ORDER BY id")
    with pytest.raises(DatabaseError) as native:
        client.insert("typed", [[[1, 2], 1]], column_names=["id", "day"], column_type_names=["Array(UInt8)", "UInt16"])
    assert native.value.code == 43 and native.value.name == "ILLEGAL_TYPE_OF_ARGUMENT"
    with pytest.raises(DatabaseError) as text:
        client.raw_insert("typed", ["id", "day"], "not-a-number,2024-01-01\n", fmt="CSV")
    assert text.value.code == 27 and "Code: 27" in str(text.value)
    assert client.command("SELECT count() FROM typed") == 0
    # the connection that carried the refused insert still works
    assert client.command("SELECT 1") == 1


FORMATS = ["Native", "RowBinary", "Arrow", "Parquet", "CSV", "TabSeparated", "JSONEachRow"]
BODY_ENCODINGS: dict[str, Callable[[bytes], bytes] | None] = {
    "none": None,
    "lz4": lz4.frame.compress,
    "zstd": zstandard.ZstdCompressor().compress,
    "gzip": gzip.compress,
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_insert_formats_with_every_body_encoding(client: Client, database: str, fmt: str) -> None:
    """Rows exported by the engine in a format, sent back in that format under each Content-Encoding."""
    columns = "id UInt32, name String, day Date, amount Decimal(10, 2), tags Array(String), note Nullable(String)"
    client.command(f"CREATE TABLE source ({columns}) ENGINE = MergeTree ORDER BY id")
    client.command(
        "INSERT INTO source SELECT number, concat('name ', toString(number)), toDate('2024-01-01') + number % 30, "
        "number / 4, [toString(number % 3)], if(number % 5 = 0, NULL, 'note') FROM numbers(20000)"
    )
    data = client.raw_query("SELECT * FROM source ORDER BY id", fmt=fmt)
    for encoding, encode in BODY_ENCODINGS.items():
        table = f"copy_{encoding}"
        client.command(f"CREATE TABLE {table} ({columns}) ENGINE = MergeTree ORDER BY id")
        body = encode(data) if encode else data
        summary = client.raw_insert(table, None, body, fmt=fmt, compression=None if encode is None else encoding)
        assert summary.written_rows == 20000, (fmt, encoding)
        differing = client.command(f"SELECT count() FROM (SELECT * FROM source EXCEPT SELECT * FROM {table})")
        assert differing == 0, (fmt, encoding)


def test_insert_cut_off_by_the_client_commits_nothing(endpoint: EndpointProcess, client: Client) -> None:
    client.command("CREATE TABLE IF NOT EXISTS cut_off (id UInt32, s String) ENGINE = MergeTree ORDER BY id")
    host, port = address(endpoint)
    head = (
        "POST /?query=INSERT%20INTO%20cut_off%20FORMAT%20CSV HTTP/1.1\r\n"
        f"Host: {host}\r\nTransfer-Encoding: chunked\r\n"
        f"X-ClickHouse-User: {USER}\r\nX-ClickHouse-Key: {PASSWORD}\r\n\r\n"
    )
    rows = csv_rows(0, 5000)
    spooled = f"{spool_prefix(endpoint.pid)}*"
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head.encode() + b"%x\r\n%s\r\n" % (len(rows), rows))
        # the insert has begun once its body is being spooled
        deadline = time.monotonic() + 30
        while not list(Path(SPOOL_DIR).glob(spooled)):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    # the connection is gone before the body's end: the spool is dropped, nothing is committed
    deadline = time.monotonic() + 30
    while list(Path(SPOOL_DIR).glob(spooled)):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert client.command("SELECT count() FROM cut_off") == 0
    assert client.command("SELECT 1") == 1


def test_insert_deduplication_token(client: Client, database: str) -> None:
    """A retried insert with the same token is written once (the platform's loaders rely on it)."""
    client.command(
        "CREATE TABLE dedup (id UInt32) ENGINE = MergeTree ORDER BY id "
        "SETTINGS non_replicated_deduplication_window = 100"
    )
    rows = [[i] for i in range(10)]
    for _ in range(3):
        client.insert("dedup", rows, column_names=["id"], settings={"insert_deduplication_token": "batch-1"})
    client.insert("dedup", rows, column_names=["id"], settings={"insert_deduplication_token": "batch-2"})
    assert client.command("SELECT count() FROM dedup") == 20
    # the token was a per-query setting: a later insert without one is not deduplicated against it
    client.insert("dedup", rows, column_names=["id"])
    assert client.command("SELECT count() FROM dedup") == 30


def test_a_block_rejected_after_parsing_is_an_error_and_stores_nothing(client: Client) -> None:
    # chdb's streaming inserter reports such blocks as written and drops them; the endpoint must not.
    client.command("DROP TABLE IF EXISTS checked")
    client.command("CREATE TABLE checked (a Int32, CONSTRAINT positive CHECK a > 0) ENGINE = MergeTree ORDER BY a")
    with pytest.raises(DatabaseError) as caught:
        client.insert("checked", [[5], [-1]], column_names=["a"])
    assert "VIOLATED_CONSTRAINT" in str(caught.value) or "469" in str(caught.value)
    assert client.command("SELECT count() FROM checked") == 0
    client.insert("checked", [[5], [6]], column_names=["a"])
    assert client.command("SELECT count() FROM checked") == 2
