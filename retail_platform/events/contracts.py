"""Event types, their topics and schemas, and validation.

Validation implements the subset of JSON Schema the contracts use (type, const, enum, minimum,
maximum, exclusiveMinimum, minLength, pattern, format uuid/date-time/date, required,
additionalProperties=false, and ``allOf`` of ``if``/``then`` over properties) with plain Python:
fast enough to run inside Spark, so the stream, the batch jobs and the producers reject exactly the
same events for exactly the same reasons. A reason is ``<code>:<field>`` (e.g.
``out_of_range:quantity``), or a bare code for whole-event problems (``malformed_json``).

Validation never raises, whatever the input: every problem is a reason, and an unexpected exception
inside it becomes ``validator_error:<ExceptionClass>`` (the record is quarantined, the batch goes on).
What it checks beyond the schema keywords, so that an accepted event can always be converted and
stored: a message is UTF-8 JSON (no byte-order mark); a key repeated in an object is
``duplicate_key:<key>`` (decoders disagree on which copy wins); NaN, Infinity and numbers beyond a
double are ``wrong_type``; integers outside 64 bits ``out_of_range``; strings must be encodable as UTF-8
(no lone surrogates) else ``bad_format``; a date-time is exactly ``YYYY-MM-DDTHH:MM:SS[.f{1,9}]`` with
``Z`` or ``+HH:MM`` and must exist in UTC. ``pattern`` follows JSON Schema: ``$`` is the end of the
string (Python's would also match before a final newline). Field names in reasons are the schema's
names; an unknown key that is not a plain identifier is reported as ``?``. A failed ``then`` gives
``<x-reason>:<field>`` (``wrong_sign:quantity_change``). The event-time bounds relative to arrival
are applied after the contract, by the callers (``events/time_bounds.py``)."""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
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
        EventType("purchase_order", topics.PURCHASE_ORDERS, 1),
        EventType("anomaly_alert", topics.ANOMALY_ALERTS, 1),
    )
}


def event_type_for_topic(topic: str) -> EventType:
    for event_type in EVENT_TYPES.values():
        if event_type.topic.name == topic:
            return event_type
    raise KeyError(f"no event type is published on {topic}")


@cache
def _load_schema(name: str, version: int) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.v{version}.json").read_text())
    return schema


class Rejection(ValueError):
    """An event that breaks its contract; ``reason`` is the quarantine reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
# The one shape of a date-time the contracts accept (ASCII digits: \d would take any script's digits).
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})\Z"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}\Z")
_PATTERNS: dict[str, re.Pattern[str]] = {}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _label(name: Any) -> str:
    """A key as it may appear in a reason: a plain identifier, else ``?`` (reasons are stored)."""
    return name if isinstance(name, str) and _SAFE_NAME.match(name) else "?"


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        if isinstance(value, float):
            return math.isfinite(value)  # NaN and +-Infinity are not JSON numbers
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "null":
        return value is None
    return False


def utc_time(value: str) -> datetime | None:
    """A contract date-time as an aware UTC datetime, or None when it is not one."""
    if not _DATE_TIME.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    except (ValueError, OverflowError):  # no such date or time, or out of range once in UTC
        return None


def calendar_date(value: str) -> date | None:
    """A contract date (exactly ``YYYY-MM-DD``, a day that exists) as a date, or None."""
    if not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:  # no such day (2025-02-30)
        return None


def _format_ok(value: str, fmt: str) -> bool:
    if fmt == "uuid":
        return bool(_UUID.match(value))
    if fmt == "date-time":
        return utc_time(value) is not None  # a timestamp without a zone is ambiguous: rejected
    if fmt == "date":
        return calendar_date(value) is not None
    return True


def _pattern(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        # JSON Schema's patterns are ECMA-262: ``$`` ends the string. Python's also matches before a
        # final newline, so a trailing ``$`` becomes ``\Z``.
        python = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
        compiled = _PATTERNS.setdefault(pattern, re.compile(python))
    return compiled


def _utf8_ok(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (``"\ud800"`` in JSON): no store can hold it
        return False
    return True


def _check_field(name: str, value: Any, rule: dict[str, Any]) -> str | None:
    if "const" in rule:
        return None if value == rule["const"] and type(value) is type(rule["const"]) else f"not_allowed:{name}"
    if "enum" in rule:
        ok = any(value == v and type(value) is type(v) for v in rule["enum"])
        return None if ok else f"not_allowed:{name}"
    expected = rule.get("type")
    if expected is not None:
        allowed = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(value, t) for t in allowed):
            return f"wrong_type:{name}"
        if value is None:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
            return f"out_of_range:{name}"
        if "minimum" in rule and value < rule["minimum"]:
            return f"out_of_range:{name}"
        if "exclusiveMinimum" in rule and value <= rule["exclusiveMinimum"]:
            return f"out_of_range:{name}"
        if "maximum" in rule and value > rule["maximum"]:
            return f"out_of_range:{name}"
    if isinstance(value, str):
        if not _utf8_ok(value):
            return f"bad_format:{name}"
        if len(value) < rule.get("minLength", 0):
            return f"bad_format:{name}"
        pattern = rule.get("pattern")
        if pattern is not None and not _pattern(pattern).search(value):
            return f"bad_format:{name}"
        if "format" in rule and not _format_ok(value, rule["format"]):
            return f"bad_format:{name}"
    return None


def _holds(event: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Whether the event matches an ``if`` subschema (properties apply to the keys present)."""
    if any(name not in event for name in schema.get("required", ())):
        return False
    return all(
        _check_field(name, event[name], rule) is None
        for name, rule in schema.get("properties", {}).items()
        if name in event
    )


