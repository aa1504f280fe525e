"""A vectorised pre-check of bronze rows against their contract, for ``conform_batch``.

Checking every row with ``contracts.validate`` costs ~150 µs a row in Python: on a day of a million
sales that is most of the daily job. Almost every row is valid, so the batch is first checked column
by column with Arrow compute, from the same JSON schema: a row that passes every column check is valid
by construction (each rule the validator applies to it holds), and only the rows that fail one go
through ``validate``, which names their reason exactly as the stream does. The pre-check only ever
sends rows to the slow path; it never decides a rejection itself.

Column types are part of the rule: a column whose Arrow type cannot hold only valid values of the
field's JSON type (a float column for an integer field, a decimal for a number) sends the whole batch
to the slow path. So does a rule of the schema the pre-check does not cover.

Beyond the properties: the schema's ``allOf`` of ``if``/``then`` (the sign rules of inventory_update)
and, given ``TimeBounds``, the event-time bounds on ``event_time`` against ``kafka_timestamp`` and
``kafka_topic`` (``events/time_bounds.py``), compared as integer microseconds like the validator's
datetimes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_platform.events.contracts import EVENT_TYPES
from retail_platform.events.time_bounds import CEILING, CONTRACT_TOPICS, TimeBounds

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class NotVectorisable(Exception):
    """A column or rule the pre-check does not cover: check the batch row by row."""


def _kinds_ok(column: pa.Array, expected: str | list[str]) -> bool:
    allowed = set(expected if isinstance(expected, list) else [expected]) - {"null"}
    if len(allowed) != 1:
        raise NotVectorisable
    (kind,) = allowed
    t = column.type
    # bool(): pyarrow has no type information, so its predicates are untyped to the checker.
    if kind == "string":
        return bool(pa.types.is_string(t) or pa.types.is_large_string(t))
    if kind == "integer":
        return bool(pa.types.is_integer(t))
    if kind == "number":
        return bool(pa.types.is_integer(t) or pa.types.is_floating(t))
    raise NotVectorisable


def _field_ok(column: pa.Array, rule: dict[str, Any], required: bool, name: str) -> pa.Array:
    """Boolean mask: the rows whose value passes ``rule`` (null handled as the validator does)."""
    present = pc.is_valid(column)
    if "const" in rule:
        const = rule["const"]
        if isinstance(const, bool) or not isinstance(const, (str, int)):
            raise NotVectorisable
        if isinstance(const, str) != (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            raise NotVectorisable
        if isinstance(const, int) and not pa.types.is_integer(column.type):
            raise NotVectorisable
        return pc.fill_null(pc.equal(column, pa.scalar(const, type=column.type)), False)
    if "enum" in rule:
        values = rule["enum"]
        if not all(isinstance(v, str) for v in values) or not pa.types.is_string(column.type):
            raise NotVectorisable
        return pc.fill_null(pc.is_in(column, value_set=pa.array(values, type=column.type)), False)
    expected = rule.get("type")
    if expected is None:
        raise NotVectorisable
    nullable = isinstance(expected, list) and "null" in expected
    if name == "event_time" and pa.types.is_timestamp(column.type):
        # Bronze holds event_time as a timestamp; ``to_event`` writes it back as ISO-8601 with "Z",
        # which is always a valid date-time.
        ok = present
    elif not _kinds_ok(column, expected):
        raise NotVectorisable
    else:
        ok = pa.array(np.ones(len(column), dtype=bool))
        if pa.types.is_floating(column.type):  # NaN and +-Infinity are wrong_type
            ok = pc.and_(ok, pc.fill_null(pc.is_finite(column), True))
        if "minimum" in rule:
            ok = pc.and_(ok, pc.fill_null(pc.greater_equal(column, rule["minimum"]), True))
        if "exclusiveMinimum" in rule:
            ok = pc.and_(ok, pc.fill_null(pc.greater(column, rule["exclusiveMinimum"]), True))
        if "maximum" in rule:
            ok = pc.and_(ok, pc.fill_null(pc.less_equal(column, rule["maximum"]), True))
        if "minLength" in rule:
            ok = pc.and_(ok, pc.fill_null(pc.greater_equal(pc.utf8_length(column), rule["minLength"]), True))
        if "pattern" in rule:
            if not rule["pattern"].startswith("^"):
                raise NotVectorisable  # Arrow searches, Python's re.match anchors: same only when anchored
            ok = pc.and_(ok, pc.fill_null(pc.match_substring_regex(column, rule["pattern"]), True))
        fmt = rule.get("format")
        if fmt == "uuid":
            ok = pc.and_(ok, pc.fill_null(pc.match_substring_regex(column, _UUID), True))
        elif fmt is not None:
            raise NotVectorisable
    # A null value: fine for an optional field (omitted) or a nullable type; otherwise wrong_type.
    if required and not nullable:
        return pc.and_(ok, present)
    return pc.or_(pc.invert(present), ok)


def _bool(mask: pa.Array) -> np.ndarray:
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def _column(batch: pa.RecordBatch, name: str) -> pa.Array:
    if name not in batch.schema.names:
        raise NotVectorisable
    return batch.column(name)


def _if_mask(batch: pa.RecordBatch, schema: dict[str, Any]) -> np.ndarray:
    """The rows an ``if`` subschema (string consts over present fields) matches."""
    if set(schema) - {"properties", "required"}:
        raise NotVectorisable
    hit = np.ones(batch.num_rows, dtype=bool)
    for name in schema.get("required", ()):
        hit &= _bool(pc.is_valid(_column(batch, name)))
    for name, rule in schema.get("properties", {}).items():
        column = _column(batch, name)
        if set(rule) != {"const"} or not isinstance(rule["const"], str) or not pa.types.is_string(column.type):
            raise NotVectorisable
        # A null value is an omitted field: the property does not apply to it.
        hit &= _bool(pc.fill_null(pc.equal(column, pa.scalar(rule["const"], type=column.type)), True))
    return hit


def _then_mask(batch: pa.RecordBatch, schema: dict[str, Any]) -> np.ndarray:
    """The rows a ``then`` subschema (minimum/maximum over numeric fields) holds for."""
    if set(schema) - {"properties"}:
        raise NotVectorisable
    ok = np.ones(batch.num_rows, dtype=bool)
    for name, rule in schema.get("properties", {}).items():
        column = _column(batch, name)
        if set(rule) - {"minimum", "maximum"} or not (
            pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
        ):
            raise NotVectorisable
        if "minimum" in rule:
            ok &= _bool(pc.fill_null(pc.greater_equal(column, rule["minimum"]), True))
        if "maximum" in rule:
            ok &= _bool(pc.fill_null(pc.less_equal(column, rule["maximum"]), True))
    return ok


def _conditions_ok(batch: pa.RecordBatch, schema: dict[str, Any]) -> np.ndarray:
    """The schema's ``allOf`` of ``if``/``then``: rows where every matching ``if`` has its ``then``."""
    ok = np.ones(batch.num_rows, dtype=bool)
    for clause in schema.get("allOf", ()):
        if set(clause) - {"if", "then", "x-reason", "description"} or "if" not in clause:
            raise NotVectorisable
        ok &= ~_if_mask(batch, clause["if"]) | _then_mask(batch, clause.get("then", {}))
    return ok


