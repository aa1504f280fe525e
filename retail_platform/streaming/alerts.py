"""The restock-alert state machine: one alert per store/product when its stock reaches the reorder
point, none again until it has been restocked above it.

State per store/product: the stock level, the inventory event it comes from (its order: event_time,
then event_id) and whether an alert is outstanding. Events of a micro-batch are applied in that
order; an event older than the state's is stale (it arrived late: a newer level is already known) and
changes nothing, which is what rt_stock's version does too, so alerts and rt_stock agree.

    not alerted --stock <= reorder point--> alerted   (emit one restock_alert)
    alerted     --stock >  reorder point--> not alerted (re-armed; nothing emitted)

A store/product without a reorder policy never alerts; its stock is still tracked, so a policy that
appears later is judged against the right level on the next inventory event.

The alert's event_id is a UUIDv5 of the inventory event that crossed the reorder point: a replayed
micro-batch, a restarted job or the batch layer recomputing a day derives the same id for the same
crossing, which is how every sink recognises an alert it already holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from retail_platform.streaming.realtime import event_order

# Fixed namespace of the platform's derived event ids (never change it: ids would change with it).
ALERT_NAMESPACE = uuid.UUID("5d1f3c52-7a0e-4c8e-9a51-3b7e2f6c9d14")

Key = tuple[str, str]


@dataclass(frozen=True)
class Policy:
    reorder_point: int
    order_quantity: int | None = None


@dataclass(frozen=True)
class KeyState:
    stock: int
    event_time: datetime
    event_id: str
    alerted: bool

    @property
    def order(self) -> tuple[datetime, int]:
        return event_order({"event_time": self.event_time, "event_id": self.event_id})


@dataclass(frozen=True)
class Alert:
    event_id: str
    event_time: datetime
    store_id: str
    product_id: str
    current_stock: int
    reorder_point: int
    recommended_quantity: int | None
    source_event_id: str

    def to_event(self) -> dict[str, Any]:
        """The restock_alert event of the contract (schemas/restock_alert.v1.json)."""
        return {
            "event_id": self.event_id,
            "event_type": "restock_alert",
            "schema_version": 1,
            "event_time": format_time(self.event_time),
            "store_id": self.store_id,
            "product_id": self.product_id,
            "current_stock": self.current_stock,
            "reorder_point": self.reorder_point,
            "recommended_quantity": self.recommended_quantity,
        }


def format_time(value: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a Z, the form the contracts accept."""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_event_id(source_event_id: str) -> str:
    return str(uuid.uuid5(ALERT_NAMESPACE, f"restock_alert:{source_event_id}"))


def usable_policy(reorder_point: int | None, order_quantity: int | None) -> Policy | None:
    """A policy row as the state machine uses it; a negative reorder point cannot be reached: none."""
    if reorder_point is None or reorder_point < 0:
        return None
    quantity = order_quantity if order_quantity is not None and order_quantity >= 0 else None
    return Policy(int(reorder_point), quantity)


def advance(
    key: Key, state: KeyState | None, events: Iterable[Mapping[str, Any]], policy: Policy | None
) -> tuple[KeyState | None, list[Alert]]:
    """Apply one store/product's inventory events to its state; returns the new state and the alerts."""
    alerts: list[Alert] = []
    for event in sorted(events, key=event_order):
        if state is not None and event_order(event) <= state.order:
            continue  # stale: a newer stock level is already known
        stock = int(event["new_quantity"])
        alerted = state.alerted if state is not None else False
        if policy is not None:
            if stock <= policy.reorder_point and not alerted:
                alerts.append(
                    Alert(
                        event_id=alert_event_id(event["event_id"]),
                        event_time=event["event_time"],
                        store_id=key[0],
                        product_id=key[1],
                        current_stock=stock,
                        reorder_point=policy.reorder_point,
                        recommended_quantity=policy.order_quantity,
                        source_event_id=event["event_id"],
                    )
                )
                alerted = True
            elif stock > policy.reorder_point:
                alerted = False
        state = KeyState(stock, event["event_time"], event["event_id"], alerted)
    return state, alerts


def group_by_key(inventory: Iterable[Mapping[str, Any]]) -> dict[Key, list[Mapping[str, Any]]]:
    grouped: dict[Key, list[Mapping[str, Any]]] = {}
    for event in inventory:
        grouped.setdefault((event["store_id"], event["product_id"]), []).append(event)
    return grouped


def run(
    inventory: Iterable[Mapping[str, Any]], states: Mapping[Key, KeyState], policies: Mapping[Key, Policy]
) -> tuple[dict[Key, KeyState], list[Alert]]:
    """One micro-batch: the changed states of the touched keys and the alerts, both in key order."""
    changed: dict[Key, KeyState] = {}
    alerts: list[Alert] = []
    for key, events in sorted(group_by_key(inventory).items()):
        before = states.get(key)
        after, emitted = advance(key, before, events, policies.get(key))
        if after is not None and after != before:
            changed[key] = after
        alerts.extend(emitted)
    return changed, alerts
