"""Event types, their topics and schemas, and validation.

Validation implements the subset of JSON Schema the contracts use (type, const, enum, minimum,
maximum, exclusiveMinimum, minLength, pattern, format uuid/date-time, required,
additionalProperties=false) with plain Python: fast enough to run inside Spark as a pandas UDF,
so the stream, the batch jobs and the producers reject exactly the same events for exactly the
same reasons. A reason is ``<code>:<field>`` (e.g. ``out_of_range:quantity``), or a bare code
for whole-event problems (``malformed_json``)."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from retail_platform import topics

SCHEMA_DIR = Path(__file__).parent / "schemas"


@dataclass(frozen=True)
class EventType:
    name: str
    topic: topics.Topic
    version: int

    @property
    def schema(self) -> dict[str, Any]:
        return _load_schema(self.name, self.version)

    @property
    def fields(self) -> list[str]:
        return list(self.schema["properties"])


EVENT_TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType("sales_transaction", topics.SALES, 1),
        EventType("inventory_update", topics.INVENTORY, 1),
        EventType("price_change", topics.PRICES, 1),
        EventType("restock_alert", topics.RESTOCK_ALERTS, 1),
    )
}


def event_type_for_topic(topic: str) -> EventType:
    for event_type in EVENT_TYPES.values():
        if event_type.topic.name == topic:
            return event_type
    raise KeyError(f"no event type is published on {topic}")


@cache
def _load_schema(name: str, version: int) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{name}.v{version}.json").read_text())


class Rejection(ValueError):
    """An event that breaks its contract; ``reason`` is the quarantine reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "null":
        return value is None
    return False


def _format_ok(value: str, fmt: str) -> bool:
    if fmt == "uuid":
        return bool(_UUID.match(value))
    if fmt == "date-time":
        if "T" not in value or not (value.endswith("Z") or value[-6] in "+-"):
            return False  # a timestamp without a zone is ambiguous: rejected
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    return True


def _check_field(name: str, value: Any, rule: dict[str, Any]) -> str | None:
    if "const" in rule:
        return None if value == rule["const"] and type(value) is type(rule["const"]) else f"not_allowed:{name}"
    if "enum" in rule:
        return None if value in rule["enum"] else f"not_allowed:{name}"
    expected = rule.get("type")
    if expected is not None:
        allowed = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(value, t) for t in allowed):
            return f"wrong_type:{name}"
        if value is None:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in rule and value < rule["minimum"]:
            return f"out_of_range:{name}"
        if "exclusiveMinimum" in rule and value <= rule["exclusiveMinimum"]:
            return f"out_of_range:{name}"
        if "maximum" in rule and value > rule["maximum"]:
            return f"out_of_range:{name}"
    if isinstance(value, str):
        if len(value) < rule.get("minLength", 0):
            return f"bad_format:{name}"
        pattern = rule.get("pattern")
        if pattern is not None:
            compiled = _PATTERNS.setdefault(pattern, re.compile(pattern))
            if not compiled.match(value):
                return f"bad_format:{name}"
        if "format" in rule and not _format_ok(value, rule["format"]):
            return f"bad_format:{name}"
    return None


def validate(event: Any, expected_type: str | None = None) -> str | None:
    """The first reason the event breaks its contract, or None when it is valid."""
    if not isinstance(event, dict):
        return "not_an_object"
    name = event.get("event_type")
    if name not in EVENT_TYPES:
        return "unknown_event_type"
    if expected_type is not None and name != expected_type:
        return "wrong_topic"
    event_type = EVENT_TYPES[name]
    if event.get("schema_version") != event_type.version:
        return "unsupported_schema_version"
    schema = event_type.schema
    for required in schema["required"]:
        if required not in event:
            return f"missing_field:{required}"
    properties = schema["properties"]
    for field, value in event.items():
        rule = properties.get(field)
        if rule is None:
            return f"unexpected_field:{field}"
        reason = _check_field(field, value, rule)
        if reason:
            return reason
    return None


def parse_event(raw: bytes | str | None, expected_type: str | None = None) -> dict[str, Any]:
    """Decode and validate one message value; raises Rejection with the reason."""
    if raw is None:
        raise Rejection("empty_message")
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Rejection("malformed_json") from None
    reason = validate(event, expected_type)
    if reason:
        raise Rejection(reason)
    return event


def rejection_reason(raw: bytes | str | None, expected_type: str | None = None) -> str | None:
    """The reason a message value is rejected, or None; the form the stream's UDF uses."""
    try:
        parse_event(raw, expected_type)
    except Rejection as rejection:
        return rejection.reason
    return None


def new_event_id() -> str:
    return str(uuid.uuid4())
