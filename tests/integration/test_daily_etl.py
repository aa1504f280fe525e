"""The daily ETL against a real warehouse endpoint and an in-process Spark session, on three simulated
days of a tiny fleet (3 stores x 10 products): facts equal the generated events, re-runs are
idempotent, a late event changes only its day, the lambda view switches without double counting,
and a day whose input fails its checks is refused."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

from retail_platform.batch import daily
from retail_platform.batch.facts import cents
from retail_platform.batch.quality import DataQualityError
from retail_platform.simulation.bronze_history import HistoryConfig, generate_days, write_history
from retail_platform.simulation.catalog_load import load_warehouse

pytestmark = [pytest.mark.integration, pytest.mark.warehouse, pytest.mark.spark]

# Recent days: rt_sales_5min keeps 35 days (TTL), and the lambda test writes speed-layer rows for them.
_TODAY = datetime.now(timezone.utc).date()
CONFIG = HistoryConfig(
    end_date=_TODAY - timedelta(days=5), days=3, stores=3, products=10, seed=21, lines_per_store_hour=8
)
DAY1, DAY2, DAY3 = CONFIG.day_list
DAY4 = DAY3 + timedelta(days=1)
FACTS = ("fact_sales", "fact_inventory")


@pytest.fixture(scope="module")
def history():
    """The generated bronze rows per day and type (the ground truth of this test)."""
    return dict(generate_days(CONFIG))


@pytest.fixture(scope="module")
def client(warehouse):
    from retail_platform.warehouse.client import connect

    c = connect(warehouse)
    yield c
    c.close()


@pytest.fixture(scope="module")
def loaded(warehouse, spark, client, history):
    load_warehouse(CONFIG.catalog(), warehouse, client)
    write_history(CONFIG, warehouse, spark)
    results = {day: daily.run_day(spark, warehouse, day) for day in (DAY1, DAY2, DAY3)}
    return results


def _sales_totals(client, day: date) -> dict[tuple[str, str], tuple[int, Decimal]]:
    rows = client.query(
        "SELECT store_id, product_id, sum(quantity), sum(revenue) FROM fact_sales FINAL "
        "WHERE date_key = %(d)s GROUP BY store_id, product_id",
        parameters={"d": day},
    ).result_rows
    return {(s, p): (int(u), Decimal(r)) for s, p, u, r in rows}


def _expected_sales(table: pa.Table) -> dict[tuple[str, str], tuple[int, Decimal]]:
    totals: dict[tuple[str, str], list] = defaultdict(lambda: [0, Decimal("0.00")])
    for row in table.to_pylist():
        t = totals[(row["store_id"], row["product_id"])]
        t[0] += row["quantity"]
        t[1] += row["quantity"] * cents(row["unit_price"])
    return {k: (u, r) for k, (u, r) in totals.items()}


def _checksums(client) -> dict[tuple[str, date], int]:
    """groupBitXor(cityHash64(...)) per fact and day over every column but the load's lineage
    (batch_id, loaded_at: a re-run is a new load by design)."""
    sums = {}
    for table in FACTS:
        columns = [
            r[0]
            for r in client.query(
                "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = %(t)s "
                "AND name NOT IN ('batch_id', 'loaded_at') ORDER BY position",
                parameters={"t": table},
            ).result_rows
        ]
        rows = client.query(
            f"SELECT date_key, groupBitXor(cityHash64({', '.join(columns)})), count() FROM {table} GROUP BY date_key"
        ).result_rows
        sums |= {(table, d): (int(h), int(n)) for d, h, n in rows}
    return sums


def _silver(spark, warehouse) -> dict[str, list[tuple]]:
    out = {}
    for event_type in daily.TYPES:
        frame = spark.read.format("delta").load(daily.silver_path(warehouse, event_type))
        out[event_type] = sorted(tuple(r) for r in frame.collect())
    return out


def test_fact_sales_equal_the_generated_events(loaded, client, history):
    for day in (DAY1, DAY2, DAY3):
        expected = _expected_sales(history[day]["sales_transaction"])
        assert expected, f"no sales generated for {day}"
        assert _sales_totals(client, day) == expected
        assert loaded[day].types["sales_transaction"].quarantined == 0


def test_fact_inventory_is_the_last_event_of_the_day_carried_forward(loaded, client, history):
    stock: dict[tuple[str, str], int] = {}
    for day in (DAY1, DAY2, DAY3):
        events = sorted(history[day]["inventory_update"].to_pylist(), key=lambda e: (e["event_time"], e["event_id"]))
        for event in events:
            stock[(event["store_id"], event["product_id"])] = event["new_quantity"]
        got = client.query(
            "SELECT store_id, product_id, quantity_on_hand FROM fact_inventory FINAL WHERE date_key = %(d)s",
            parameters={"d": day},
        ).result_rows
        assert {(s, p): q for s, p, q in got} == stock
    policy = client.query("SELECT count() FROM fact_inventory WHERE reorder_point = 0").result_rows[0][0]
    assert policy == 0  # every row has its store/product's reorder policy


def test_watermark_and_quality_rows(loaded, client):
    watermark = client.query("SELECT watermark FROM v_batch_watermark").result_rows[0][0]
    assert watermark == DAY3
    rows = client.query(
        "SELECT check_name, passed FROM dq_results WHERE run_id = %(r)s", parameters={"r": loaded[DAY2].batch_id}
    ).result_rows
    names = {n for n, _ in rows}
    assert {"completeness:sales_transaction", "uniqueness:inventory_update", "validity:sales_transaction"} <= names
    assert {"uniqueness:fact_sales.sale_id", "reconciliation:units", "reconciliation:revenue"} <= names
    assert all(p for _, p in rows)


def test_running_a_day_twice_changes_nothing(loaded, spark, warehouse, client):
    before, silver_before = _checksums(client), _silver(spark, warehouse)
    daily.run_day(spark, warehouse, DAY2)
    assert _checksums(client) == before
    assert _silver(spark, warehouse) == silver_before


def test_a_late_event_changes_only_its_day(loaded, spark, warehouse, client, history):
    from retail_platform.streaming.bronze import event_columns, table_path, with_day

    before = _checksums(client)
    sales = history[DAY2]["sales_transaction"].to_pylist()
    arrived = datetime.now(timezone.utc)
    late = {**sales[0], "event_id": str(uuid.uuid4()), "quantity": 5, "kafka_topic": "retail-sales-transactions",
            "kafka_offset": 10_000, "kafka_timestamp": arrived, "batch_id": 99}  # fmt: skip
    duplicate = {**sales[1], "kafka_topic": "retail-sales-transactions", "kafka_timestamp": arrived, "batch_id": 99}
    invalid = {**sales[2], "event_id": str(uuid.uuid4()), "quantity": 0, "kafka_timestamp": arrived, "batch_id": 99}
    frame = spark.createDataFrame(
        pa.Table.from_pylist([late, duplicate, invalid], history[DAY2]["sales_transaction"].schema)
    )
    frame = with_day(frame).select(*event_columns("sales_transaction"))
    frame.write.format("delta").mode("append").partitionBy("year", "month", "day").save(
        table_path(warehouse, "sales_transaction")
    )

    result = daily.run_day(spark, warehouse, DAY2)

    after = _checksums(client)
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    # The sale adds to DAY2's lines and to its end-of-day snapshot's quantity_sold; no other day moves.
    assert changed == {("fact_sales", DAY2), ("fact_inventory", DAY2)}
    expected = _expected_sales(history[DAY2]["sales_transaction"])
    key = (late["store_id"], late["product_id"])
    units, revenue = expected[key]
    expected[key] = (units + 5, revenue + 5 * cents(late["unit_price"]))
    assert _sales_totals(client, DAY2) == expected
    r = result.types["sales_transaction"]
    assert r.rows - r.distinct_ids == 1 and r.quarantined == 1
    quarantine = spark.read.format("delta").load(daily.quarantine_path(warehouse, "sales_transaction"))
    reasons = [row["rejection_reason"] for row in quarantine.where(f"event_id = '{invalid['event_id']}'").collect()]
    assert reasons == ["out_of_range:quantity"]


def _window(t: datetime) -> datetime:
    return t.replace(minute=t.minute - t.minute % 5, second=0, microsecond=0)


def test_lambda_view_switches_between_layers_without_double_counting(loaded, spark, warehouse, client):
    # Speed-layer rows for DAY3 equal to its facts (what a correct stream wrote for the day).
    facts = client.query(
        "SELECT store_id, product_id, event_time, quantity, revenue FROM fact_sales FINAL WHERE date_key = %(d)s",
        parameters={"d": DAY3},
    ).result_rows
    windows: dict[tuple, list] = defaultdict(lambda: [0, Decimal("0.00"), 0])
    for store, product, at, quantity, revenue in facts:
        w = windows[(store, product, _window(at.replace(tzinfo=timezone.utc)))]
        w[0] += quantity
        w[1] += revenue
        w[2] += 1
    client.insert(
        "rt_sales_5min",
        [[*k, *v] for k, v in windows.items()],
        column_names=["store_id", "product_id", "window_start", "units", "revenue", "transactions"],
    )

    def day_totals(day: date) -> tuple:
        return tuple(
            client.query(
                "SELECT sum(units), sum(revenue), groupUniqArray(source) FROM v_sales_daily WHERE date = %(d)s",
                parameters={"d": day},
            ).result_rows[0]
        )

    served_by_batch = day_totals(DAY3)
    assert served_by_batch[2] == ["batch"]  # rt rows exist for the day, but it is at or below the watermark

    # Move the watermark back: DAY3 is now served by the speed layer, with the same totals.
    watermark_row = client.query("SELECT * FROM ops_batch_watermark FINAL WHERE day = %(d)s", parameters={"d": DAY3})
    client.command("ALTER TABLE ops_batch_watermark DELETE WHERE day = %(d)s", parameters={"d": DAY3},
                   settings={"mutations_sync": 2})  # fmt: skip
    served_by_speed = day_totals(DAY3)
    assert served_by_speed[2] == ["speed"]
    assert served_by_speed[:2] == served_by_batch[:2]
    client.insert("ops_batch_watermark", watermark_row.result_rows, column_names=watermark_row.column_names)
    assert day_totals(DAY3) == served_by_batch

    # The daily run reconciles the day with the speed layer: equal totals.
    result = daily.run_day(spark, warehouse, DAY3)
    reconciled = {c.name: c.value for c in result.checks if c.name.startswith("reconciliation")}
    assert reconciled == {"reconciliation:units": 0.0, "reconciliation:revenue": 0.0}


def test_a_closed_day_whose_rerun_fails_its_checks_goes_back_to_the_speed_layer(loaded, spark, warehouse, client):
    # An extra speed-layer window for DAY3: the batch and speed totals no longer reconcile.
    extra = ["S-RECONCILE", "P-RECONCILE", datetime(DAY3.year, DAY3.month, DAY3.day, 12, tzinfo=timezone.utc)]
    client.insert(
        "rt_sales_5min",
        [[*extra, 100_000, Decimal("99999.00"), 1]],
        column_names=["store_id", "product_id", "window_start", "units", "revenue", "transactions"],
    )
    closed = "SELECT count() FROM ops_batch_watermark FINAL WHERE day = %(d)s"
    assert client.query(closed, parameters={"d": DAY3}).result_rows[0][0] == 1
    try:
        with pytest.raises(DataQualityError, match="reconciliation:units"):
            daily.run_day(spark, warehouse, DAY3)
        # Checks recorded, no watermark: the day is served by the speed layer again.
        assert client.query(closed, parameters={"d": DAY3}).result_rows[0][0] == 0
        failed = client.query(
            "SELECT DISTINCT check_name FROM dq_results WHERE day = %(d)s AND NOT passed ORDER BY check_name",
            parameters={"d": DAY3},
        ).result_rows
        assert failed == [("reconciliation:revenue",), ("reconciliation:units",)]
        sources = client.query("SELECT groupUniqArray(source) FROM v_sales_daily WHERE date = %(d)s",
                               parameters={"d": DAY3}).result_rows[0][0]  # fmt: skip
        assert sources == ["speed"]
    finally:
        client.command("ALTER TABLE rt_sales_5min DELETE WHERE store_id = 'S-RECONCILE'",
                       settings={"mutations_sync": 2})  # fmt: skip
    # Once the speed layer agrees again the re-run closes the day.
    daily.run_day(spark, warehouse, DAY3)
    assert client.query(closed, parameters={"d": DAY3}).result_rows[0][0] == 1


def test_a_day_failing_its_input_checks_is_not_loaded(loaded, spark, warehouse, client, history):
    from retail_platform.streaming.bronze import event_columns, table_path, with_day

    template = history[DAY3]["sales_transaction"].to_pylist()[:20]
    bad = [
        {**row, "event_id": str(uuid.uuid4()), "quantity": 0, "event_time": row["event_time"] + timedelta(days=1)}
        for row in template
    ]
    frame = spark.createDataFrame(pa.Table.from_pylist(bad, history[DAY3]["sales_transaction"].schema))
    frame = with_day(frame).select(*event_columns("sales_transaction"))
    frame.write.format("delta").mode("append").partitionBy("year", "month", "day").save(
        table_path(warehouse, "sales_transaction")
    )
    with pytest.raises(DataQualityError, match="validity:sales_transaction"):
        daily.run_day(spark, warehouse, DAY4)
    assert (
        client.query("SELECT count() FROM fact_sales WHERE date_key = %(d)s", parameters={"d": DAY4}).result_rows[0][0]
        == 0
    )
    failed = client.query(
        "SELECT check_name FROM dq_results WHERE day = %(d)s AND NOT passed", parameters={"d": DAY4}
    ).result_rows
    assert ("validity:sales_transaction",) in failed
    assert client.query("SELECT watermark FROM v_batch_watermark").result_rows[0][0] == DAY3
