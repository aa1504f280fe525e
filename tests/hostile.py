"""The corpus of hostile records (tests/fixtures/events/hostile.jsonl) and how to turn one into the
bytes a producer sends.

One JSON object per line: ``name``, ``type`` (the event type of the topic it is sent to), ``reason``
(what the stream and the daily load must quarantine it with), and the value as one of ``text``
(UTF-8), ``base64`` (any bytes), ``event`` (a JSON object, serialised as-is) or ``null_value``
(a Kafka record without a value). ``event_time_offset_seconds``: the event's event_time is its
arrival plus this many seconds (for the bounds relative to arrival)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from retail_platform import topics

CORPUS = Path(__file__).parent / "fixtures" / "events" / "hostile.jsonl"
TOPIC_OF = {
    "sales_transaction": topics.SALES.name,
    "inventory_update": topics.INVENTORY.name,
    "price_change": topics.PRICES.name,
    "purchase_order": topics.PURCHASE_ORDERS.name,
}


def load() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def value(case: dict[str, Any], arrival: datetime) -> bytes | None:
    """The record value of a case, its event_time placed relative to ``arrival`` when the case says so."""
    if case.get("null_value"):
        return None
    if "base64" in case:
        return base64.b64decode(case["base64"])
    if "text" in case:
        return case["text"].encode("utf-8")
    event = dict(case["event"])
    if "event_time_offset_seconds" in case:
        event["event_time"] = iso(arrival + timedelta(seconds=case["event_time_offset_seconds"]))
    return json.dumps(event).encode()
