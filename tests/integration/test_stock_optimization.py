"""Stock optimisation against the real warehouse: a simulated catalogue, 28 days of facts and the model's
forecasts in, recommendations, anomalies, the live reorder policy and the BI view out.

Facts are written directly (the daily load is tested in test_daily_etl.py); forecasts go into the
ml_demand_forecast table of migration 0011, as the predictions DAG writes them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import pytest

from retail_platform.optimization.policy import POLICY_SOURCE, OptimizationConfig
from retail_platform.optimization.warehouse import run_day
from retail_platform.simulation import demand
from retail_platform.simulation.catalog import CatalogConfig, generate_catalog
from retail_platform.simulation.catalog_load import load_warehouse
from tests.integration.databases import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]


@pytest.fixture(scope="module")
def warehouse(warehouse):
    """A database of this module's own: the stores and products of this module only, whatever earlier modules loaded."""
    with scratch_database(warehouse, "retail_optimization") as settings:
        yield settings


DAY = date(2026, 11, 20)
DAYS = 28
MODEL = "gbt-test-v1"
CATALOG = generate_catalog(CatalogConfig(seed=7, stores=2, products=10))
STOCKED_OUT = ("store_001", "SKU0001")
OVERSTOCKED = ("store_002", "SKU0002")  # fills its store: no room for other orders
SPIKE = ("store_001", "SKU0003")


def _sales_and_stock() -> tuple[list[list], list[list]]:
    """fact_sales lines (one per store/product/day: the expected units) and fact_inventory snapshots."""
    first = DAY - timedelta(days=DAYS - 1)
    units = np.rint(demand.expected_daily_demand(CATALOG, first, DAYS).units).astype(int)
    sales, stock = [], []
    for s, store in enumerate(CATALOG.stores):
        for p, product in enumerate(CATALOG.products):
            key = (store.store_id, product.product_id)
            for i in range(DAYS):
                day = first + timedelta(days=i)
                sold = int(units[s, p, i]) * (5 if key == SPIKE and day == DAY else 1)
                at = datetime.combine(day, time(12), tzinfo=timezone.utc)
                if sold:
                    sales.append([f"{key[0]}-{key[1]}-{day}", day, at, key[0], key[1], product.category, sold,
                                  product.unit_price, product.unit_cost, "it"])  # fmt: skip
                on_hand = 0 if key == STOCKED_OUT else 100_000 if key == OVERSTOCKED else 40 + 10 * p
                stock.append([day, key[0], key[1], product.category, product.supplier_id, on_hand, 0, 0, sold,
                              10, 5, product.unit_cost, at, "it"])  # fmt: skip
    return sales, stock


SALES_COLUMNS = ["sale_id", "date_key", "event_time", "store_id", "product_id", "category", "quantity", "unit_price",
                 "unit_cost", "batch_id"]  # fmt: skip
STOCK_COLUMNS = ["date_key", "store_id", "product_id", "category", "supplier_id", "quantity_on_hand",
                 "quantity_on_order", "quantity_received", "quantity_sold", "reorder_point", "safety_stock",
                 "unit_cost", "last_event_time", "batch_id"]  # fmt: skip
FORECAST_COLUMNS = ["forecast_date", "store_id", "product_id", "target_date", "horizon", "predicted_units",
                    "lower_units", "upper_units", "model_version", "created_at"]  # fmt: skip


def _forecasts() -> list[list]:
    """Store 1's forecasts made on DAY - 1 (covering DAY) and on DAY: expected demand +- 1.28 sqrt(var)."""
    expected = demand.expected_daily_demand(CATALOG, DAY, 8, stores=np.array([0]))
    now = datetime.now(timezone.utc)
    rows = []
    for made in (DAY - timedelta(days=1), DAY):
        for p, product in enumerate(CATALOG.products):
            for h in range(1, 8):
                target = made + timedelta(days=h)
                i = (target - DAY).days
                mean = float(expected.units[0, p, i])
                half = 1.2816 * float(np.sqrt(expected.variance[0, p, i]))
                rows.append([made, "store_001", product.product_id, target, h, mean, max(mean - half, 0.0),
                             mean + half, MODEL, now])  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def client(warehouse):
    from retail_platform.warehouse.client import connect

    c = connect(warehouse)
    yield c
    c.close()


@pytest.fixture(scope="module")
def loaded(warehouse, client):
    load_warehouse(CATALOG, warehouse, client=client)
    sales, stock = _sales_and_stock()
    client.insert("fact_sales", sales, column_names=SALES_COLUMNS)
    client.insert("fact_inventory", stock, column_names=STOCK_COLUMNS)
    client.insert("ml_demand_forecast", _forecasts(), column_names=FORECAST_COLUMNS)
    # The daily load's watermark: the serving views take DAY's stock from fact_inventory.
    client.insert(
        "ops_batch_watermark",
        [[DAY, datetime.now(timezone.utc), "it", "it", 0, 0, 0, len(sales), len(stock), 0]],
        column_names=["day", "loaded_at", "batch_id", "run_id", "bronze_rows", "duplicates_dropped",
                      "quarantined_rows", "sales_rows", "inventory_rows", "duration_ms"],
    )  # fmt: skip
    return run_day(client, warehouse.clickhouse_database, DAY, OptimizationConfig(), "it-run-1")


def _recommendations(client) -> dict[tuple[str, str], dict]:
    result = client.query(f"SELECT * FROM ml_reorder_recommendations FINAL WHERE run_date = '{DAY}'")
    return {(r["store_id"], r["product_id"]): r for r in result.named_results()}