def _micros(column: pa.Array) -> pa.Array:
    """A timestamp column as int64 microseconds since the epoch (UTC; a naive one is taken as UTC)."""
    if not pa.types.is_timestamp(column.type) or column.type.unit != "us":
        raise NotVectorisable
    return pc.cast(column, pa.int64())


def _epoch_micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def _time_ok(batch: pa.RecordBatch, bounds: TimeBounds) -> np.ndarray:
    """The rows whose event_time is within the bounds (``TimeBounds.reason`` is None)."""
    event = _micros(_column(batch, "event_time"))
    names = batch.schema.names
    ok = pc.and_(pc.greater_equal(event, _epoch_micros(bounds.floor)), pc.less_equal(event, _epoch_micros(CEILING)))
    if "kafka_timestamp" in names:
        arrival = _micros(batch.column("kafka_timestamp"))
        try:
            ahead = pc.subtract_checked(event, arrival)  # null when the arrival is unknown: no relative bound
        except pa.ArrowInvalid:  # overflow: let the validator's datetimes decide
            raise NotVectorisable from None
        max_future = bounds.max_future // _MICROSECOND
        ok = pc.and_(ok, pc.fill_null(pc.less_equal(ahead, max_future), True))
        if "kafka_topic" in names:
            streamed = pc.fill_null(
                pc.is_in(batch.column("kafka_topic"), value_set=pa.array(sorted(CONTRACT_TOPICS))), False
            )
            max_age = bounds.max_age // _MICROSECOND
            young = pc.fill_null(pc.greater_equal(ahead, -max_age), True)
            ok = pc.and_(ok, pc.or_(pc.invert(streamed), young))
    return _bool(pc.fill_null(ok, False))


def valid_mask(batch: pa.RecordBatch, event_type: str, bounds: TimeBounds | None = None) -> np.ndarray:
    """True for the rows that certainly pass their contract (and, given ``bounds``, the event-time
    bounds); raises NotVectorisable when the batch's columns or the schema's rules are outside what the
    pre-check covers."""
    schema = EVENT_TYPES[event_type].schema
    required = set(schema["required"])
    ok = np.ones(batch.num_rows, dtype=bool)
    names = set(batch.schema.names)
    for name, rule in schema["properties"].items():
        if name not in names:
            if name in required:
                raise NotVectorisable  # every row misses it: let the validator say so
            continue
        mask = _field_ok(batch.column(name), rule, name in required, name)
        ok &= mask.to_numpy(zero_copy_only=False)
    ok &= _conditions_ok(batch, schema)
    if bounds is not None:
        ok &= _time_ok(batch, bounds)
    return ok
