"""ClickHouse writes of the stream: one insert per table and batch, named types, a deduplication
token per table, query (checkpoint) and batch; retries only when the warehouse did not answer."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from retail_platform.streaming import tables
from retail_platform.streaming.sink import Warehouse, dedup_token


class FakeClient:
    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.inserts: list[dict] = []
        self.failures = list(failures or [])

    def insert(self, table, rows, column_names, column_type_names, settings):
        if self.failures:
            raise self.failures.pop(0)
        self.inserts.append(
            {"table": table, "rows": rows, "names": column_names, "types": column_type_names, "settings": settings}
        )


def test_token_names_table_query_and_batch():
    assert dedup_token("rt_sales_5min", "q-1", 42) == "rt_sales_5min:q-1:42"
    assert dedup_token("rt_sales_5min", "q-1", 42) != dedup_token("rt_stock", "q-1", 42)
    assert dedup_token("rt_sales_5min", "q-1", 42) != dedup_token("rt_sales_5min", "q-2", 42)


def test_one_insert_with_named_types_and_the_token():
    client = FakeClient()
    sent = Warehouse(client, "q-1").insert(tables.SALES_5MIN, [["a"] * 6, ["b"] * 6], 5)
    assert sent == 2
    (insert,) = client.inserts
    assert insert["table"] == "rt_sales_5min"
    assert insert["names"] == tables.SALES_5MIN.column_names
    assert insert["types"] == tables.SALES_5MIN.column_types
    assert insert["settings"] == {"insert_deduplication_token": "rt_sales_5min:q-1:5"}


def test_nothing_to_write_is_no_insert():
    client = FakeClient()
    assert Warehouse(client, "q").insert(tables.STOCK, [], 1) == 0
    assert client.inserts == []


def test_no_answer_is_retried_with_the_same_token():
    client = FakeClient([OperationalError("connection reset"), OperationalError("refused")])
    Warehouse(client, "q", backoff=0).insert(tables.STOCK, [[1]], 9)
    assert [i["settings"]["insert_deduplication_token"] for i in client.inserts] == ["rt_stock:q:9"]


def test_an_answered_error_fails_at_once():
    client = FakeClient([DatabaseError("Code: 60. DB::Exception: Unknown table")])
    with pytest.raises(DatabaseError):
        Warehouse(client, "q", backoff=0).insert(tables.STOCK, [[1]], 9)


def test_retries_give_up():
    client = FakeClient([OperationalError("down")] * 4)
    with pytest.raises(OperationalError):
        Warehouse(client, "q", attempts=4, backoff=0).insert(tables.STOCK, [[1]], 9)


class ForecastClient:
    """Answers the forecast query with the rows of the (store, product, day)s it asks for."""

    def __init__(self, rows: dict[tuple[str, str, object], tuple[float, float, float]]) -> None:
        self.rows = rows
        self.queries: list[dict] = []

    def query(self, sql, parameters):
        self.queries.append(parameters)
        keys, days = set(parameters["keys"]), set(parameters["days"])

        class Result:
            result_rows = [
                (s, p, d, *values) for (s, p, d), values in self.rows.items() if (s, p) in keys and d in days
            ]

        return Result()


def test_forecasts_are_read_once_a_minute_for_what_is_missing_in_one_query():
    from datetime import date

    from retail_platform.streaming.velocity import Forecast

    day = date(2026, 3, 2)
    client = ForecastClient({("s1", "p1", day): (10.0, 5.0, 15.0), ("s2", "p1", day): (20.0, 10.0, 30.0)})
    now = [0.0]
    warehouse = Warehouse(client, "q", clock=lambda: now[0])
    needed = {("s1", "p1"): {day}, ("s2", "p1"): {day}, ("s3", "p1"): {day}}
    expected = {("s1", "p1", day): Forecast(10.0, 5.0, 15.0), ("s2", "p1", day): Forecast(20.0, 10.0, 30.0)}
    assert warehouse.forecasts(needed) == expected
    assert len(client.queries) == 1  # every key of the batch in one round trip
    assert client.queries[0]["first"] == date(2026, 2, 23) and client.queries[0]["last"] == day
    now[0] = 59.0
    assert warehouse.forecasts(needed) == expected  # from the cache: a key without a forecast too
    assert len(client.queries) == 1
    client.rows[("s3", "p1", day)] = (1.0, 0.0, 2.0)
    now[0] = 61.0  # a minute later: read again (a new batch prediction may have landed)
    assert warehouse.forecasts(needed)[("s3", "p1", day)] == Forecast(1.0, 0.0, 2.0)
    assert len(client.queries) == 2
