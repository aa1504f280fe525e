"""Adjustments become inventory_update events, produced to Kafka with acks=all.

The event carries the stock after the change (``new_quantity``), so the API needs the level before
it: the serving view's, unless this process produced a newer event for the same store/product that
the stream has not applied yet (``Pending``). Without that, two adjustments a second apart would both
start from the same level and the first would be lost. Adjustments of one store/product are
serialised by a lock for the same reason. This holds for one API process (the local and compose
profiles run one); several replicas would need the level from a single writer per store."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from retail_platform.events import contracts

TOPIC = contracts.EVENT_TYPES["inventory_update"].topic.name
SEND_TIMEOUT_S = 15.0


def event_time_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def build_event(
    event_id: str, moment: datetime, store_id: str, product_id: str, change: int, new_quantity: int,
    reason: str, reference: str | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "event_id": event_id,
        "event_type": "inventory_update",
        "schema_version": 1,
        "event_time": event_time_text(moment),
        "store_id": store_id,
        "product_id": product_id,
        "quantity_change": change,
        "new_quantity": new_quantity,
        "reason": reason,
        "reference_id": reference,
    }


@dataclass(frozen=True)
class PendingLevel:
    event_time: datetime
    quantity: int


class Pending:
    """Levels this process produced that the serving view may not show yet, per store/product."""

    def __init__(self) -> None:
        self._levels: dict[tuple[str, str], PendingLevel] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, store_id: str, product_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((store_id, product_id), threading.Lock())

    def base(self, store_id: str, product_id: str, view_level: int, view_as_of: datetime | None) -> int:
        """The level to change: the view's, or a newer level produced here and not yet applied."""
        pending = self._levels.get((store_id, product_id))
        if pending is None:
            return view_level
        if view_as_of is not None and view_as_of >= pending.event_time:
            del self._levels[(store_id, product_id)]  # the view has caught up
            return view_level
        return pending.quantity

    def produced(self, store_id: str, product_id: str, event_time: datetime, quantity: int) -> None:
        self._levels[(store_id, product_id)] = PendingLevel(event_time, quantity)


class EventWriter:
    """A kafka-python producer with acks=all and idempotence; ``send`` returns once the log has it."""

    def __init__(self, bootstrap: str, **security: Any) -> None:
        """``security``: kafka_security.client_options (SSL verified with the platform's CA) or nothing."""
        from kafka import KafkaProducer

        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id="retail-inventory-api",
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            **security,
        )

    def send(self, event: dict[str, Any]) -> None:
        value = json.dumps(event, separators=(",", ":")).encode()
        future = self.producer.send(TOPIC, key=event["store_id"].encode(), value=value)
        future.get(timeout=SEND_TIMEOUT_S)

    def close(self) -> None:
        self.producer.close(timeout=5)
