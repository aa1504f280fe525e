"""Late arrivals and the speed layer's retention against the real warehouse endpoint, in a scratch
database: a closed day the stream added rows to is detected and its recompute recorded (once while
pending), a day whose counts agree is not; the TTL guard fails maintenance for an old unclosed day
with real-time rows and not for closed ones; rt_restock_state retention keeps each key's newest row
and the states every replay of a recent batch reads, so it decides the same alerts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from clickhouse_connect.driver.client import Client

from retail_platform.batch import late_arrivals as late
from retail_platform.maintenance import realtime_tables as rt
from retail_platform.maintenance.config import MaintenanceConfig
from retail_platform.maintenance.run import MaintenanceFailed, run_warehouse
from retail_platform.streaming import tables
from retail_platform.streaming.alerts import Policy, run
from retail_platform.streaming.sink import Warehouse
from retail_platform.warehouse.client import connect
from tests.integration.databases import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]

UTC = timezone.utc
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()
LATE, AGREED, OPEN, CAUGHT_UP = (TODAY - timedelta(days=n) for n in (5, 4, 1, 3))
WATERMARK_COLUMNS = [
    "day", "loaded_at", "batch_id", "run_id", "bronze_rows", "stream_rows", "duplicates_dropped",
    "quarantined_rows", "sales_rows", "inventory_rows", "duration_ms",
]  # fmt: skip
STREAM_DAYS_COLUMNS = ["query_name", "query_id", "batch_id", "event_type", "day", "events"]


@pytest.fixture(scope="module")
def db(warehouse) -> Iterator[tuple[Client, str]]:
    with scratch_database(warehouse, "late_arrivals") as settings:
        client = connect(settings)
        try:
            yield client, settings.clickhouse_database
        finally:
            client.close()


def watermark(client: Client, day: date, stream_rows: int, loaded_at: datetime, run_id: str = "") -> None:
    row = [
        day,
        loaded_at,
        f"daily_etl:{day}:{uuid.uuid4().hex[:6]}",
        run_id,
        stream_rows + 3,
        stream_rows,
        0,
        0,
        0,
        0,
        1,
    ]
    client.insert("ops_batch_watermark", [row], column_names=WATERMARK_COLUMNS)


def stream_days(client: Client, rows: list[tuple[int, str, date, int]], query_id: str = "q1") -> None:
    """(batch_id, event_type, day, events) rows, one insert per batch as the stream writes them."""
    for batch in sorted({b for b, *_ in rows}):
        client.insert(
            "ops_stream_days",
            [["stream_events", query_id, b, t, d, n] for b, t, d, n in rows if b == batch],
            column_names=STREAM_DAYS_COLUMNS,
            settings={"insert_deduplication_token": f"ops_stream_days:{query_id}:{batch}"},
        )


@pytest.fixture(scope="module")
def scenario(db) -> tuple[Client, str]:
    client, name = db
    loaded = NOW - timedelta(hours=20)
    for day in (LATE, AGREED, CAUGHT_UP):
        watermark(client, day, 10, loaded)
    # CAUGHT_UP was behind its first load, then reloaded with every stream row.
    watermark(client, CAUGHT_UP, 14, loaded + timedelta(hours=1))
    stream_days(
        client,
        [
            (1, "sales_transaction", LATE, 6),
            (1, "inventory_update", LATE, 4),
            (1, "price_change", LATE, 50),  # not read by the daily load: not compared
            (1, "sales_transaction", AGREED, 10),
            (1, "sales_transaction", OPEN, 99),  # not closed: the views serve it from the stream anyway
            (2, "sales_transaction", LATE, 2),  # arrived after the load
            (2, "price_change", AGREED, 7),
            (2, "sales_transaction", CAUGHT_UP, 14),
        ],
    )
    # A replay of batch 2 (same token, same rows) and the same batch's row past the token window
    # (another insert, same key): neither counts twice under FINAL.
    stream_days(client, [(2, "sales_transaction", LATE, 2)])
    client.insert(
        "ops_stream_days",
        [["stream_events", "q1", 2, "sales_transaction", LATE, 2]],
        column_names=STREAM_DAYS_COLUMNS,
    )
    return client, name


def test_only_closed_days_with_more_stream_rows_than_their_load_read_are_detected(scenario):
    client, name = scenario
    (day,) = late.late_days(client, name)
    assert (day.day, day.stream_events, day.stream_rows_at_load, day.missing) == (LATE, 12, 10, 2)


def test_a_recompute_is_recorded_once_while_it_is_pending(scenario):
    client, name = scenario
    (recompute,) = late.detect_and_record(client, name, detected_by="scheduled__test", now=NOW)
    assert recompute.late.day == LATE
    assert recompute.trigger_kwargs()["conf"] == {"date": LATE.isoformat()}
    rows = client.query(
        "SELECT day, reason, stream_events, stream_rows_at_load, dag_id, triggered_run_id, detected_by "
        "FROM ops_recomputes"
    ).result_rows
    assert rows == [(LATE, "late_stream_events", 12, 10, "daily_etl", recompute.run_id, "scheduled__test")]
    # Fifteen minutes later the day is still behind, but its recompute is queued: not triggered again.
    assert late.detect_and_record(client, name, now=NOW + timedelta(minutes=15)) == []
    # It never landed (failed): once the pending window has passed, the day is triggered again.
    (again,) = late.detect_and_record(client, name, now=NOW + timedelta(hours=late.PENDING_HOURS, minutes=1))
    assert again.late.day == LATE and again.run_id != recompute.run_id
    # The recompute lands with every stream row: nothing is late any more.
    watermark(client, LATE, 12, NOW + timedelta(hours=7), run_id=again.run_id)
    assert late.late_days(client, name) == []
    assert client.query("SELECT count() FROM ops_recomputes").result_rows[0][0] == 2


def _rt_sales(client: Client, day: date, store: str) -> None:
    window = datetime(day.year, day.month, day.day, 10, 5)
    client.insert(
        "rt_sales_5min",
        [[store, "SKU0001", window, 2, Decimal("9.90"), 1]],
        column_names=["store_id", "product_id", "window_start", "units", "revenue", "transactions"],
    )


def test_the_ttl_guard_fails_maintenance_for_an_old_unclosed_day_only(db, warehouse):
    client, name = db
    old_open, old_closed, recent_open = (TODAY - timedelta(days=n) for n in (30, 31, 2))
    for day in (old_open, old_closed, recent_open):
        _rt_sales(client, day, "ttl_store")
    watermark(client, old_closed, 0, NOW)

    record = rt.ttl_guard(client, name, 28, "guard-1", TODAY)
    assert record.status == "error" and record.cutoff == TODAY - timedelta(days=28)
    assert old_open.isoformat() in record.detail and record.detail.startswith("1 day(s)")
    assert old_closed.isoformat() not in record.detail and recent_open.isoformat() not in record.detail

    run_id = f"test-guard-{uuid.uuid4().hex[:6]}"
    with pytest.raises(MaintenanceFailed, match=old_open.isoformat()):
        run_warehouse(warehouse, MaintenanceConfig(), run_id, TODAY, client=client)
    recorded = client.query(
        "SELECT status, detail FROM ops_maintenance_runs WHERE run_id = {r:String} AND action = 'ttl_guard'",
        parameters={"r": run_id},
    ).result_rows
    assert recorded[0][0] == "error" and old_open.isoformat() in recorded[0][1]

    # Once the day is loaded, the guard passes; the real-time rows were never touched.
    watermark(client, old_open, 0, NOW)
    assert rt.ttl_guard(client, name, 28, "guard-2", TODAY).status == "ok"
    assert client.query("SELECT count() FROM rt_sales_5min WHERE store_id = 'ttl_store'").result_rows[0][0] == 3


def test_restock_state_retention_keeps_what_replays_read(db):
    client, name = db
    query_id = f"q-{uuid.uuid4().hex[:6]}"
    sink = Warehouse(client, query_id)
    keys = [("store_1", "SKU0001"), ("store_1", "SKU0002"), ("store_2", "SKU0001")]
    policies = {k: Policy(reorder_point=5, order_quantity=20) for k in keys}
    t0 = NOW - timedelta(days=2)
    history: dict[int, list[dict]] = {}
    decided: dict[int, tuple] = {}
    for batch in range(1, 41):
        # store_1/SKU0002 changes only in the first batches: its newest row is old.
        touched = [k for i, k in enumerate(keys) if (batch + i) % 2 == 0 and (i != 1 or batch < 6)]
        events = [
            {
                "event_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{query_id}-{batch}-{k[0]}-{k[1]}")),
                "event_time": t0 + timedelta(minutes=batch),
                "store_id": k[0],
                "product_id": k[1],
                "new_quantity": (batch * 7 + i * 3) % 12,
            }
            for i, k in enumerate(keys)
            if k in touched
        ]
        changed, alerts = run(events, sink.restock_states(batch, keys), policies)
        history[batch], decided[batch] = events, ([a.event_id for a in alerts], changed)
        rows = [
            [query_id, k[0], k[1], batch, s.stock, s.event_time, s.event_id, int(s.alerted)] for k, s in changed.items()
        ]
        sink.insert(tables.RESTOCK_STATE, rows, batch)
    assert sum(len(a) for a, _ in decided.values()) > 3

    before = client.query(
        "SELECT query_id, store_id, product_id, batch_id FROM rt_restock_state WHERE query_id = {q:String}",
        parameters={"q": query_id},
    ).result_rows
    newest = sink.restock_states(10**9, keys)
    record = rt.prune_restock_state(client, name, 10, "prune-1")
    assert record.status == "ok" and f"{query_id}<" in record.detail
    after = client.query(
        "SELECT query_id, store_id, product_id, batch_id FROM rt_restock_state WHERE query_id = {q:String}",
        parameters={"q": query_id},
    ).result_rows
    assert set(after) == rt.restock_rows_to_keep(before, 10) and len(after) < len(before)
    assert ("store_1", "SKU0002") in newest and sink.restock_states(10**9, keys) == newest
    for batch in range(rt.restock_state_cutoff(40, 10), 41):
        changed, alerts = run(history[batch], sink.restock_states(batch, keys), policies)
        assert ([a.event_id for a in alerts], changed) == decided[batch]
    # A second run deletes nothing more.
    rt.prune_restock_state(client, name, 10, "prune-2")
    assert len(client.query(f"SELECT 1 FROM rt_restock_state WHERE query_id = '{query_id}'").result_rows) == len(after)


@pytest.mark.spark
def test_the_daily_load_counts_the_stream_rows_it_reads(warehouse, spark, tmp_path):
    """process_type counts, per day, the bronze rows whose kafka_topic is a contract topic: what the
    watermark's stream_rows holds (history and landing rows are not the stream's)."""
    import dataclasses

    import pyarrow as pa

    from retail_platform.batch.conform import dimensions_from_rows
    from retail_platform.batch.daily import process_type
    from retail_platform.simulation.bronze_history import HistoryConfig, generate_days
    from retail_platform.streaming.bronze import PARTITION_COLUMNS, event_columns, table_path, with_day

    day = TODAY - timedelta(days=3)
    settings = dataclasses.replace(warehouse, lake_uri=tmp_path.as_uri())
    config = HistoryConfig(end_date=day, days=1, stores=1, products=3, seed=5, lines_per_store_hour=1)
    ((_, generated),) = generate_days(config)
    sales = generated["sales_transaction"].to_pylist()
    assert len(sales) >= 6
    for row in sales[:4]:  # four rows from the stream, one of them twice (a copy)
        row["kafka_topic"] = "retail-sales-transactions"
    sales.append({**sales[0]})
    sales[4]["kafka_topic"] = "landing:sales_history"
    frame = spark.createDataFrame(pa.Table.from_pylist(sales, generated["sales_transaction"].schema))
    frame = with_day(frame).select(*event_columns("sales_transaction"))
    frame.write.format("delta").mode("append").partitionBy(*PARTITION_COLUMNS).save(
        table_path(settings, "sales_transaction")
    )

    result = process_type(spark, settings, "sales_transaction", day, day, dimensions_from_rows([], []))[day]
    assert (result.rows, result.stream_rows) == (len(sales), 5)
