"""Accepted events of one micro-batch -> rows of the real-time tables.

- ``rt_sales_5min`` receives per-batch *deltas* (units, revenue and sale lines per store, product and
  5-minute window of event_time); the SummingMergeTree adds them up. A late event (event_time days ago)
  adds to its own, old window: it is counted, never dropped.
- ``rt_stock`` receives the newest inventory event per store/product of the batch with a version that
  orders events by (event_time, event_id); the ReplacingMergeTree keeps the highest version, so an
  event that arrives late or out of order never overwrites a newer stock level.

Rows come out sorted, so a replayed batch produces the same insert (not required by the deduplication
token, but it keeps replays byte-for-byte comparable in tests). Datetimes stay timezone-aware (UTC):
clickhouse-connect reads a naive datetime in the process's local zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

WINDOW = timedelta(minutes=5)
_CENT = Decimal("0.01")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def unit_price(value: float) -> Decimal:
    """A contract price (a JSON number) as an exact amount in cents.

    ``repr`` of a float is the shortest string that reads back as the same float, i.e. what the
    producer wrote (29.99, not 29.989999...). Rounding to cents first, then multiplying, is what the
    batch layer does with ``unit_price Decimal(18, 2)`` in fact_sales, so both layers agree to the cent.
    """
    return Decimal(repr(float(value))).quantize(_CENT, rounding=ROUND_HALF_UP)


def revenue(quantity: int, price: float) -> Decimal:
    return quantity * unit_price(price)


def window_start(event_time: datetime, width: timedelta = WINDOW) -> datetime:
    """Start of the tumbling window holding event_time (UTC, aligned to the epoch)."""
    seconds = int(width.total_seconds())
    ts = int((event_time - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=ts - ts % seconds)


def sales_window_rows(sales: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """Per-batch deltas of rt_sales_5min: [store_id, product_id, window_start, units, revenue, transactions].

    ``transactions`` counts sale lines: a sales_transaction event is one line of one basket, so at the
    store/product grain it is the number of baskets holding the product.
    """
    totals: dict[tuple[str, str, datetime], list[Any]] = {}
    for sale in sales:
        key = (sale["store_id"], sale["product_id"], window_start(sale["event_time"]))
        row = totals.get(key)
        if row is None:
            totals[key] = row = [0, Decimal("0.00"), 0]
        row[0] += int(sale["quantity"])
        row[1] += revenue(int(sale["quantity"]), sale["unit_price"])
        row[2] += 1
    return [[*key, *values] for key, values in sorted(totals.items())]


def stock_version(event_time: datetime, event_id: str) -> int:
    """A UInt256 that orders inventory events by event_time (microseconds), then event_id.

    ReplacingMergeTree takes one version column, so the pair is packed: microseconds since the epoch
    in the high bits, the event id's 128 bits below. For ids in the contract's UUID format the numeric
    order of the 128 bits is the order of the lower-cased text.
    """
    micros = (event_time - _EPOCH) // timedelta(microseconds=1)
    return (micros << 128) | uuid.UUID(event_id).int


def event_order(event: Mapping[str, Any]) -> tuple[datetime, int]:
    """The order in which inventory events of one store/product take effect (same as stock_version)."""
    return event["event_time"], uuid.UUID(event["event_id"]).int


def stock_rows(inventory: Iterable[Mapping[str, Any]], batch_id: int) -> list[list[Any]]:
    """rt_stock rows: the newest event per store/product of the batch (older ones would lose anyway)."""
    newest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for event in inventory:
        key = (event["store_id"], event["product_id"])
        current = newest.get(key)
        if current is None or event_order(event) > event_order(current):
            newest[key] = event
    return [
        [
            store_id,
            product_id,
            int(e["new_quantity"]),
            int(e["quantity_change"]),
            e["reason"],
            e["event_time"],
            e["event_id"],
            stock_version(e["event_time"], e["event_id"]),
            batch_id,
        ]
        for (store_id, product_id), e in sorted(newest.items())
    ]
