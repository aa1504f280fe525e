"""Row builders of the real-time tables: per-batch sales deltas per 5-minute window (exact money,
late events in their own window) and the newest stock level per store/product by (event_time, event_id)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from retail_platform.streaming import tables
from retail_platform.streaming.realtime import (
    revenue,
    sales_window_rows,
    stock_rows,
    stock_version,
    unit_price,
    window_start,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def sale(store="store_001", product="SKU0001", at=T0, quantity=1, price=1.0):
    return {
        "event_id": str(uuid.uuid4()),
        "event_time": at,
        "store_id": store,
        "product_id": product,
        "quantity": quantity,
        "unit_price": price,
    }


def inventory(new_quantity, at=T0, event_id=None, store="store_001", product="SKU0001", change=-1):
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_time": at,
        "store_id": store,
        "product_id": product,
        "quantity_change": change,
        "new_quantity": new_quantity,
        "reason": "sale",
    }


def test_windows_are_five_minutes_aligned_to_the_epoch():
    assert window_start(T0 + timedelta(minutes=4, seconds=59)) == T0
    assert window_start(T0 + timedelta(minutes=5)) == T0 + timedelta(minutes=5)
    assert window_start(datetime(2026, 3, 2, 10, 7, 30, 999999, tzinfo=timezone.utc)) == T0 + timedelta(minutes=5)


def test_money_is_exact_to_the_cent():
    assert unit_price(29.99) == Decimal("29.99")
    assert revenue(3, 0.1) == Decimal("0.30")  # 3 * 0.1 in floats is 0.30000000000000004
    assert revenue(1, 2.675) == Decimal("2.68")  # rounded half up to cents, like a Decimal(18, 2) price
    assert sum(revenue(1, 0.01) for _ in range(1000)) == Decimal("10.00")


def test_sales_rows_sum_units_revenue_and_lines_per_store_product_window():
    rows = sales_window_rows(
        [
            sale(quantity=2, price=29.99),
            sale(quantity=1, price=29.99, at=T0 + timedelta(minutes=4)),
            sale(quantity=5, price=1.5, at=T0 + timedelta(minutes=5)),
            sale(product="SKU0002", quantity=1, price=3.0),
        ]
    )
    assert rows == [
        ["store_001", "SKU0001", T0, 3, Decimal("89.97"), 2],
        ["store_001", "SKU0001", T0 + timedelta(minutes=5), 5, Decimal("7.50"), 1],
        ["store_001", "SKU0002", T0, 1, Decimal("3.00"), 1],
    ]
    assert len(rows[0]) == len(tables.SALES_5MIN.columns)


def test_a_late_sale_lands_in_its_own_old_window_and_is_counted():
    late = T0 - timedelta(days=3, minutes=2)
    rows = sales_window_rows([sale(quantity=1, price=2.0), sale(quantity=4, price=2.0, at=late)])
    assert [(r[2], r[3]) for r in rows] == [(window_start(late), 4), (T0, 1)]


def test_sales_rows_are_timezone_aware():
    # clickhouse-connect would read a naive datetime in the machine's local zone
    assert sales_window_rows([sale()])[0][2].tzinfo is not None


def test_stock_version_orders_by_event_time_then_event_id():
    low, high = "00000000-0000-4000-8000-000000000001", "ffffffff-0000-4000-8000-000000000000"
    assert stock_version(T0, low) < stock_version(T0, high)
    assert stock_version(T0, high) < stock_version(T0 + timedelta(microseconds=1), low)
    assert stock_version(T0, high.upper()) == stock_version(T0, high)
    assert stock_version(T0, high) < 2**256


def test_stock_rows_keep_the_newest_event_per_store_product_whatever_the_arrival_order():
    newest = inventory(7, at=T0 + timedelta(minutes=3))
    rows = stock_rows(
        [
            newest,
            inventory(9, at=T0 + timedelta(minutes=1)),
            inventory(40, at=T0 - timedelta(days=2)),  # late
            inventory(3, product="SKU0002"),
        ],
        batch_id=12,
    )
    assert [(r[0], r[1], r[2], r[6], r[8]) for r in rows] == [
        ("store_001", "SKU0001", 7, newest["event_id"], 12),
        ("store_001", "SKU0002", 3, rows[1][6], 12),
    ]
    assert rows[0][7] == stock_version(newest["event_time"], newest["event_id"])
    assert len(rows[0]) == len(tables.STOCK.columns)


def test_same_instant_resolves_by_event_id():
    a = inventory(1, event_id="10000000-0000-4000-8000-000000000000")
    b = inventory(2, event_id="20000000-0000-4000-8000-000000000000")
    assert stock_rows([b, a], 0)[0][2] == 2
    assert stock_rows([a, b], 0)[0][2] == 2
