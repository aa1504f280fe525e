"""Dead-letter messages and quarantine rows: the original bytes (lossless), the reason, the source
coordinates; deterministic, so a replay publishes the same message with the same id."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

from retail_platform.streaming import tables
from retail_platform.streaming.deadletter import message, payload, quarantine_row, record_id
from retail_platform.streaming.outbox import MESSAGE_ID_HEADER

TS = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def record(raw: bytes, reason: str = "malformed_json") -> dict:
    return {
        "topic": "retail-sales-transactions",
        "partition": 2,
        "offset": 1234,
        "kafka_timestamp": TS,
        "kafka_key": b"store_001",
        "event_type": "sales_transaction",
        "rejection_reason": reason,
        "raw_value": raw,
    }


def test_payload_holds_reason_coordinates_and_original_bytes():
    body = payload(record(b'{"event_id": "trunc', "malformed_json"))
    assert body == {
        "reason": "malformed_json",
        "expected_type": "sales_transaction",
        "source_topic": "retail-sales-transactions",
        "source_partition": 2,
        "source_offset": 1234,
        "source_timestamp": "2026-03-02T10:00:00+00:00",
        "value": '{"event_id": "trunc',
        "value_base64": base64.b64encode(b'{"event_id": "trunc').decode(),
    }


def test_bytes_that_are_not_utf8_survive_in_base64():
    raw = b"\xff\xfe\x00garbage"
    body = payload(record(raw, "malformed_json"))
    assert body["value"] is None
    assert base64.b64decode(body["value_base64"]) == raw


def test_message_is_keyed_like_the_original_and_identified_by_coordinates():
    msg = message(record(b"[1, 2, 3]", "not_an_object"))
    assert msg.key == b"store_001"
    assert msg.message_id == record_id("retail-sales-transactions", 2, 1234) == "retail-sales-transactions:2:1234"
    assert msg.headers == [(MESSAGE_ID_HEADER, b"retail-sales-transactions:2:1234")]
    assert json.loads(msg.value)["reason"] == "not_an_object"
    assert message(record(b"[1, 2, 3]", "not_an_object")) == msg  # deterministic


def test_quarantine_row_matches_the_table():
    row = quarantine_row(record(b"x", "out_of_range:quantity"), "qid", 7)
    assert dict(zip(tables.QUARANTINE.column_names, row, strict=True)) == {
        "source_topic": "retail-sales-transactions",
        "source_partition": 2,
        "source_offset": 1234,
        "reason": "out_of_range:quantity",
        "raw_value": b"x",
        "kafka_timestamp": TS,
        "query_id": "qid",
        "batch_id": 7,
    }


def test_an_empty_record_value_is_quarantined_as_empty_bytes():
    rec = record(b"", "empty_message")
    rec["raw_value"] = None
    assert quarantine_row(rec, "q", 1)[4] == b""
    assert payload(rec)["value"] == ""
