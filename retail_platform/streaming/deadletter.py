"""Rejected records -> dead-letter messages and rt_quarantine rows.

A record is identified by its Kafka coordinates (topic, partition, offset): the quarantine table is
keyed by them and the dead-letter message carries them as its message id, so a replayed micro-batch
neither adds a quarantine row nor publishes a second dead letter for the same record.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from retail_platform.streaming.outbox import OutMessage


def record_id(topic: str, partition: int, offset: int) -> str:
    return f"{topic}:{partition}:{offset}"


def payload(record: Mapping[str, Any]) -> dict[str, Any]:
    """The dead-letter JSON: the original bytes (as text when they are UTF-8, always as base64, so
    nothing is lost), the reason and where the record came from. Deterministic: a replay publishes
    the same bytes."""
    raw: bytes = record["raw_value"] or b""
    try:
        text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    timestamp = record.get("kafka_timestamp")
    return {
        "reason": record["rejection_reason"],
        "expected_type": record.get("event_type"),
        "source_topic": record["topic"],
        "source_partition": int(record["partition"]),
        "source_offset": int(record["offset"]),
        "source_timestamp": timestamp.isoformat() if timestamp is not None else None,
        "value": text,
        "value_base64": base64.b64encode(raw).decode("ascii"),
    }


def message(record: Mapping[str, Any]) -> OutMessage:
    """The dead letter; keyed like the original record (its store), so a store's rejects stay ordered."""
    return OutMessage(
        message_id=record_id(record["topic"], record["partition"], record["offset"]),
        key=record.get("kafka_key"),
        value=json.dumps(payload(record), separators=(",", ":"), ensure_ascii=False).encode(),
    )


def quarantine_row(record: Mapping[str, Any], query_id: str, batch_id: int) -> list[Any]:
    """An rt_quarantine row (columns of tables.QUARANTINE)."""
    return [
        record["topic"],
        int(record["partition"]),
        int(record["offset"]),
        record["rejection_reason"],
        record["raw_value"] or b"",
        record["kafka_timestamp"],
        query_id,
        batch_id,
    ]
