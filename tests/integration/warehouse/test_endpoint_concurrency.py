"""Many clients at once: readers answer while a large insert is in flight, and clients that hold
engine handles (open streams nobody reads) do not stall a quick query from someone else.

Nothing here measures time: an insert is held open by a request body that waits on an event, so
"while it runs" is a fact of the test, not a race."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from clickhouse_connect.driver.client import Client

from retail_platform.warehouse.endpoint import EndpointProcess
from tests.integration.warehouse.conftest import AUTH, HeldInsert, address

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]


def test_readers_answer_while_a_large_insert_runs(
    endpoint: EndpointProcess, client: Client, client_factory: Callable[..., Client]
) -> None:
    client.command("CREATE TABLE conc_facts (id UInt64, store UInt16) ENGINE = MergeTree ORDER BY id")
    client.command("INSERT INTO conc_facts SELECT number, number % 50 FROM numbers(2000000)")
    client.command("CREATE TABLE conc_target (id UInt64, store UInt16) ENGINE = MergeTree ORDER BY id")
    readers = [client_factory() for _ in range(20)]
    expected_sum = sum(range(2000000))

    def read(reader: Client) -> tuple[int, int, int]:
        total = reader.command("SELECT sum(id) FROM conc_facts")
        stores = len(reader.query("SELECT store, count() FROM conc_facts GROUP BY store").result_rows)
        return total, stores, reader.command("SELECT 1")

    with HeldInsert(endpoint, "conc_target", batches=10, rows_per_batch=100_000) as insert:
        # the insert has sent data and is waiting for more: it is in flight right now
        assert client.command("SELECT 1") == 1
        with ThreadPoolExecutor(max_workers=20) as workers:
            answers = list(workers.map(read, readers))
        assert answers == [(expected_sum, 50, 1)] * 20
        assert insert.status is None  # still running: nothing acknowledged yet
        assert client.command("SELECT count() FROM conc_target") == 0  # and nothing committed
    assert insert.status == 200, insert.reply
    assert client.command("SELECT count(), sum(id) FROM conc_target") == ["1000000", str(sum(range(1000000)))]


def test_clients_holding_handles_do_not_stall_a_quick_query(endpoint: EndpointProcess, client: Client) -> None:
    """More open, unread result streams than the pool has handles; SELECT 1 still answers."""
    host, port = address(endpoint)
    holders: list[http.client.HTTPConnection] = []
    try:
        for _ in range(6):  # the pool keeps 4 handles
            connection = http.client.HTTPConnection(host, port, timeout=60)
            connection.request("GET", "/?query=SELECT%20number%20FROM%20numbers(200000000)", headers=AUTH)
            response = connection.getresponse()
            assert response.status == 200
            assert len(response.read(1000)) == 1000  # streaming has begun; the rest is left unread
            holders.append(connection)
        assert client.command("SELECT 1") == 1
        assert client.query("SELECT sum(number) FROM numbers(1000)").result_rows == [(499500,)]
    finally:
        for connection in holders:
            connection.close()
    # the abandoned streams were cancelled and their handles returned
    for _ in range(10):
        assert client.command("SELECT 2") == 2
