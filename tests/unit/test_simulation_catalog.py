"""The simulated catalogue: deterministic, contract-conforming ids, the documented stock policy, and
its landing files and warehouse rows (no warehouse needed)."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from retail_platform.events.contracts import EVENT_TYPES
from retail_platform.settings import REPO_ROOT
from retail_platform.simulation import demand
from retail_platform.simulation.catalog import (
    MAX_ORDER_QUANTITY,
    SERVICE_LEVEL_Z,
    CatalogConfig,
    generate_catalog,
)
from retail_platform.simulation.catalog_load import warehouse_rows, write_landing

CONFIG = CatalogConfig(seed=11, stores=8, products=40, lines_per_store_hour=30)


@pytest.fixture(scope="module")
def catalog():
    return generate_catalog(CONFIG)


def test_same_config_gives_an_identical_catalogue(catalog):
    again = generate_catalog(CONFIG)
    assert again.records() == catalog.records()
    assert again.fingerprint == catalog.fingerprint
    for name in ("base_daily_units", "reorder_point", "order_quantity", "safety_stock", "initial_stock"):
        assert np.array_equal(getattr(again, name), getattr(catalog, name)), name


def test_another_seed_gives_another_catalogue(catalog):
    assert generate_catalog(CatalogConfig(seed=12, stores=8, products=40)).fingerprint != catalog.fingerprint


def test_parts_draw_from_their_own_streams(catalog):
    # More products must not reshuffle the stores or the suppliers.
    bigger = generate_catalog(CatalogConfig(seed=11, stores=8, products=80, suppliers=catalog.config.supplier_count))
    assert bigger.stores[0].store_name == catalog.stores[0].store_name
    assert [s.timezone for s in bigger.stores] == [s.timezone for s in catalog.stores]
    assert bigger.suppliers == catalog.suppliers


def test_ids_match_the_event_schemas(catalog):
    schema = EVENT_TYPES["sales_transaction"].schema["properties"]
    store_pattern = re.compile(schema["store_id"]["pattern"])
    product_pattern = re.compile(schema["product_id"]["pattern"])
    assert catalog.store_ids[:2] == ["store_001", "store_002"]
    assert catalog.product_ids[:2] == ["SKU0001", "SKU0002"]
    assert all(store_pattern.match(s) for s in catalog.store_ids)
    assert all(product_pattern.match(p) for p in catalog.product_ids)
    assert len(set(catalog.store_ids)) == 8 and len(set(catalog.product_ids)) == 40


def test_store_attributes(catalog):
    for store in catalog.stores:
        ZoneInfo(store.timezone)  # a real IANA zone
        assert 0 <= store.open_hour < store.close_hour <= 24
        assert len(store.country) == 2 and store.city and store.region
        assert store.storage_capacity_units > 0
        dow = np.array(store.dow_factors)
        assert dow.sum() == pytest.approx(7.0, abs=1e-4)
        assert all(dow[d] == 0 for d in store.closed_weekdays)
        assert demand.intraday_weights(store.open_hour, store.close_hour).sum() == pytest.approx(1.0)
    assert any(s.close_hour - s.open_hour == 24 for s in catalog.stores), "a fleet keeps one 24-hour store"
    assert np.mean([s.size_factor for s in catalog.stores]) == pytest.approx(1.0, abs=1e-5)


def test_products_have_two_decimal_prices_above_cost(catalog):
    suppliers = {s.supplier_id for s in catalog.suppliers}
    for product in catalog.products:
        assert product.unit_price == product.unit_price.quantize(Decimal("0.01")) > 0
        assert product.unit_cost == product.unit_cost.quantize(Decimal("0.01")) > 0
        assert product.unit_cost < product.unit_price
        assert product.supplier_id in suppliers
        assert product.category and product.sub_category and product.brand
        assert product.price_elasticity < 0
    fresh = {s.supplier_id for s in catalog.suppliers if s.fresh}
    for product in catalog.products:
        perishable = 0 < product.shelf_life_days <= 30
        assert (product.supplier_id in fresh) == perishable


def test_demand_level_holds_for_the_fleet(catalog):
    # Expected sale lines per open hour, averaged over the fleet, equal lines_per_store_hour.
    per_store_daily_lines = catalog.base_lines.sum(axis=1)
    weekly_hours = np.array([s.weekly_open_hours for s in catalog.stores])
    per_open_hour = per_store_daily_lines * 7 / weekly_hours
    assert per_open_hour.mean() == pytest.approx(CONFIG.lines_per_store_hour, rel=1e-5)  # size factors keep 6 decimals


def test_reorder_policy_follows_the_documented_formula(catalog):
    suppliers = {s.supplier_id: s for s in catalog.suppliers}
    for s in range(0, 8, 3):
        for p in range(0, 40, 7):
            product = catalog.products[p]
            supplier = suppliers[product.supplier_id]
            d = catalog.base_daily_units[s, p]
            sd = math.sqrt(d / demand.MEAN_QUANTITY * demand.MEAN_SQUARED_QUANTITY)
            lead, sd_lead = supplier.lead_time_days, supplier.lead_time_stddev_days
            safety = math.ceil(SERVICE_LEVEL_Z * math.sqrt(lead * sd**2 + d**2 * sd_lead**2))
            assert catalog.safety_stock[s, p] == safety
            assert catalog.reorder_point[s, p] == math.ceil(d * lead) + safety
            q = catalog.order_quantity[s, p]
            assert q % supplier.min_order_quantity == 0 and 0 < q <= MAX_ORDER_QUANTITY
            assert q >= d * (lead + 1) or q + supplier.min_order_quantity > MAX_ORDER_QUANTITY
            assert catalog.reorder_point[s, p] < catalog.initial_stock[s, p] <= catalog.reorder_point[s, p] + q


def test_landing_files_are_rewritten_identically(tmp_path, catalog):
    folder = write_landing(catalog, directory=tmp_path / "landing" / "catalog")
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert set(first) == {"stores.jsonl", "suppliers.jsonl", "products.jsonl", "store_products.jsonl", "_manifest.json"}
    write_landing(catalog, directory=folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first
    manifest = json.loads(first["_manifest.json"])
    assert manifest["fingerprint"] == catalog.fingerprint
    rows = [json.loads(line) for line in first["store_products.jsonl"].splitlines()]
    assert len(rows) == 8 * 40 == manifest["files"]["store_products"]["rows"]
    assert rows[0]["reorder_point"] == int(catalog.reorder_point[0, 0])
    stores = [json.loads(line) for line in first["stores.jsonl"].splitlines()]
    assert stores[0]["opening_hours"] == catalog.stores[0].opening_hours


def _table_columns(table: str) -> set[str]:
    for path in sorted((REPO_ROOT / "sql").glob("0*.sql")):
        text = path.read_text()
        match = re.search(rf"CREATE TABLE IF NOT EXISTS \{{database\}}\.{table}\s*\((.*?)\n\)", text, re.S)
        if match:
            return set(re.findall(r"^ {4}(\w+) ", match.group(1), re.M)) - {"INDEX", "CONSTRAINT"}
    raise AssertionError(f"no migration creates {table}")


def test_warehouse_rows_fit_the_migrated_tables(catalog):
    rows = warehouse_rows(catalog)
    assert set(rows) == {"dim_store", "dim_supplier", "dim_product", "rt_reorder_policy"}
    for table, (columns, values) in rows.items():
        assert set(columns) <= _table_columns(table), table
        assert all(len(row) == len(columns) for row in values)
    assert len(rows["rt_reorder_policy"][1]) == 8 * 40
    # Deterministic versions: a reload inserts identical keys and versions.
    assert warehouse_rows(generate_catalog(CONFIG)) == rows
