"""Stock anomalies in the stream: movements of a store/product's stock that its sales and deliveries
do not explain (shrinkage, miscounts), one anomaly per episode.

The stream knows each store/product's stock level the way rt_stock does: the newest inventory_update
by (event_time, event_id) wins, and an event older than the newest one known is stale (it arrived
late) and changes nothing. Between two consecutive inventory events of a key the level moves by
what the later event records; a sale (reason ``sale``: the units a sale line took off the shelf) and
a delivery (reason ``delivery``: the units received) explain their movement, so the level the stream
expects after an event is

    expected = previous level + quantity_change   for reason sale or delivery
    expected = previous level                     for any other reason (adjustment, shrinkage)

and the event's ``new_quantity`` is what the store reports. A difference of more than the tolerance
(``RETAIL_ANOMALY_STOCK_TOLERANCE`` units) is unexplained: a stock count that found fewer or more
units than the records say, or shrinkage. The first inventory event of a key only sets its level
(there is nothing to compare it with).

Episodes: the condition "the newest level is unexplained" starts at an event that breaches the
tolerance and ends at the next event that does not (the expected level is always rebased on the
reported one, so an episode ends at the first explained movement after it). An episode is recorded
once when it opens (an ``open`` row, and one message on the alerts topic) and once when it ends (a
``closed`` row); further breaches while it is open add nothing.

State per store/product: the level, the event it comes from and the open episode's id, versioned by
micro-batch like the restock alerts' state (``streaming/alerts.py``), so a replayed batch starts from
the state the batch before left and decides the same. Anomaly ids are UUIDv5 of the inventory event
that opened (or closed) the episode: a replay derives the same ids, which is how every sink
recognises a row or message it already holds. Pure: no I/O here; ``streaming/batch.py`` wires it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from retail_platform.streaming.alerts import Key, format_time, group_by_key
from retail_platform.streaming.realtime import event_order

# Fixed namespace of anomaly ids (never change it: ids would change with it).
ANOMALY_NAMESPACE = uuid.UUID("0c6f2a4e-93d1-4b57-8e2a-6f1d7c3b5a90")

STOCK_UNEXPLAINED = "stock_unexplained"
OPEN, CLOSED = "open", "closed"
# Reasons whose quantity_change is an explained movement of the stock.
EXPLAINED_REASONS = frozenset({"sale", "delivery"})


@dataclass(frozen=True)
class AnomalyConfig:
    """The detector's thresholds (from the settings)."""

    stock_tolerance: int = 5  # units a reported level may differ from the expected one

    def __post_init__(self) -> None:
        if self.stock_tolerance < 0:
            raise ValueError(f"stock_tolerance must be at least 0, got {self.stock_tolerance}")


@dataclass(frozen=True)
class StockState:
    """A store/product as the stream knows it after a micro-batch."""

    level: int
    event_time: datetime
    event_id: str
    episode: str = ""  # id of the open stock episode, "" when none is open

    @property
    def order(self) -> tuple[datetime, int]:
        return event_order({"event_time": self.event_time, "event_id": self.event_id})


@dataclass(frozen=True)
class Anomaly:
    """One row of rt_anomalies: an episode opening or closing."""

    anomaly_id: str
    kind: str
    status: str  # OPEN or CLOSED
    event_time: datetime  # the event that opened or closed the episode
    store_id: str
    product_id: str
    observed: float  # the reported level
    expected: float  # the level sales and deliveries explain
    lower: float  # observed outside [lower, upper] is a breach
    upper: float
    source_event_id: str

    def to_event(self) -> dict[str, Any]:
        """The message published on the anomaly alerts topic when an episode opens."""
        return {
            "event_id": self.anomaly_id,
            "event_type": "anomaly_alert",
            "schema_version": 1,
            "event_time": format_time(self.event_time),
            "store_id": self.store_id,
            "product_id": self.product_id,
            "kind": self.kind,
            "observed": self.observed,
            "expected": self.expected,
            "lower": self.lower,
            "upper": self.upper,
            "source_event_id": self.source_event_id,
        }


def anomaly_id(kind: str, status: str, source_event_id: str) -> str:
    return str(uuid.uuid5(ANOMALY_NAMESPACE, f"{kind}:{status}:{source_event_id}"))


def expected_level(previous: int, event: Mapping[str, Any]) -> int:
    """The level the stream expects after ``event``, from the previous one (see the module docstring)."""
    if event["reason"] in EXPLAINED_REASONS:
        return previous + int(event["quantity_change"])
    return previous


def advance_stock(
    key: Key, state: StockState | None, events: Iterable[Mapping[str, Any]], config: AnomalyConfig
) -> tuple[StockState | None, list[Anomaly]]:
    """Apply one store/product's inventory events (any order) to its state; the new state and the
    anomaly rows, in event order."""
    rows: list[Anomaly] = []
    tolerance = config.stock_tolerance
    for event in sorted(events, key=event_order):
        if state is not None and event_order(event) <= state.order:
            continue  # stale: a newer level is already known (rt_stock keeps that one too)
        level = int(event["new_quantity"])
        episode = ""
        if state is not None:
            expected = expected_level(state.level, event)
            lower, upper = expected - tolerance, expected + tolerance
            breach = not lower <= level <= upper
            episode = state.episode
            common = {
                "kind": STOCK_UNEXPLAINED,
                "event_time": event["event_time"],
                "store_id": key[0],
                "product_id": key[1],
                "observed": float(level),
                "expected": float(expected),
                "lower": float(lower),
                "upper": float(upper),
                "source_event_id": event["event_id"],
            }
            if breach and not episode:
                episode = anomaly_id(STOCK_UNEXPLAINED, OPEN, event["event_id"])
                rows.append(Anomaly(anomaly_id=episode, status=OPEN, **common))
            elif not breach and episode:
                rows.append(Anomaly(anomaly_id=episode, status=CLOSED, **common))
                episode = ""
        state = StockState(level, event["event_time"], event["event_id"], episode)
    return state, rows


def run_stock(
    inventory: Iterable[Mapping[str, Any]], states: Mapping[Key, StockState], config: AnomalyConfig
) -> tuple[dict[Key, StockState], list[Anomaly]]:
    """One micro-batch: the changed states of the touched keys and the anomaly rows, in key order."""
    changed: dict[Key, StockState] = {}
    rows: list[Anomaly] = []
    for key, events in sorted(group_by_key(inventory).items()):
        before = states.get(key)
        after, found = advance_stock(key, before, events, config)
        if after is not None and after != before:
            changed[key] = after
        rows.extend(found)
    return changed, rows


def opened(rows: Iterable[Anomaly]) -> list[Anomaly]:
    """The rows that open an episode: what the alerts topic receives (once per episode)."""
    return [row for row in rows if row.status == OPEN]