def _conditions(event: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """The ``allOf`` of ``if``/``then`` clauses: the first ``then`` property a matching ``if`` breaks."""
    for clause in schema.get("allOf", ()):
        if "if" not in clause or not _holds(event, clause["if"]):
            continue
        for name, rule in clause.get("then", {}).get("properties", {}).items():
            if name in event and _check_field(name, event[name], rule) is not None:
                return f"{clause.get('x-reason', 'not_allowed')}:{name}"
    return None


def _validate(event: Any, expected_type: str | None) -> str | None:
    if not isinstance(event, dict):
        return "not_an_object"
    name = event.get("event_type")
    if not isinstance(name, str) or name not in EVENT_TYPES:
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
        rule = properties.get(field) if isinstance(field, str) else None
        if rule is None:
            return f"unexpected_field:{_label(field)}"
        reason = _check_field(field, value, rule)
        if reason:
            return reason
    return _conditions(event, schema)


def validate(event: Any, expected_type: str | None = None) -> str | None:
    """The first reason the event breaks its contract, or None when it is valid. Never raises."""
    try:
        return _validate(event, expected_type)
    except Exception as exc:  # the last line of defence: a record never stops a job
        return f"validator_error:{type(exc).__name__}"


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _decode(raw: bytes | str | None) -> tuple[Any, str | None]:
    if raw is None:
        return None, "empty_message"
    try:
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
        return json.loads(text, object_pairs_hook=_object), None
    except _DuplicateKey as duplicate:
        return None, f"duplicate_key:{_label(duplicate.key)}"
    except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON, not UTF-8, nested too deep
        return None, "malformed_json"


def check(raw: bytes | str | None, expected_type: str | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """(the event, None) when the message value is a valid event, else (None, the reason). Never
    raises: the form the stream uses (one decode for the verdict and the fields)."""
    try:
        event, reason = _decode(raw)
        if reason is None:
            reason = _validate(event, expected_type)
    except Exception as exc:  # the last line of defence: a record never stops a job
        return None, f"validator_error:{type(exc).__name__}"
    return (None, reason) if reason else (event, None)


def parse_event(raw: bytes | str | None, expected_type: str | None = None) -> dict[str, Any]:
    """Decode and validate one message value; raises Rejection with the reason."""
    event, reason = check(raw, expected_type)
    if reason is not None:
        raise Rejection(reason)
    return event  # type: ignore[return-value]


def rejection_reason(raw: bytes | str | None, expected_type: str | None = None) -> str | None:
    """The reason a message value is rejected, or None. Never raises."""
    return check(raw, expected_type)[1]


def new_event_id() -> str:
    return str(uuid.uuid4())
