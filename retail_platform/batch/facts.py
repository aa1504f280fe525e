"""Fact rows of one day from its silver rows: pure functions over pandas frames, Arrow out.

* ``fact_sales``: one row per sale line. sale_id is the event_id (unique per line; transaction_id is
  the basket, shared by the lines of one basket). unit_price is rounded to cents exactly as the speed
  layer rounds it (``Decimal(repr(price))``, half up), so both layers agree to the cent; unit_cost and
  category come from the dim_product version valid at event_time (conform.py). revenue, cost and
  profit are left to the table's DEFAULT expressions (exact Decimal arithmetic in the warehouse).
* ``fact_inventory``: end-of-day stock per store/product: the last inventory event of the day by
  (event_time, event_id) gives quantity_on_hand; a store/product without events that day carries the
  last known snapshot forward (same level, same cut-off event). Reorder point and safety stock are
  the policy in force at load time (rt_reorder_policy). quantity_on_order: units ordered and not yet
  received at the end of the day, carried from the previous snapshot's value plus the day's
  purchase_order events (placed adds the quantity, received subtracts it; never below zero, so a
  receipt whose order predates the facts cannot make stock on order negative).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retail_platform.batch.conform import ProductVersions

_CENT = Decimal("0.01")
MONEY = pa.decimal128(18, 2)
TIMESTAMP = pa.timestamp("ms", tz="UTC")

SALES_COLUMNS = (
    "sale_id", "transaction_id", "date_key", "event_time", "store_id", "product_id", "category", "customer_id",
    "payment_method", "quantity", "unit_price", "unit_cost", "batch_id",
)  # fmt: skip
INVENTORY_COLUMNS = (
    "date_key", "store_id", "product_id", "category", "supplier_id", "quantity_on_hand", "quantity_on_order",
    "quantity_received",
    "quantity_sold", "reorder_point", "safety_stock", "unit_cost", "last_event_id", "last_event_time", "batch_id",
)  # fmt: skip
SALES_TYPES = (
    pa.string(), pa.string(), pa.date32(), TIMESTAMP, pa.string(), pa.string(), pa.string(), pa.string(),
    pa.string(), pa.int32(), MONEY, MONEY, pa.string(),
)  # fmt: skip
# What a snapshot carried forward needs from the previous day (fact_inventory's columns).
SNAPSHOT_COLUMNS = ("store_id", "product_id", "quantity_on_hand", "last_event_id", "last_event_time")
ON_ORDER_COLUMN = "quantity_on_order"  # also in a previous snapshot: the day's orders move it on


def cents(price: float) -> Decimal:
    """A contract price as an exact amount in cents (the speed layer's rounding)."""
    return Decimal(repr(float(price))).quantize(_CENT, rounding=ROUND_HALF_UP)


def end_of_day_instant(day: date) -> datetime:
    """The last millisecond of a UTC day: the instant a day's snapshot describes."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=timezone.utc) - timedelta(milliseconds=1)


def cents_of(prices: pd.Series) -> pa.Array:
    """``cents`` of every price, computed once per distinct price (a day's million lines carry a few
    thousand prices) and spread back by index."""
    values = prices.to_numpy(dtype="float64")
    distinct, where = np.unique(values, return_inverse=True)
    amounts = pa.array([cents(p) for p in distinct.tolist()], MONEY)
    return amounts.take(pa.array(where.reshape(-1).astype(np.int64)))


def _strings(column: pd.Series) -> pa.Array:
    return pa.array(column.to_numpy(dtype=object), pa.string())


def _instants(column: pd.Series) -> pa.Array:
    """Timestamps to the facts' milliseconds, truncated as a datetime's conversion truncates them."""
    return pc.cast(pa.array(pd.to_datetime(column, utc=True)), TIMESTAMP, safe=False)


def sales_rows(silver: pd.DataFrame, day: date, batch_id: str) -> pa.Table:
    """fact_sales rows of the day's silver sales (column-wise: a day holds up to a million lines)."""
    n = len(silver)
    if not n:
        return pa.table({name: pa.array([], kind) for name, kind in zip(SALES_COLUMNS, SALES_TYPES, strict=True)})
    return pa.table(
        {
            "sale_id": _strings(silver["event_id"]),
            "transaction_id": _strings(silver["transaction_id"]),
            "date_key": pa.array(np.full(n, np.datetime64(day, "D"))).cast(pa.date32()),
            "event_time": _instants(silver["event_time"]),
            "store_id": _strings(silver["store_id"]),
            "product_id": _strings(silver["product_id"]),
            "category": _strings(silver["category"]),
            "customer_id": _strings(silver["customer_id"].fillna("")),
            "payment_method": _strings(silver["payment_method"]),
            "quantity": pa.array(silver["quantity"].astype("int64").to_numpy(), pa.int32()),
            "unit_price": cents_of(silver["unit_price"]),
            "unit_cost": pa.array([Decimal(c) for c in silver["unit_cost"].tolist()], MONEY),
            "batch_id": pa.repeat(pa.scalar(batch_id, pa.string()), n),
        }
    )


def last_events(inventory: pd.DataFrame) -> pd.DataFrame:
    """The last inventory event per store/product by (event_time, event_id): the end-of-day level.

    Ties on event_time are broken by event_id: for the contract's lower-case UUIDs, text order is the
    order of their 128-bit values, which is how the speed layer's rt_stock version orders them."""
    if inventory.empty:
        return pd.DataFrame(columns=[*SNAPSHOT_COLUMNS])
    ordered = inventory.sort_values(["store_id", "product_id", "event_time", "event_id"], kind="stable")
    last = ordered.groupby(["store_id", "product_id"], sort=True, as_index=False).tail(1)
    return pd.DataFrame(
        {
            "store_id": last["store_id"].to_numpy(),
            "product_id": last["product_id"].to_numpy(),
            "quantity_on_hand": last["new_quantity"].astype("int64").to_numpy(),
            "last_event_id": last["event_id"].to_numpy(),
            "last_event_time": last["event_time"].to_numpy(),
        }
    ).reset_index(drop=True)


def end_of_day_stock(inventory: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Stock per store/product at the end of the day: today's last event, else the previous snapshot.

    ``previous`` holds the last known snapshot per store/product before the day (SNAPSHOT_COLUMNS);
    a store/product in neither has no known stock and gets no row."""
    today = last_events(inventory)
    if previous is None or previous.empty:
        return today.sort_values(["store_id", "product_id"]).reset_index(drop=True)
    keys = set(zip(today["store_id"], today["product_id"], strict=True))
    carried = previous[[(s, p) not in keys for s, p in zip(previous["store_id"], previous["product_id"], strict=True)]]
    parts = [f for f in (today, carried[list(SNAPSHOT_COLUMNS)]) if not f.empty]
    both = pd.concat(parts, ignore_index=True) if parts else today
    return both.sort_values(["store_id", "product_id"]).reset_index(drop=True)


def on_order(previous: pd.DataFrame | None, orders: pd.DataFrame | None) -> dict[tuple[str, str], int]:
    """Units on order per store/product at the end of the day: the previous snapshot's value, plus
    the day's placed orders, minus its receipts (never below zero)."""
    units: dict[tuple[str, str], int] = {}
    if previous is not None and not previous.empty and ON_ORDER_COLUMN in previous:
        for s, p, q in zip(previous["store_id"], previous["product_id"], previous[ON_ORDER_COLUMN], strict=True):
            units[(s, p)] = int(q)
    if orders is not None and not orders.empty:
        sign = orders["status"].map({"placed": 1, "received": -1}).fillna(0).astype("int64")
        moved = (orders["quantity"].astype("int64") * sign).groupby([orders["store_id"], orders["product_id"]]).sum()
        for key, change in moved.items():
            units[key] = max(0, units.get(key, 0) + int(change))
    return units


def inventory_rows(
    day: date,
    inventory: pd.DataFrame,
    sales: pd.DataFrame,
    previous: pd.DataFrame,
    policy: dict[tuple[str, str], tuple[int, int]],
    products: ProductVersions,
    batch_id: str,
    orders: pd.DataFrame | None = None,
) -> pa.Table:
    """fact_inventory rows of the day. Store/products whose product has no dim_product version at the
    end of the day (not yet introduced, or closed) are left out: they cannot be valued. ``orders``:
    the day's accepted purchase_order events (``on_order``)."""
    stock = end_of_day_stock(inventory, previous)
    ordered = on_order(previous, orders)
    received: dict[tuple[str, str], int] = {}
    if not inventory.empty:
        deliveries = inventory[inventory["reason"] == "delivery"]
        received = deliveries.groupby(["store_id", "product_id"])["quantity_change"].sum().to_dict()
    sold: dict[tuple[str, str], int] = {}
    if not sales.empty:
        sold = sales.groupby(["store_id", "product_id"])["quantity"].sum().to_dict()
    at = end_of_day_instant(day)
    out: dict[str, list[Any]] = {c: [] for c in INVENTORY_COLUMNS}
    for row in stock.itertuples(index=False):
        version = products.at(row.product_id, at)
        if version is None:
            continue
        key = (row.store_id, row.product_id)
        reorder_point, safety_stock = policy.get(key, (0, 0))
        values = {
            "date_key": day,
            "store_id": row.store_id,
            "product_id": row.product_id,
            "category": version.category,
            "supplier_id": version.supplier_id,
            "quantity_on_hand": int(row.quantity_on_hand),
            "quantity_on_order": int(ordered.get(key, 0)),
            "quantity_received": int(received.get(key, 0)),
            "quantity_sold": int(sold.get(key, 0)),
            "reorder_point": int(reorder_point),
            "safety_stock": int(safety_stock),
            "unit_cost": version.unit_cost,
            "last_event_id": row.last_event_id,
            "last_event_time": pd.Timestamp(row.last_event_time).to_pydatetime(),
            "batch_id": batch_id,
        }
        for name, value in values.items():
            out[name].append(value)
    types = {
        "date_key": pa.date32(), "quantity_on_hand": pa.int32(), "quantity_on_order": pa.uint32(),
        "quantity_received": pa.uint32(),
        "quantity_sold": pa.int32(), "reorder_point": pa.uint32(), "safety_stock": pa.uint32(), "unit_cost": MONEY,
        "last_event_time": TIMESTAMP,
    }  # fmt: skip
    return pa.table({c: pa.array(out[c], types.get(c, pa.string())) for c in INVENTORY_COLUMNS})
