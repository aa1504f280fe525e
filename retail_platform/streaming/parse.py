"""Kafka record -> contract verdict and typed fields.

The verdict is the contracts' (``contracts.check(value, expected_type)``: the one validation the
producers and the batch layer use too, so the stream rejects exactly the same events for exactly the
same reasons), then the event-time bounds against the record's Kafka timestamp
(``events/time_bounds.py``, the same rule the daily load applies to bronze). Neither raises: a record
the parsing code itself fails on is rejected as ``validator_error:<ExceptionClass>``, so no record can
stop the stream. ``parse_arrow_batches`` is the function the stream runs with ``mapInArrow`` (Arrow in,
Arrow out: no pandas dtype juggling for nullable integers, and no per-row Spark conversion); it takes
the bounds as an argument (``functools.partial``), built from the settings on the driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa

from retail_platform.events.contracts import check, utc_time
from retail_platform.events.time_bounds import TimeBounds, is_streamed
from retail_platform.streaming.columns import arrow_schema, input_event_type, parsed_columns

_PASSED_THROUGH = ("topic", "partition", "offset", "kafka_timestamp")


def parse_time(value: str) -> datetime:
    """An event_time the contract accepted (ISO-8601 with a zone) as an aware UTC datetime."""
    parsed = utc_time(value)
    if parsed is None:
        raise ValueError(f"not a contract date-time: {value!r}")
    return parsed


def dedup_key(topic: str, partition: int, offset: int, event_id: str | None) -> str:
    """The key the stream drops duplicates on: the event id of an accepted event. A rejected record
    gets its own coordinates, so rejected records are never "duplicates" (each one is quarantined)."""
    return event_id if event_id is not None else f"rejected:{topic}:{partition}:{offset}"


def rejected(
    topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, reason: str
) -> dict[str, Any]:
    """The columns of a rejected record: its verdict, its own coordinates as key, its bytes."""
    return {
        "event_type": input_event_type(topic).name,
        "rejection_reason": reason,
        "dedup_key": dedup_key(topic, partition, offset, None),
        "kafka_key": key,
        "raw_value": value if value is not None else b"",
    }


def parse_value(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    kafka_timestamp: datetime | None = None,
    bounds: TimeBounds | None = None,
) -> dict[str, Any]:
    """The columns a record adds to its coordinates: verdict, dedup key and typed fields.

    The contract first, then (with ``bounds``) the event-time bounds against ``kafka_timestamp``."""
    try:
        event, reason = check(value, input_event_type(topic).name)
        if event is None:
            return rejected(topic, partition, offset, key, value, reason or "validator_error:NoReason")
        # Valid means the JSON parsed and every field has its contract type (event_time included).
        event["event_time"] = parse_time(event["event_time"])
        if bounds is not None:
            reason = bounds.reason(event["event_time"], kafka_timestamp, is_streamed(topic))
            if reason is not None:
                return rejected(topic, partition, offset, key, value, reason)
        event["dedup_key"] = dedup_key(topic, partition, offset, event["event_id"])
        return event
    except Exception as exc:  # the last line of defence: quarantined, the batch goes on
        return rejected(topic, partition, offset, key, value, f"validator_error:{type(exc).__name__}")


def parse_records(
    topics_: list[str],
    partitions: list[int],
    offsets: list[int],
    keys: list[bytes | None],
    values: list[bytes | None],
    timestamps: list[datetime | None] | None = None,
    bounds: TimeBounds | None = None,
) -> dict[str, list[Any]]:
    """Parsed columns (all but the passed-through coordinates) of records given column-wise."""
    names = [c.name for c in parsed_columns() if c.name not in _PASSED_THROUGH]
    out: dict[str, list[Any]] = {name: [] for name in names}
    stamps = timestamps if timestamps is not None else [None] * len(values)
    rows = zip(topics_, partitions, offsets, keys, values, stamps, strict=True)
    for topic, partition, offset, key, value, stamp in rows:
        parsed = parse_value(topic, partition, offset, key, value, stamp, bounds)
        for name in names:
            out[name].append(parsed.get(name))
    return out


def parse_arrow_batch(batch: pa.RecordBatch, bounds: TimeBounds | None = None) -> pa.RecordBatch:
    """One Arrow batch of Kafka rows (topic, partition, offset, timestamp, key, value) -> parsed rows;
    without ``bounds``, the contract only."""
    schema = arrow_schema()
    parsed = parse_records(
        batch.column("topic").to_pylist(),
        batch.column("partition").to_pylist(),
        batch.column("offset").to_pylist(),
        batch.column("key").to_pylist(),
        batch.column("value").to_pylist(),
        batch.column("timestamp").to_pylist() if bounds is not None else None,
        bounds,
    )
    arrays: list[pa.Array] = []
    for field in schema:
        if field.name == "kafka_timestamp":
            arrays.append(batch.column("timestamp").cast(field.type))
        elif field.name in _PASSED_THROUGH:
            arrays.append(batch.column(field.name).cast(field.type))
        else:
            arrays.append(pa.array(parsed[field.name], type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def parse_arrow_batches(batches: Iterable[pa.RecordBatch], bounds: TimeBounds) -> Iterator[pa.RecordBatch]:
    """The stream's ``mapInArrow`` function (``partial(parse_arrow_batches, bounds=...)``)."""
    for batch in batches:
        yield parse_arrow_batch(batch, bounds)
