"""The daily-grain simulated history: its demand is the simulator's process, sales are demand censored
by stock, and its fact rows are exact (decimal prices, one row per store/product/day)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pytest

from retail_platform.simulation import demand, fact_history

CONFIG = fact_history.SyntheticConfig(end_date=date(2026, 3, 31), days=120, stores=3, products=12, seed=9)


@pytest.fixture(scope="module")
def history():
    return fact_history.generate(CONFIG)


def test_deterministic(history):
    again = fact_history.generate(CONFIG)
    assert np.array_equal(again.demand_units, history.demand_units)
    assert np.array_equal(again.on_hand, history.on_hand)


def test_expected_units_are_the_simulators_process(history):
    expected = demand.expected_daily_demand(history.catalog, CONFIG.first_day, CONFIG.days)
    assert np.allclose(history.expected_units, expected.units)
    # The draws have that mean: the total is within a few standard deviations of the expectation.
    total_var = expected.variance.sum()
    assert abs(history.demand_units.sum() - expected.units.sum()) < 5 * np.sqrt(total_var)


def test_sales_are_demand_censored_by_stock(history):
    assert (history.sold_units <= history.demand_units).all()
    short = history.sold_units < history.demand_units
    assert (history.on_hand[short] == 0).all()  # a day that lost sales ended empty: a stock-out
    assert (history.on_hand >= 0).all()


def test_fact_rows(history):
    sales = fact_history.sales_table(history, 0, 31, "b1")
    assert sales.num_rows == int((history.sold_units[:, :, :31] > 0).sum())
    assert len(set(sales.column("sale_id").to_pylist())) == sales.num_rows
    row = sales.slice(0, 1).to_pylist()[0]
    p = history.catalog.product_ids.index(row["product_id"])
    assert row["unit_price"] == Decimal(int(history.price_cents[p, 0])) / 100
    assert row["unit_cost"] == history.catalog.products[p].unit_cost
    inventory = fact_history.inventory_table(history, 0, 31, "b1")
    assert inventory.num_rows == CONFIG.stores * CONFIG.products * 31


def test_decimal_from_cents_is_exact():
    values = fact_history._decimal_from_cents(np.array([199, -5, 0, 123456789012], dtype=np.int64)).to_pylist()
    assert values == [Decimal("1.99"), Decimal("-0.05"), Decimal("0.00"), Decimal("1234567890.12")]


def test_month_blocks_cover_the_days_once(history):
    blocks = list(fact_history.month_blocks(history))
    assert blocks[0][0] == 0 and blocks[-1][1] == CONFIG.days
    assert all(a[1] == b[0] for a, b in zip(blocks[:-1], blocks[1:], strict=True))
    assert all(history.days[s].month == history.days[e - 1].month for s, e in blocks)