def test_one_recommendation_per_stocked_store_product(loaded, client):
    recs = _recommendations(client)
    assert len(recs) == 20 and loaded.cells == 20
    assert loaded.stock_day == DAY
    # Store 1 has model forecasts, store 2 falls back to the baseline forecaster.
    assert {r["model_version"] for k, r in recs.items() if k[0] == "store_001"} == {MODEL}
    assert {r["model_version"] for k, r in recs.items() if k[0] == "store_002"} == {"baseline-ma-dow"}
    assert loaded.model_forecast_cells == 10
    for r in recs.values():
        assert r["reorder_point"] >= r["safety_stock"] >= 0
        assert r["inventory_position"] == r["quantity_on_hand"] + r["quantity_on_order"]
        assert r["abc_class"] in "ABC" and r["xyz_class"] in "XYZ"
        assert r["service_level"] == 0.95 and r["run_id"] == "it-run-1"


def test_an_empty_shelf_orders_now_and_an_overstock_does_not(loaded, client):
    recs = _recommendations(client)
    out = recs[STOCKED_OUT]
    assert out["order_now"] and out["reason"] in ("stockout", "shelf_life_limit")
    assert out["recommended_quantity"] > 0 and out["order_by_date"] == DAY and out["is_below_reorder_point"]
    full = recs[OVERSTOCKED]
    assert not full["order_now"] and full["reason"] == "scheduled"
    assert full["order_by_date"] > DAY + timedelta(days=90) and full["is_slow_moving"]
    # 100,000 units fill store 2 beyond its storage capacity: its other due items cannot be ordered.
    due = [r for k, r in recs.items() if k[0] == "store_002" and r["is_below_reorder_point"]]
    assert due and all(r["reason"] == "capacity_limit" and not r["order_now"] for r in due)


def test_the_live_reorder_policy_is_the_new_one(loaded, client):
    recs = _recommendations(client)
    policy = client.query(
        "SELECT store_id, product_id, reorder_point, order_quantity, safety_stock, policy_source "
        "FROM rt_reorder_policy FINAL"
    ).result_rows
    assert len(policy) == 20
    for store, product, rop, qty, safety, source in policy:
        r = recs[(store, product)]
        assert (rop, qty, safety, source) == (r["reorder_point"], r["order_quantity"], r["safety_stock"], POLICY_SOURCE)
    # The serving layer (and the speed layer's alerts) judge stock against it.
    current = dict(
        client.query("SELECT product_id, reorder_point FROM v_stock_current WHERE store_id = 'store_001'").result_rows
    )
    assert current[STOCKED_OUT[1]] == recs[STOCKED_OUT]["reorder_point"]


def test_anomalies_against_the_forecast(loaded, client):
    rows = client.query(
        f"SELECT store_id, product_id, anomaly_type, model_version FROM ml_inventory_anomalies FINAL "
        f"WHERE anomaly_date = '{DAY}'"
    ).result_rows
    found = {(s, p, t) for s, p, t, _ in rows}
    assert (*SPIKE, "sales_spike") in found
    assert (*STOCKED_OUT, "stockout_with_demand") in found
    assert {m for s, p, t, m in rows if (s, p) == SPIKE and t == "sales_spike"} == {MODEL}
    assert loaded.anomalies == len(rows)


def test_the_bi_view_shows_the_newest_run_with_names(loaded, client):
    rows = list(client.query("SELECT * FROM v_reorder_recommendations").named_results())
    assert len(rows) == 20
    assert {r["run_date"] for r in rows} == {DAY}
    assert all(r["store_name"] and r["product_name"] and r["category"] for r in rows)
    full = next(r for r in rows if (r["store_id"], r["product_id"]) == OVERSTOCKED)
    assert full["days_of_cover"] > 90


def test_rerunning_a_day_replaces_it_and_a_backfill_keeps_the_live_policy(loaded, warehouse, client):
    before = _recommendations(client)
    again = run_day(client, warehouse.clickhouse_database, DAY, OptimizationConfig(service_level=0.99), "it-run-2")
    # Replaced, not appended: still one row per cell even without FINAL, now at the new service level.
    count, runs = client.query(
        f"SELECT count(), groupUniqArray(run_id) FROM ml_reorder_recommendations WHERE run_date = '{DAY}'"
    ).result_rows[0]
    assert (count, runs) == (20, ["it-run-2"]) and again.cells == 20
    after = _recommendations(client)
    assert all(after[k]["safety_stock"] >= before[k]["safety_stock"] for k in before)
    assert sum(after[k]["safety_stock"] for k in after) > sum(before[k]["safety_stock"] for k in before)
    live = dict(
        ((s, p), rop)
        for s, p, rop in client.query(
            "SELECT store_id, product_id, reorder_point FROM rt_reorder_policy FINAL"
        ).result_rows
    )
    # A backfill of an older day writes its own rows but leaves the live policy of the newest day.
    old = run_day(client, warehouse.clickhouse_database, DAY - timedelta(days=3), OptimizationConfig(), "it-backfill")
    assert old.cells == 20 and old.policy_rows == 0
    still = dict(
        ((s, p), rop)
        for s, p, rop in client.query(
            "SELECT store_id, product_id, reorder_point FROM rt_reorder_policy FINAL"
        ).result_rows
    )
    assert still == live == {k: r["reorder_point"] for k, r in after.items()}
