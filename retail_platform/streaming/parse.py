"""Kafka record -> contract verdict and typed fields.

The verdict is ``contracts.rejection_reason(value, expected_type)``: the one validation the producers
and the batch layer use too, so the stream rejects exactly the same events for exactly the same
reasons. ``parse_arrow_batches`` is the function the stream runs with ``mapInArrow`` (Arrow in, Arrow
out: no pandas dtype juggling for nullable integers, and no per-row Spark conversion).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from retail_platform.events.contracts import rejection_reason
from retail_platform.streaming.columns import arrow_schema, input_event_type, parsed_columns

_PASSED_THROUGH = ("topic", "partition", "offset", "kafka_timestamp")


def parse_time(value: str) -> datetime:
    """An event_time the contract accepted (ISO-8601 with a zone) as an aware UTC datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def dedup_key(topic: str, partition: int, offset: int, event_id: str | None) -> str:
    """The key the stream drops duplicates on: the event id of an accepted event. A rejected record
    gets its own coordinates, so rejected records are never "duplicates" (each one is quarantined)."""
    return event_id if event_id is not None else f"rejected:{topic}:{partition}:{offset}"


def parse_value(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> dict[str, Any]:
    """The columns a record adds to its coordinates: verdict, dedup key and typed fields."""
    expected = input_event_type(topic).name
    reason = rejection_reason(value, expected)
    if reason is not None:
        return {
            "event_type": expected,
            "rejection_reason": reason,
            "dedup_key": dedup_key(topic, partition, offset, None),
            "kafka_key": key,
            "raw_value": value if value is not None else b"",
        }
    # Valid means the JSON parsed and every field has its contract type.
    event = json.loads(value)  # type: ignore[arg-type]
    event["event_time"] = parse_time(event["event_time"])
    event["dedup_key"] = dedup_key(topic, partition, offset, event["event_id"])
    return event


def parse_records(
    topics_: list[str], partitions: list[int], offsets: list[int], keys: list[bytes | None], values: list[bytes | None]
) -> dict[str, list[Any]]:
    """Parsed columns (all but the passed-through coordinates) of records given column-wise."""
    names = [c.name for c in parsed_columns() if c.name not in _PASSED_THROUGH]
    out: dict[str, list[Any]] = {name: [] for name in names}
    for topic, partition, offset, key, value in zip(topics_, partitions, offsets, keys, values, strict=True):
        parsed = parse_value(topic, partition, offset, key, value)
        for name in names:
            out[name].append(parsed.get(name))
    return out


def parse_arrow_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """One Arrow batch of Kafka rows (topic, partition, offset, timestamp, key, value) -> parsed rows."""
    schema = arrow_schema()
    parsed = parse_records(
        batch.column("topic").to_pylist(),
        batch.column("partition").to_pylist(),
        batch.column("offset").to_pylist(),
        batch.column("key").to_pylist(),
        batch.column("value").to_pylist(),
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


def parse_arrow_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The stream's ``mapInArrow`` function."""
    for batch in batches:
        yield parse_arrow_batch(batch)
