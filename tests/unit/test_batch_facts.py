"""Fact rows of a day: sale lines, end-of-day stock with carry-forward, and the day's partition."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd

from retail_platform.batch.conform import ProductVersions
from retail_platform.batch.facts import (
    cents,
    end_of_day_instant,
    end_of_day_stock,
    inventory_rows,
    last_events,
    on_order,
    sales_rows,
)
from retail_platform.batch.warehouse_load import month_partition

UTC = timezone.utc
DAY = date(2026, 2, 10)
FAR = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
PRODUCTS = ProductVersions(
    [
        {"product_id": p, "valid_from": datetime(2020, 1, 1, tzinfo=UTC), "valid_to": FAR, "category": "Dairy",
         "supplier_id": "SUP001", "unit_cost": Decimal("1.50")}
        for p in ("SKU0001", "SKU0002", "SKU0003")
    ]
)  # fmt: skip


def at(hour: int, minute: int = 0) -> pd.Timestamp:
    return pd.Timestamp(datetime(2026, 2, 10, hour, minute, tzinfo=UTC))


def inventory(rows):
    columns = ["store_id", "product_id", "event_time", "event_id", "new_quantity", "quantity_change", "reason"]
    return pd.DataFrame(rows, columns=columns)


def test_last_event_by_time_then_event_id():
    frame = inventory(
        [
            ("store_001", "SKU0001", at(9), "aaaa", 10, -1, "sale"),
            ("store_001", "SKU0001", at(18), "bbbb", 7, -3, "sale"),
            ("store_001", "SKU0001", at(18), "cccc", 40, 33, "delivery"),  # same instant: larger id is later
            ("store_001", "SKU0001", at(12), "ffff", 11, 1, "adjustment"),
        ]
    )
    last = last_events(frame)
    assert last.to_dict("records") == [
        {"store_id": "store_001", "product_id": "SKU0001", "quantity_on_hand": 40, "last_event_id": "cccc",
         "last_event_time": at(18)}
    ]  # fmt: skip


def test_quiet_store_products_carry_the_previous_snapshot_forward():
    today = inventory([("store_001", "SKU0001", at(9), "aaaa", 5, -1, "sale")])
    previous = pd.DataFrame(
        [
            ("store_001", "SKU0001", 6, "old1", at(1)),
            ("store_001", "SKU0002", 12, "old2", at(2)),
        ],
        columns=["store_id", "product_id", "quantity_on_hand", "last_event_id", "last_event_time"],
    )
    stock = end_of_day_stock(today, previous)
    assert stock[["product_id", "quantity_on_hand", "last_event_id"]].values.tolist() == [
        ["SKU0001", 5, "aaaa"],
        ["SKU0002", 12, "old2"],
    ]
    assert end_of_day_stock(inventory([]), previous)["quantity_on_hand"].tolist() == [6, 12]


def test_inventory_rows_sum_the_day_and_take_the_policy():
    events = inventory(
        [
            ("store_001", "SKU0001", at(8), "a1", 100, 90, "delivery"),
            ("store_001", "SKU0001", at(9), "a2", 98, -2, "sale"),
        ]
    )
    sales = pd.DataFrame({"store_id": ["store_001"], "product_id": ["SKU0001"], "quantity": [2]})
    table = inventory_rows(DAY, events, sales, pd.DataFrame(), {("store_001", "SKU0001"): (20, 5)}, PRODUCTS, "b1")
    row = table.to_pylist()[0]
    assert row["quantity_on_hand"] == 98 and row["quantity_received"] == 90 and row["quantity_sold"] == 2
    assert row["reorder_point"] == 20 and row["safety_stock"] == 5 and row["unit_cost"] == Decimal("1.50")
    assert row["date_key"] == DAY and row["last_event_id"] == "a2" and row["batch_id"] == "b1"


def test_products_without_a_version_at_the_end_of_the_day_are_left_out():
    events = inventory([("store_001", "SKU0404", at(9), "a", 3, -1, "sale")])
    assert inventory_rows(DAY, events, pd.DataFrame(), pd.DataFrame(), {}, PRODUCTS, "b").num_rows == 0


def test_prices_are_rounded_to_cents_as_the_speed_layer_does():
    assert cents(29.99) == Decimal("29.99")
    assert cents(1.005) == Decimal("1.01")  # the decimal text, half up; not the binary value 1.00499...
    assert cents(0.1 + 0.2) == Decimal("0.30")


def test_sales_rows_one_per_line():
    silver = pd.DataFrame(
        {
            "event_id": ["e1", "e2"],
            "transaction_id": ["t1", "t1"],
            "event_time": [at(10), at(11)],
            "store_id": ["store_001"] * 2,
            "product_id": ["SKU0001", "SKU0002"],
            "category": ["Dairy"] * 2,
            "customer_id": [None, "cust_000001"],
            "payment_method": ["cash", "mobile"],
            "quantity": [1, 3],
            "unit_price": [2.5, 1.99],
            "unit_cost": [Decimal("1.50"), Decimal("1.50")],
        }
    )
    rows = sales_rows(silver, DAY, "b1").to_pylist()
    assert [r["sale_id"] for r in rows] == ["e1", "e2"]
    assert rows[0]["customer_id"] == "" and rows[1]["unit_price"] == Decimal("1.99")
    assert {r["date_key"] for r in rows} == {DAY}
    assert sales_rows(silver.iloc[0:0], DAY, "b1").num_rows == 0


def test_day_boundaries():
    assert end_of_day_instant(DAY) == datetime(2026, 2, 10, 23, 59, 59, 999000, tzinfo=UTC)
    assert month_partition(DAY) == 202602


def orders(rows):
    return pd.DataFrame(rows, columns=["store_id", "product_id", "status", "quantity"])


def test_stock_on_order_carries_the_previous_day_and_moves_with_the_days_orders():
    previous = pd.DataFrame(
        {"store_id": ["store_001", "store_001"], "product_id": ["SKU0001", "SKU0002"], "quantity_on_hand": [4, 9],
         "last_event_id": ["p1", "p2"], "last_event_time": [at(7), at(7)], "quantity_on_order": [40, 12]}
    )  # fmt: skip
    day = orders(
        [
            ("store_001", "SKU0001", "received", 40),  # yesterday's order arrives
            ("store_001", "SKU0001", "placed", 36),  # and a new one is placed
            ("store_001", "SKU0003", "placed", 10),  # placed and received the same day
            ("store_001", "SKU0003", "received", 10),
            ("store_002", "SKU0002", "received", 5),  # an order older than the facts: never below zero
        ]
    )
    assert on_order(previous, day) == {
        ("store_001", "SKU0001"): 36, ("store_001", "SKU0002"): 12, ("store_001", "SKU0003"): 0,
        ("store_002", "SKU0002"): 0,
    }  # fmt: skip
    assert on_order(previous, None) == {("store_001", "SKU0001"): 40, ("store_001", "SKU0002"): 12}
    assert on_order(pd.DataFrame(), orders([])) == {}
    table = inventory_rows(DAY, inventory([]), pd.DataFrame(), previous, {}, PRODUCTS, "b1", day)
    assert {r["product_id"]: r["quantity_on_order"] for r in table.to_pylist()} == {"SKU0001": 36, "SKU0002": 12}


def test_sales_rows_column_wise_equal_the_row_by_row_conversion():
    """The column-wise fact rows against a line-by-line conversion (``cents`` of each price, each
    timestamp through a datetime): prices on a half cent and at float noise, sub-millisecond times,
    missing customers, silver's event_time as Arrow hands it over (datetime64 in UTC)."""
    import random

    rng = random.Random(17)
    prices = [0.005, 0.015, 1.005, 2.675, 0.1 + 0.2, 99999.995, 19.99, 1.0, 1e-05, 4.35, 8.345]
    n = 400
    base = datetime(2026, 2, 10, tzinfo=UTC)
    silver = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "transaction_id": [f"t{i // 3}" for i in range(n)],
            "event_time": pd.to_datetime(
                [base + timedelta(microseconds=rng.randrange(86_400_000_000)) for _ in range(n)], utc=True
            ),
            "store_id": [f"store_{i % 7:03d}" for i in range(n)],
            "product_id": [f"SKU{i % 11:04d}" for i in range(n)],
            "category": ["Dairy"] * n,
            "customer_id": [None if i % 4 else f"c{i}" for i in range(n)],
            "payment_method": ["cash"] * n,
            "quantity": [1 + i % 5 for i in range(n)],
            "unit_price": [rng.choice(prices) for _ in range(n)],
            "unit_cost": [Decimal("1.25")] * n,
        }
    )
    got = sales_rows(silver, DAY, "b1").to_pylist()
    for row, out in zip(silver.itertuples(index=False), got, strict=True):
        assert out["unit_price"] == cents(row.unit_price), row
        stamp = row.event_time.to_pydatetime()
        assert out["event_time"] == stamp.replace(microsecond=stamp.microsecond // 1000 * 1000), row
        assert out["customer_id"] == (row.customer_id or ""), row
        assert (out["sale_id"], out["quantity"], out["unit_cost"]) == (row.event_id, row.quantity, row.unit_cost)
    assert {r["unit_price"] for r in got} >= {Decimal("0.01"), Decimal("0.02"), Decimal("1.01"), Decimal("2.68")}
