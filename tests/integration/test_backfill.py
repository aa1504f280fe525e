"""A 30-day backfill run twice leaves identical facts (per table, partition and day) and identical silver.

The run uses the bulk range mode (``daily.run_days``: one Spark application, each day loaded atomically
exactly as the DAG's per-day task does) over 30 simulated days of the same tiny fleet as
test_daily_etl.py (same catalogue, so both modules agree on the dimensions), on days that module does not
touch.

What "identical" means: every business column of every fact row, compared through a checksum per
(table, month partition) and per day. Lineage columns are left out on purpose: ``batch_id`` names the
load that wrote a row and ``loaded_at`` when, so a second load must differ there, and that is checked
too. Silver is compared on every column: it holds bronze's own lineage, which a re-run must reproduce.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from retail_platform.batch import daily
from retail_platform.lake import day_predicate
from retail_platform.simulation.bronze_history import HistoryConfig, write_history
from retail_platform.simulation.catalog_load import load_warehouse

pytestmark = [pytest.mark.integration, pytest.mark.warehouse, pytest.mark.spark]

_TODAY = datetime.now(timezone.utc).date()
# test_daily_etl.py uses today-7 .. today-5 with this catalogue; these 30 days end before them.
CONFIG = HistoryConfig(
    end_date=_TODAY - timedelta(days=12), days=30, stores=3, products=10, seed=21, lines_per_store_hour=8
)
FIRST, LAST = CONFIG.first_day, CONFIG.end_date
LINEAGE = {"batch_id", "loaded_at"}


@pytest.fixture(scope="module")
def client(warehouse):
    from retail_platform.warehouse.client import connect

    c = connect(warehouse)
    yield c
    c.close()


def _business_columns(client, table: str) -> list[str]:
    rows = client.query(
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = %(t)s ORDER BY position",
        parameters={"t": table},
    ).result_rows
    return [name for (name,) in rows if name not in LINEAGE]


# The facts and the serving aggregates the daily load rebuilds from them.
CHECKSUMMED = ("fact_sales", "fact_inventory", "agg_sales_daily", "agg_store_daily", "agg_chain_daily")


def fact_checksums(client, table: str) -> dict[tuple[str, str], tuple[int, int]]:
    """{(month partition, day): (rows, order-independent checksum of the business columns)} in range.

    sum() of 64-bit row hashes wraps around and, unlike XOR, does not cancel a duplicated row."""
    columns = ", ".join(_business_columns(client, table))
    rows = client.query(
        f"SELECT _partition_id, toString(date_key), count(), sum(cityHash64({columns})) "
        f"FROM {table} FINAL WHERE date_key BETWEEN %(a)s AND %(b)s GROUP BY 1, 2",
        parameters={"a": FIRST, "b": LAST},
    ).result_rows
    return {(p, d): (int(n), int(h)) for p, d, n, h in rows}


def batch_ids(client, table: str) -> set[str]:
    rows = client.query(
        f"SELECT DISTINCT batch_id FROM {table} FINAL WHERE date_key BETWEEN %(a)s AND %(b)s",
        parameters={"a": FIRST, "b": LAST},
    ).result_rows
    return {b for (b,) in rows}


def silver_checksums(spark, settings) -> dict[tuple[str, str], tuple[int, int]]:
    from pyspark.sql import functions as F

    result = {}
    for event_type in daily.TYPES:
        frame = spark.read.format("delta").load(daily.silver_path(settings, event_type))
        frame = frame.where(day_predicate(FIRST, LAST))
        hashed = frame.select(
            F.concat_ws("-", "year", "month", "day").alias("d"), F.xxhash64(*frame.columns).alias("h")
        )
        # Sum as decimal: a long sum of 64-bit hashes would overflow (ANSI mode raises).
        totals = hashed.groupBy("d").agg(
            F.count(F.lit(1)).alias("n"), F.sum(F.col("h").cast("decimal(38,0)")).alias("s")
        )
        for row in totals.collect():
            result[(event_type, row["d"])] = (int(row["n"]), int(row["s"]))
    return result


@pytest.fixture(scope="module")
def backfilled_twice(warehouse, spark, client):
    load_warehouse(CONFIG.catalog(), warehouse, client)
    write_history(CONFIG, warehouse, spark)
    states = []
    for _ in range(2):
        span = daily.run_days(spark, warehouse, FIRST, LAST, run_id="test-backfill")
        assert span.failed == {}
        assert [d.day for d in span.days] == CONFIG.day_list
        states.append(
            {
                "facts": {t: fact_checksums(client, t) for t in CHECKSUMMED},
                "batch_ids": {t: batch_ids(client, t) for t in ("fact_sales", "fact_inventory")},
                "silver": silver_checksums(spark, warehouse),
                "rows": {d.day: (d.sales_rows, d.inventory_rows) for d in span.days},
            }
        )
    return states


def test_every_day_of_the_range_was_loaded(backfilled_twice):
    first = backfilled_twice[0]
    days = {d for (_, d) in first["facts"]["fact_sales"]}
    assert days == {d.isoformat() for d in CONFIG.day_list}
    assert all(sales > 0 and inventory > 0 for sales, inventory in first["rows"].values())
    # Two months at most, each its own partition: the checksum is taken per partition and day.
    assert {p for (p, _) in first["facts"]["fact_sales"]} == {f"{d:%Y%m}" for d in CONFIG.day_list}


def test_second_backfill_leaves_identical_facts(backfilled_twice):
    first, second = backfilled_twice
    for table in CHECKSUMMED:
        assert second["facts"][table] == first["facts"][table], table


def test_second_backfill_rewrote_every_row(backfilled_twice):
    """Identical content, new lineage: the second run really replaced the days (not a no-op)."""
    first, second = backfilled_twice
    for table in ("fact_sales", "fact_inventory"):
        assert len(second["batch_ids"][table]) == 30
        assert first["batch_ids"][table].isdisjoint(second["batch_ids"][table]), table


def test_second_backfill_leaves_identical_silver(backfilled_twice):
    first, second = backfilled_twice
    assert {d for (_, d) in first["silver"]} == {f"{d:%Y-%m-%d}" for d in CONFIG.day_list}
    assert second["silver"] == first["silver"]


def test_checksum_sees_a_changed_row(backfilled_twice, client):
    """The comparison can fail: change one sale's quantity in a copy and the day's checksum moves."""
    first = backfilled_twice[0]["facts"]["fact_sales"]
    day = CONFIG.day_list[10]
    client.command("DROP TABLE IF EXISTS fact_sales_probe")
    client.command("CREATE TABLE fact_sales_probe AS fact_sales")
    try:
        client.command(f"INSERT INTO fact_sales_probe SELECT * FROM fact_sales FINAL WHERE date_key = '{day}'")
        # One more unit on one line, with its derived amounts kept consistent (CHECK constraints).
        client.command(
            "ALTER TABLE fact_sales_probe UPDATE quantity = quantity + 1,"
            " revenue = (quantity + 1) * unit_price - discount, cost = (quantity + 1) * unit_cost,"
            " profit = ((quantity + 1) * unit_price - discount) - (quantity + 1) * unit_cost"
            " WHERE sale_id = (SELECT min(sale_id) FROM fact_sales_probe) SETTINGS mutations_sync = 1"
        )
        probe = fact_checksums(client, "fact_sales_probe")
    finally:
        client.command("DROP TABLE IF EXISTS fact_sales_probe")
    key = (f"{day:%Y%m}", day.isoformat())
    assert probe[key][0] == first[key][0]
    assert probe[key][1] != first[key][1]


def test_aggregates_reconcile_with_the_facts(backfilled_twice, client):
    # Each day's load rebuilt its aggregates one day at a time, oldest first; here everything is
    # computed again from the facts in one query, the fill-rate estimate over the whole history.
    per_day = client.query(
        "SELECT a.date_key, a.units, a.revenue, a.lines, f.units, f.revenue, f.lines FROM "
        "(SELECT date_key, sum(units) AS units, sum(revenue) AS revenue, sum(sale_lines) AS lines "
        " FROM agg_store_daily FINAL GROUP BY date_key) AS a "
        "FULL JOIN (SELECT date_key, sum(quantity) AS units, sum(revenue) AS revenue, count() AS lines "
        " FROM fact_sales FINAL GROUP BY date_key) AS f USING (date_key) "
        "WHERE date_key BETWEEN %(a)s AND %(b)s ORDER BY date_key",
        parameters={"a": FIRST, "b": LAST},
    ).result_rows
    assert len(per_day) == len(CONFIG.day_list)
    for day, *totals in per_day:
        assert totals[:3] == totals[3:], day
    stock = client.query(
        "SELECT a.date_key, a.store_id, a.products_tracked, a.stockouts, a.stock_value, a.sold, a.lost, "
        "f.products_tracked, f.stockouts, f.stock_value, f.sold, f.lost FROM "
        "(SELECT date_key, store_id, products_tracked, stockouts, stock_value, snapshot_units_sold AS sold, "
        " est_lost_units AS lost FROM agg_store_daily FINAL) AS a "
        "FULL JOIN (SELECT date_key, store_id, count() AS products_tracked, countIf(is_stockout) AS stockouts, "
        " sum(stock_value) AS stock_value, sum(quantity_sold) AS sold, "
        " sum(if(is_stockout, greatest(0., ifNull(usual, 0.) - quantity_sold), 0.)) AS lost "
        " FROM (SELECT *, avgIf(toFloat64(quantity_sold), NOT is_stockout) OVER (PARTITION BY store_id, product_id "
        "  ORDER BY date_key ROWS BETWEEN 28 PRECEDING AND 1 PRECEDING) AS usual FROM fact_inventory FINAL) "
        " GROUP BY date_key, store_id) AS f USING (date_key, store_id) "
        "WHERE date_key BETWEEN %(a)s AND %(b)s",
        parameters={"a": FIRST, "b": LAST},
    ).result_rows
    assert stock, "no store/day rows"
    assert any(row[6] > 0 for row in stock), "no stock-out estimate to compare"
    for day, store, *values in stock:
        assert values[:4] == values[5:9], (day, store)
        assert values[4] == pytest.approx(values[9]), (day, store)
