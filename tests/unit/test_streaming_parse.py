"""The stream's parse step: the contracts' verdict for every fixture, typed fields for valid events,
coordinates as the dedup key of rejected records, and the Arrow batch the stream's mapInArrow returns."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from retail_platform import topics
from retail_platform.events.contracts import rejection_reason
from retail_platform.streaming.columns import arrow_schema, event_fields, parsed_columns, spark_schema
from retail_platform.streaming.parse import dedup_key, parse_arrow_batch, parse_time, parse_value

FIXTURES = Path(__file__).parent.parent / "fixtures" / "events"
INVALID = json.loads((FIXTURES / "invalid.json").read_text())
TOPIC_OF = {
    "sales_transaction": topics.SALES.name,
    "inventory_update": topics.INVENTORY.name,
    "price_change": topics.PRICES.name,
}


def raw(case: dict) -> bytes:
    event = case["event"]
    return (event if isinstance(event, str) else json.dumps(event)).encode()


def topic_for(case: dict) -> str:
    event = case["event"]
    kind = event.get("event_type") if isinstance(event, dict) else None
    return TOPIC_OF.get(kind, topics.SALES.name)


@pytest.mark.parametrize("name", sorted(TOPIC_OF))
def test_valid_fixture_is_accepted_with_typed_fields(name):
    value = (FIXTURES / f"{name}.valid.json").read_bytes()
    parsed = parse_value(TOPIC_OF[name], 0, 7, b"store_001", value)
    source = json.loads(value)
    assert parsed.get("rejection_reason") is None
    assert parsed["event_id"] == source["event_id"] == parsed["dedup_key"]
    assert parsed["event_time"] == datetime.fromisoformat(source["event_time"].replace("Z", "+00:00"))
    assert parsed["event_time"].tzinfo is not None
    assert parsed["store_id"] == "store_001"
    assert "raw_value" not in parsed  # accepted records do not carry their bytes around


@pytest.mark.parametrize("case", INVALID, ids=[c["reason"] for c in INVALID])
def test_rejected_record_gets_the_contracts_reason_and_its_coordinates_as_key(case):
    topic = topic_for(case)
    value = raw(case)
    parsed = parse_value(topic, 2, 41, b"k", value)
    assert parsed["rejection_reason"] == rejection_reason(value, parsed["event_type"])
    assert parsed["dedup_key"] == f"rejected:{topic}:2:41"
    assert parsed["raw_value"] == value
    assert parsed["kafka_key"] == b"k"


def test_the_reason_is_the_fixtures_reason_when_the_topic_matches():
    for case in INVALID:
        if case["reason"] == "unknown_event_type":
            continue
        assert parse_value(topic_for(case), 0, 0, None, raw(case))["rejection_reason"] == case["reason"]


def test_an_event_on_the_wrong_topic_and_an_empty_value_are_rejected():
    price = (FIXTURES / "price_change.valid.json").read_bytes()
    assert parse_value(topics.SALES.name, 0, 0, None, price)["rejection_reason"] == "wrong_topic"
    empty = parse_value(topics.SALES.name, 0, 1, None, None)
    assert empty["rejection_reason"] == "empty_message"
    assert empty["raw_value"] == b""


def test_duplicates_share_the_dedup_key_and_rejects_never_do():
    assert dedup_key("t", 0, 1, "abc") == dedup_key("t", 2, 9, "abc") == "abc"
    assert dedup_key("t", 0, 1, None) != dedup_key("t", 0, 2, None)


def test_event_time_with_an_offset_is_converted_to_utc():
    assert parse_time("2025-01-01T12:30:00+02:00") == datetime(2025, 1, 1, 10, 30, tzinfo=timezone.utc)
    assert parse_time("2025-01-01T10:30:00.123Z").microsecond == 123000


def test_columns_cover_every_input_field_once_with_one_type():
    names = [c.name for c in parsed_columns()]
    assert len(names) == len(set(names))
    fields = {c.name: c.kind for c in event_fields()}
    assert fields["event_time"] == "timestamp"
    assert fields["quantity"] == "long"
    assert fields["unit_price"] == "double"
    assert fields["promotion"] == "boolean"
    assert fields["reason"] == "string"  # inventory_update's enum and price_change's free text
    assert len(spark_schema().fields) == len(arrow_schema()) == len(names)


def kafka_batch(rows: list[tuple[str, int, int, bytes | None, bytes | None]]) -> pa.RecordBatch:
    ts = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return pa.RecordBatch.from_pydict(
        {
            "topic": [r[0] for r in rows],
            "partition": pa.array([r[1] for r in rows], pa.int32()),
            "offset": pa.array([r[2] for r in rows], pa.int64()),
            "timestamp": pa.array([ts] * len(rows), pa.timestamp("us", tz="UTC")),
            "key": pa.array([r[3] for r in rows], pa.binary()),
            "value": pa.array([r[4] for r in rows], pa.binary()),
        }
    )


def test_arrow_batch_has_the_declared_schema_and_one_row_per_record():
    sale = (FIXTURES / "sales_transaction.valid.json").read_bytes()
    inventory = (FIXTURES / "inventory_update.valid.json").read_bytes()
    batch = kafka_batch(
        [
            (topics.SALES.name, 0, 10, b"store_001", sale),
            (topics.INVENTORY.name, 1, 11, b"store_001", inventory),
            (topics.SALES.name, 2, 12, None, b"{not json"),
        ]
    )
    out = parse_arrow_batch(batch)
    assert out.schema == arrow_schema()
    rows = out.to_pylist()
    assert [r["offset"] for r in rows] == [10, 11, 12]
    assert [r["rejection_reason"] for r in rows] == [None, None, "malformed_json"]
    assert rows[0]["quantity"] == 2 and rows[0]["unit_price"] == 29.99
    assert rows[1]["new_quantity"] == 48 and rows[1]["quantity"] is None
    assert rows[2]["raw_value"] == b"{not json" and rows[2]["event_id"] is None
    assert rows[0]["kafka_timestamp"] == datetime(2026, 1, 1, tzinfo=timezone.utc)
