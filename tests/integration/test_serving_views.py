"""The serving views (v_*) on hand-made rows in a scratch database: each figure below is worked out
from the rows by hand (the arithmetic is in the comments), not from another query.

The fleet: stores s1, s2 (and s3, known to the speed layer only), products P1 and P2.
Days: D0 = today-4, D1 = today-3 and D2 = today-2 are closed (watermark rows); D3 = today-1 is open, so
it comes from the speed layer. rt_sales_5min also holds a decoy for D1 that a correct view ignores.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from retail_platform.batch import aggregates
from retail_platform.warehouse import migrations

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]

UTC = timezone.utc
TODAY = datetime.now(UTC).date()
D0, D1, D2, D3 = (TODAY - timedelta(days=n) for n in (4, 3, 2, 1))
P1, P2, P9 = "SKU0001", "SKU0002", "SKU0009"


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


# fact_sales: (sale_id, day, store, product, quantity, unit_price, unit_cost)
SALES = [
    ("t1", D1, "s1", P1, 2, "10.00", "6.00"),  # revenue 20, cost 12, profit 8
    ("t2", D1, "s1", P2, 1, "5.00", "3.00"),  # revenue 5, cost 3, profit 2
    ("t3", D1, "s2", P1, 3, "10.00", "6.00"),  # revenue 30, cost 18, profit 12
    ("t4", D2, "s1", P1, 1, "10.00", "6.00"),  # revenue 10, cost 6, profit 4
]
# fact_inventory: (day, store, product, on_hand, reorder_point, unit_cost, sold, last event hour)
INVENTORY = [
    (D0, "s1", P2, 2, 2, "3.00", 3, 20),
    (D1, "s1", P1, 10, 5, "6.00", 2, 18),
    (D1, "s1", P2, 0, 2, "3.00", 1, 19),
    (D1, "s2", P1, 4, 5, "6.00", 3, 17),
    (D2, "s1", P1, 9, 5, "6.00", 1, 18),
    (D2, "s1", P2, 0, 2, "3.00", 0, 9),
    (D2, "s2", P1, 4, 5, "6.00", 0, 17),
]
# rt_sales_5min: (store, product, window start, units, revenue, transactions)
RT_SALES = [
    ("s1", P1, at(D1, 10), 99, "990.00", 9),  # decoy: D1 is closed, the facts answer for it
    ("s1", P1, at(D3, 9), 3, "30.00", 1),
    ("s1", P1, at(D3, 15), 1, "10.00", 1),
    ("s2", P2, at(D3, 11), 1, "5.00", 1),
]
# rt_stock: (store, product, quantity, event_time)
RT_STOCK = [
    ("s1", P1, 7, at(D3, 15)),  # newer than the D2 snapshot (D2 18:00): the speed layer wins
    ("s2", P1, 6, at(D2, 8)),  # older than the D2 snapshot (D2 17:00): the snapshot wins
    ("s3", P9, 5, at(D3, 12)),  # only the speed layer knows it
]


@contextmanager
def scratch(warehouse, directory: Path = migrations.MIGRATIONS_DIR) -> Iterator[tuple[Client, str]]:
    """A scratch database migrated with the files of ``directory``; dropped on exit."""
    from retail_platform.warehouse.client import connect

    admin = connect(warehouse, database="")
    name = f"retail_views_{uuid.uuid4().hex[:8]}"
    migrations.apply_all(admin, database=name, directory=directory)
    client = connect(warehouse, database=name)
    try:
        yield client, name
    finally:
        client.close()
        admin.command(f"DROP DATABASE IF EXISTS {name} SYNC")
        admin.close()


@pytest.fixture(scope="module")
def db(warehouse) -> Iterator[Client]:
    with scratch(warehouse) as (client, name):
        _load(client)
        # What the daily load does after swapping in each day's facts.
        aggregates.refresh(client, name, D0, D2)
        yield client


def _load(c: Client) -> None:
    c.insert(
        "fact_sales",
        [
            [sid, day, at(day, 12), store, product, "cat", q, Decimal(p), Decimal(cost), "b1"]
            for sid, day, store, product, q, p, cost in SALES
        ],
        column_names=[
            "sale_id", "date_key", "event_time", "store_id", "product_id", "category",
            "quantity", "unit_price", "unit_cost", "batch_id",
        ],
    )  # fmt: skip
    c.insert(
        "fact_inventory",
        [
            [day, store, product, "cat", "sup", on_hand, rp, 1, Decimal(cost), sold, f"e-{store}-{product}-{day}",
             at(day, hour), "b1"]
            for day, store, product, on_hand, rp, cost, sold, hour in INVENTORY
        ],
        column_names=[
            "date_key", "store_id", "product_id", "category", "supplier_id", "quantity_on_hand", "reorder_point",
            "safety_stock", "unit_cost", "quantity_sold", "last_event_id", "last_event_time", "batch_id",
        ],
    )  # fmt: skip
    c.insert(
        "ops_batch_watermark",
        [[day, at(TODAY, 8), f"b-{day}", 0, 0, 0, 0, 0, 0] for day in (D0, D1, D2)],
        column_names=[
            "day", "loaded_at", "batch_id", "bronze_rows", "duplicates_dropped", "quarantined_rows",
            "sales_rows", "inventory_rows", "duration_ms",
        ],
    )  # fmt: skip
    c.insert(
        "rt_sales_5min",
        [[s, p, w.replace(tzinfo=None), u, Decimal(r), t] for s, p, w, u, r, t in RT_SALES],
        column_names=["store_id", "product_id", "window_start", "units", "revenue", "transactions"],
    )
    c.insert(
        "rt_stock",
        [[s, p, q, 0, "sale", t, f"r-{s}-{p}", int(t.timestamp() * 1e6) << 128, 1] for s, p, q, t in RT_STOCK],
        column_names=[
            "store_id", "product_id", "quantity", "quantity_change", "reason", "event_time", "event_id", "version",
            "batch_id",
        ],
    )  # fmt: skip
    c.insert(
        "rt_reorder_policy",
        [["s1", P1, 5, 20, 2, "test"]],
        column_names=["store_id", "product_id", "reorder_point", "order_quantity", "safety_stock", "policy_source"],
    )


def rows(c: Client, sql: str) -> list[tuple]:
    return [tuple(r) for r in c.query(sql).result_rows]


def test_sales_daily_takes_closed_days_from_facts_and_open_days_from_the_speed_layer(db):
    got = rows(
        db, "SELECT date, store_id, product_id, units, revenue, sale_lines, source FROM v_sales_daily ORDER BY 1, 2, 3"
    )
    assert got == [
        (D1, "s1", P1, 2, Decimal("20.00"), 1, "batch"),  # not 2 + 99: the decoy is ignored
        (D1, "s1", P2, 1, Decimal("5.00"), 1, "batch"),
        (D1, "s2", P1, 3, Decimal("30.00"), 1, "batch"),
        (D2, "s1", P1, 1, Decimal("10.00"), 1, "batch"),
        (D3, "s1", P1, 4, Decimal("40.00"), 2, "speed"),  # 3 + 1 units, 30 + 10, two windows' lines
        (D3, "s2", P2, 1, Decimal("5.00"), 1, "speed"),
    ]


def test_exec_daily(db):
    got = rows(db, "SELECT date, revenue, units, sale_lines, stores_selling, products_selling, profit, margin, source "
                   "FROM v_exec_daily ORDER BY date")  # fmt: skip
    assert got == [
        # 20 + 5 + 30 = 55; 2 + 1 + 3 = 6 units; profit 8 + 2 + 12 = 22; margin 22 / 55 = 0.4
        (D1, Decimal("55.00"), 6, 3, 2, 2, Decimal("22.00"), pytest.approx(0.4), "batch"),
        (D2, Decimal("10.00"), 1, 1, 1, 1, Decimal("4.00"), pytest.approx(0.4), "batch"),
        # open day: profit needs the daily load's costs
        (D3, Decimal("45.00"), 5, 3, 2, 2, None, None, "speed"),
    ]


def test_store_daily(db):
    columns = "store_id, date, revenue, units, sale_lines, products_tracked, stockouts, below_reorder_point"
    got = rows(db, f"SELECT {columns} FROM v_store_daily WHERE store_id = 's1' ORDER BY date")
    assert got == [
        # D1: P1 10 on hand (rp 5), P2 0 on hand (rp 2): one stock-out, one at or below its reorder point
        ("s1", D1, Decimal("25.00"), 3, 2, 2, 1, 1),
        ("s1", D2, Decimal("10.00"), 1, 1, 2, 1, 1),
        ("s1", D3, Decimal("40.00"), 4, 2, 0, 0, 0),  # open day: no snapshot yet
    ]


def test_stockout_rate(db):
    columns = "date, store_id, store_products, stockouts, stockout_rate, below_reorder_point, reorder_efficiency"
    got = rows(db, f"SELECT {columns} FROM v_kpi_stockout_rate WHERE date = '{D1}' ORDER BY store_id")
    assert got == [(D1, "s1", 2, 1, 0.5, 1, 0.5), (D1, "s2", 1, 0, 0.0, 1, 1.0)]  # s2: 4 <= 5


def test_stock_current_takes_the_newer_of_snapshot_and_speed_layer(db):
    got = rows(db, "SELECT store_id, product_id, quantity_on_hand, source, reorder_point, order_quantity, "
                   "is_stockout FROM v_stock_current ORDER BY 1, 2")  # fmt: skip
    assert got == [
        ("s1", P1, 7, "speed", 5, 20, False),  # rt event D3 15:00 is after the D2 snapshot
        ("s1", P2, 0, "batch", 0, 0, True),  # no speed-layer row; no policy row
        ("s2", P1, 4, "batch", 0, 0, False),  # rt event D2 08:00 is before the snapshot's cut-off
        ("s3", P9, 5, "speed", 0, 0, False),
    ]


def test_days_of_supply_and_dead_stock(db):
    got = rows(db, "SELECT store_id, product_id, quantity_on_hand, avg_daily_units_28d, days_of_supply, "
                   "is_dead_stock FROM v_kpi_days_of_supply ORDER BY 1, 2")  # fmt: skip
    assert got == [
        ("s1", P1, 7, pytest.approx(7 / 28), pytest.approx(28.0), False),  # sold 2 + 1 + 4 = 7 in 28 days
        ("s1", P2, 0, pytest.approx(1 / 28), pytest.approx(0.0), False),
        ("s2", P1, 4, pytest.approx(3 / 28), pytest.approx(4 / (3 / 28)), False),
        ("s3", P9, 5, 0.0, None, True),  # in stock, never sold
    ]
    dead = rows(db, "SELECT store_id, products_in_stock, dead_stock, dead_stock_rate FROM v_kpi_dead_stock ORDER BY 1")
    assert dead == [("s1", 1, 0, 0.0), ("s2", 1, 0, 0.0), ("s3", 1, 1, 1.0)]


def _months() -> dict[date, list[date]]:
    by_month: dict[date, list[date]] = {}
    for day in (D0, D1, D2):
        by_month.setdefault(day.replace(day=1), []).append(day)
    return by_month


def test_inventory_turnover(db):
    # Stock value of s1 per day: D0 2 x 3 = 6; D1 10 x 6 + 0 x 3 = 60; D2 9 x 6 = 54.
    # Cost of goods sold of s1: D1 12 + 3 = 15, D2 6. The days may straddle a month boundary.
    value = {D0: 6.0, D1: 60.0, D2: 54.0}
    cogs = {D0: 0, D1: 15, D2: 6}
    got = {r[0]: r[1:] for r in rows(db, "SELECT month, cogs, avg_inventory_value, days, turnover, turnover_annualised "
                                         "FROM v_kpi_inventory_turnover WHERE store_id = 's1'")}  # fmt: skip
    expected = {}
    for month, days in _months().items():
        avg = sum(value[d] for d in days) / len(days)
        turnover = sum(cogs[d] for d in days) / avg
        expected[month] = (Decimal(sum(cogs[d] for d in days)), pytest.approx(avg), len(days), pytest.approx(turnover),
                           pytest.approx(turnover * 365 / len(days)))  # fmt: skip
    assert got == expected


def test_fill_rate_estimates_the_demand_a_stockout_turned_away(db):
    got = rows(db, "SELECT date, store_id, units_sold, est_lost_units, fill_rate, stockout_products "
                   "FROM v_kpi_fill_rate ORDER BY 1, 2")  # fmt: skip
    assert got == [
        (D0, "s1", 3, 0.0, 1.0, 0),
        # s1/P2 ends D1 out of stock; its in-stock days before sold 3 (D0): lost 3 - 1 = 2; s1 sold 2 + 1
        (D1, "s1", 3, 2.0, pytest.approx(3 / 5), 1),
        (D1, "s2", 3, 0.0, 1.0, 0),
        # D2: P2 still out; its usual day is still D0's 3 (D1 was a stock-out day): lost 3 - 0 = 3
        (D2, "s1", 1, 3.0, pytest.approx(1 / 4), 1),
        (D2, "s2", 0, 0.0, None, 0),  # no demand seen at all
    ]


def test_carrying_cost(db):
    value = {D0: 6.0, D1: 60.0, D2: 54.0}  # s1 stock value per day (see test_inventory_turnover)
    sold = {D0: 3, D1: 3, D2: 1}  # s1 units sold per day (fact_inventory.quantity_sold)
    columns = "month, avg_inventory_value, days, carrying_cost_rate, carrying_cost, carrying_cost_per_unit_sold"
    got = {r[0]: r[1:] for r in rows(db, f"SELECT {columns} FROM v_kpi_carrying_cost WHERE store_id = 's1'")}
    expected = {}
    for month, days in _months().items():
        avg = sum(value[d] for d in days) / len(days)
        cost = avg * 0.25 * len(days) / 365  # 10 % + 2 % + 5 % + 8 % a year
        expected[month] = (pytest.approx(avg), len(days), pytest.approx(0.25), pytest.approx(cost),
                           pytest.approx(cost / sum(sold[d] for d in days)))  # fmt: skip
    assert got == expected


def test_category_daily(db):
    got = rows(db, "SELECT date, category, revenue, cost, profit, margin, units, sale_lines "
                   "FROM v_category_daily ORDER BY date")  # fmt: skip
    assert got == [
        # D1: revenue 20 + 5 + 30 = 55, cost 12 + 3 + 18 = 33, profit 22; the open day D3 is not there
        (D1, "cat", Decimal("55.00"), Decimal("33.00"), Decimal("22.00"), pytest.approx(0.4), 6, 3),
        (D2, "cat", Decimal("10.00"), Decimal("6.00"), Decimal("4.00"), pytest.approx(0.4), 1, 1),
    ]


FILL_RATE_SQL = (
    "SELECT date, store_id, units_sold, est_lost_units FROM v_kpi_fill_rate WHERE store_id = 's1' ORDER BY 1"
)


def test_reloading_a_day_refreshes_the_fill_rate_of_the_days_after_it(warehouse):
    with scratch(warehouse) as (client, name):
        _load(client)
        aggregates.refresh(client, name, D0, D2)
        assert rows(client, FILL_RATE_SQL) == [(D0, "s1", 3, 0.0), (D1, "s1", 3, 2.0), (D2, "s1", 1, 3.0)]
        # Late events: s1/P2 really sold 5 on D0. The day is reloaded (a newer row of the same grain) and
        # only D0 is refreshed; D1 and D2 read D0 as their usual day, so their estimates move too.
        client.insert(
            "fact_inventory",
            [[D0, "s1", P2, "cat", "sup", 2, 2, 1, Decimal("3.00"), 5, "e-late", at(D0, 21), "b2"]],
            column_names=[
                "date_key", "store_id", "product_id", "category", "supplier_id", "quantity_on_hand",
                "reorder_point", "safety_stock", "unit_cost", "quantity_sold", "last_event_id", "last_event_time",
                "batch_id",
            ],
        )  # fmt: skip
        aggregates.refresh(client, name, D0, D0)
        # D1: usual 5, sold 1: lost 4. D2: usual still D0's 5, sold 0: lost 5.
        assert rows(client, FILL_RATE_SQL) == [(D0, "s1", 5, 0.0), (D1, "s1", 3, 4.0), (D2, "s1", 1, 5.0)]


def test_refreshing_twice_changes_nothing(db):
    tables = ("agg_sales_daily", "agg_store_daily", "agg_chain_daily")
    checksum = "SELECT count(), sum(cityHash64(*)) FROM (SELECT * EXCEPT (loaded_at) FROM {} FINAL)"
    before = {t: rows(db, checksum.format(t)) for t in tables}
    aggregates.refresh(db, db.database, D0, D2)
    assert {t: rows(db, checksum.format(t)) for t in tables} == before
    assert before["agg_store_daily"][0][0] == 5  # (D0, s1), (D1, s1), (D1, s2), (D2, s1), (D2, s2)


def test_upgrading_fills_the_aggregates_from_the_facts_already_loaded(warehouse, tmp_path):
    # A warehouse at 0013 with facts loaded, then 0014 applied: the closed days stay in the views.
    for migration in migrations.load_migrations():
        if migration.version < 14:
            shutil.copy(migration.path, tmp_path)
    with scratch(warehouse, tmp_path) as (client, _):
        _load(client)
        migrations.apply_all(client, database=client.database)
        assert rows(client, FILL_RATE_SQL) == [(D0, "s1", 3, 0.0), (D1, "s1", 3, 2.0), (D2, "s1", 1, 3.0)]
        exec_rows = rows(client, "SELECT date, revenue, profit FROM v_exec_daily WHERE source = 'batch' ORDER BY 1")
        assert exec_rows == [(D1, Decimal("55.00"), Decimal("22.00")), (D2, Decimal("10.00"), Decimal("4.00"))]


def test_store_daily_carries_the_stores_current_region(db):
    # dim_store is SCD type 1: the newer row of s1 wins; s2 has no row yet (inferred later): empty.
    db.insert(
        "dim_store",
        [["s1", "One", "supermarket", "Leeds", "North", "GB", D0, at(D0, 1)],
         ["s1", "One", "supermarket", "Leeds", "North-East", "GB", D0, at(D1, 1)]],
        column_names=["store_id", "store_name", "store_type", "city", "region", "country", "opened_on", "updated_at"],
    )  # fmt: skip
    got = rows(db, "SELECT store_id, region, sum(revenue) FROM v_store_daily GROUP BY 1, 2 ORDER BY 1")
    # Same figures as without the region: s1 25 + 10 + 40, s2 30 + 5.
    assert got == [("s1", "North-East", Decimal("75.00")), ("s2", "", Decimal("35.00"))]


def test_threshold_alerts_fire_once_per_episode_and_resolve(db):
    """What the ops_alerts DAG's task runs (retail_platform.alerts.check) against the real warehouse:
    each measure read from the operations tables, one firing row per episode with the measured value
    and the threshold, nothing while the breach goes on, one resolved row when it ends."""
    from retail_platform import alerts

    limits = {alerts.FRESHNESS: 900.0, alerts.STREAM_LAG: 120.0, alerts.DQ_FAILURES: 0.0}
    assert alerts.check(db, limits, "check-0").transitions == ()  # nothing measured yet: nothing recorded

    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    batch_columns = ["query_name", "query_id", "batch_id", "started_at", "finished_at", "duration_ms", "input_total",
                     "accepted", "quarantined", "duplicates_dropped", "alerts", "max_event_time"]  # fmt: skip
    dq_columns = ["run_id", "day", "check_name", "value", "threshold", "passed", "checked_at"]
    # A micro-batch committed 10 s ago whose newest event is 2000 s old: lag 1990 s, freshness ~2000 s.
    db.insert(
        "ops_stream_batches",
        [["speed", "q1", 1, now - timedelta(seconds=12), now - timedelta(seconds=10), 2000, 5, 5, 0, 0, 0,
          now - timedelta(seconds=2000)]],
        column_names=batch_columns,
    )  # fmt: skip
    db.insert(
        "dq_results",
        [["load-1", D2, "validity:sales", 0.5, 0.99, False, now - timedelta(minutes=5)],
         ["load-1", D2, "completeness:stock", 0.2, 0.99, False, now - timedelta(minutes=5)],
         ["load-1", D2, "uniqueness:sales", 1.0, 1.0, True, now - timedelta(minutes=5)]],
        column_names=dq_columns,
    )  # fmt: skip
    first = alerts.check(db, limits, "check-1")
    fired = {t.alert: t for t in first.fired}
    assert set(fired) == set(alerts.ALERTS) and first.transitions == first.fired
    assert fired[alerts.STREAM_LAG].value == 1990.0 and fired[alerts.STREAM_LAG].threshold == 120.0
    assert fired[alerts.FRESHNESS].value >= 2000.0
    assert fired[alerts.DQ_FAILURES].value == 2.0
    assert fired[alerts.DQ_FAILURES].detail == "run load-1: completeness:stock, validity:sales"
    assert "dq_failures 2 > 0" in first.message()

    second = alerts.check(db, limits, "check-2")  # still breached: once per episode
    assert second.transitions == () and set(second.breached) == set(alerts.ALERTS)

    # Recovery: a newer batch with fresh events, a newer load whose checks pass.
    db.insert(
        "ops_stream_batches",
        [["speed", "q1", 2, now - timedelta(seconds=2), now, 2000, 5, 5, 0, 0, 0, now - timedelta(seconds=3)]],
        column_names=batch_columns,
    )  # fmt: skip
    db.insert("dq_results", [["load-2", D3, "validity:sales", 1.0, 0.99, True, now]], column_names=dq_columns)
    third = alerts.check(db, limits, "check-3")
    assert {(t.alert, t.state) for t in third.transitions} == {(a, alerts.RESOLVED) for a in alerts.ALERTS}
    assert third.breached == () and third.fired == ()

    recorded = rows(db, "SELECT run_id, alert, state, value, threshold FROM v_ops_alerts ORDER BY recorded_at, alert")
    assert [(r[0], r[1], r[2]) for r in recorded] == [
        ("check-1", alerts.DQ_FAILURES, alerts.FIRING),
        ("check-1", alerts.FRESHNESS, alerts.FIRING),
        ("check-1", alerts.STREAM_LAG, alerts.FIRING),
        ("check-3", alerts.DQ_FAILURES, alerts.RESOLVED),
        ("check-3", alerts.FRESHNESS, alerts.RESOLVED),
        ("check-3", alerts.STREAM_LAG, alerts.RESOLVED),
    ]
    assert recorded[2][3:] == (1990.0, 120.0) and recorded[5][3:] == (3.0, 120.0)
