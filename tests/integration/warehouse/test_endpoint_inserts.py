"""Large inserts arrive whole with every body encoding, and bad data is refused with the engine's code."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

import lz4.frame
import numpy as np
import pandas as pd
import pytest
import zstandard
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from retail_platform.warehouse.endpoint import EndpointProcess
from tests.integration.warehouse.conftest import raw_request

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
