"""EventBatch: the generator's output for a slice of simulated time, one row per event, columnar.

Rows are in event-time order (ties: a sale line before its inventory update). Rows are events of the
contracts (``is_message``) except ``LOST`` (demand a stock-out turned away), a fact that is *not* sent
but that the ground truth needs. A purchase order placed at the reorder point is an ``ORDER`` row (a
purchase_order event, status placed); its delivery is an inventory update (reason delivery) and a
``RECEIVED`` row (the purchase_order event, status received) at the same instant.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from retail_platform import topics

# Row kinds.
SALE = 0  # sales_transaction
INV_SALE = 1  # inventory_update, reason sale
INV_DELIVERY = 2  # inventory_update, reason delivery
INV_ADJUSTMENT = 3  # inventory_update, reason adjustment
INV_SHRINKAGE = 4  # inventory_update, reason shrinkage
PRICE = 5  # price_change
LOST = 6  # not sent: units of demand lost to a stock-out
ORDER = 7  # purchase_order, status placed
RECEIVED = 8  # purchase_order, status received

KIND_NAMES = (
    "sale", "inventory_sale", "delivery", "adjustment", "shrinkage", "price_change", "lost", "order", "received",
)  # fmt: skip
EVENT_TYPES = ("sales_transaction", "inventory_update", "price_change", "purchase_order")
KIND_EVENT_TYPE = np.array([0, 1, 1, 1, 1, 2, -1, 3, 3], dtype=np.int8)  # index into EVENT_TYPES
IS_MESSAGE = KIND_EVENT_TYPE >= 0
TOPICS = (topics.SALES.name, topics.INVENTORY.name, topics.PRICES.name, topics.PURCHASE_ORDERS.name)  # as EVENT_TYPES
ORDER_KINDS = (ORDER, RECEIVED)
ORDER_STATUS = {ORDER: "placed", RECEIVED: "received"}
INVENTORY_KINDS = (INV_SALE, INV_DELIVERY, INV_ADJUSTMENT, INV_SHRINKAGE)
INVENTORY_REASONS = {
    INV_SALE: "sale",
    INV_DELIVERY: "delivery",
    INV_ADJUSTMENT: "adjustment",
    INV_SHRINKAGE: "shrinkage",
}

PAYMENT_METHODS = ("credit_card", "debit_card", "cash", "mobile", "gift_card")
PAYMENT_PROBABILITIES = np.array([0.40, 0.25, 0.15, 0.17, 0.03])
PRICE_REASONS = ("promotion_start", "promotion_end", "promotion_change")


@dataclass(frozen=True)
class EventBatch:
    """Columnar rows; every array has one entry per row."""

    kind: np.ndarray  # uint8
    store: np.ndarray  # int64 store index (catalogue order)
    product: np.ndarray  # int64 product index
    time_ms: np.ndarray  # int64 event time, ms since the epoch (UTC)
    quantity: (
        np.ndarray
    )  # int64: units sold (SALE), quantity_change (INV_*), lost (LOST), ordered/received (ORDER/RECEIVED)
    new_quantity: np.ndarray  # int64: stock after the row (INV_*), else 0
    price_cents: np.ndarray  # int64: unit price (SALE), new price (PRICE)
    old_price_cents: np.ndarray  # int64: old price (PRICE)
    promotion: np.ndarray  # bool: PRICE rows: the new price is a promotion
    price_reason: np.ndarray  # uint8 index into PRICE_REASONS (PRICE rows)
    payment: np.ndarray  # uint8 index into PAYMENT_METHODS (SALE rows)
    customer: np.ndarray  # int64 customer number, -1 = anonymous (SALE rows)
    event_id: np.ndarray  # uint64 [n, 2]: the event's uuid (message rows)
    reference: np.ndarray  # uint64 [n, 2]: transaction id (SALE, INV_SALE) or order id (INV_DELIVERY, ORDER*); 0 = none
    expected_ms: np.ndarray  # int64: ORDER rows: the expected delivery instant (placed + mean lead time), else 0

    def __len__(self) -> int:
        return int(self.kind.size)

    @classmethod
    def concat(cls, parts: list[EventBatch]) -> EventBatch:
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    @classmethod
    def empty(cls) -> EventBatch:
        ints = np.zeros(0, dtype=np.int64)
        return cls(
            kind=np.zeros(0, dtype=np.uint8),
            store=ints,
            product=ints,
            time_ms=ints,
            quantity=ints,
            new_quantity=ints,
            price_cents=ints,
            old_price_cents=ints,
            promotion=np.zeros(0, dtype=bool),
            price_reason=np.zeros(0, dtype=np.uint8),
            payment=np.zeros(0, dtype=np.uint8),
            customer=ints,
            event_id=np.zeros((0, 2), dtype=np.uint64),
            reference=np.zeros((0, 2), dtype=np.uint64),
            expected_ms=ints,
        )

    def take(self, index: np.ndarray | slice) -> EventBatch:
        return EventBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def is_message(self) -> np.ndarray:
        return IS_MESSAGE[self.kind]

    @property
    def n_messages(self) -> int:
        return int(np.count_nonzero(self.is_message))

    def cut_after_messages(self, n: int) -> int:
        """Row count that holds the first ``n`` messages and everything at the same event time.

        Cutting between rows of the same instant could separate a sale from its inventory update;
        keeping the whole instant keeps the cut consistent (the budget may be exceeded by a few).
        """
        if n <= 0:
            return 0
        positions = np.flatnonzero(self.is_message)
        if n >= positions.size:
            return len(self)
        last_time = self.time_ms[positions[n - 1]]
        return int(np.searchsorted(self.time_ms, last_time, side="right"))

    def rows_until(self, time_ms: int) -> int:
        """Row count of the rows with event time <= ``time_ms``."""
        return int(np.searchsorted(self.time_ms, time_ms, side="right"))
