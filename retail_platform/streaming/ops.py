"""The ops_stream_batches row of a micro-batch, and the stream's lag and health read back from it.

One row per micro-batch that had input, inserted last (after every sink succeeded) with a
deduplication token, keyed (query_name, query_id, batch_id): the row is the evidence that the batch is
complete everywhere. Reconciliation: for every batch, input_total = accepted + quarantined +
duplicates_dropped; summed over batches, input_total equals the messages in the input topics.

Lag: the stream's position in a partition is one past the highest offset any batch of the current
query covered there (``max_offsets``: the highest offset of its rows, or its end offset from Spark's
offset log minus one when higher, so partitions a batch read nothing from have a position too);
lag = the partition's end offset - position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from clickhouse_connect.driver.client import Client

from retail_platform.streaming import tables


@dataclass(frozen=True)
class PartitionInput:
    rows: int
    max_offset: int


@dataclass
class BatchStats:
    """What one micro-batch consumed and decided (counts only; built by ``batch.py``)."""

    inputs: dict[tuple[str, int], PartitionInput] = field(default_factory=dict)
    accepted_by_type: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    max_event_time: datetime | None = None
    # "topic:partition" -> end offset (exclusive) of the batch from the offset log (``offset_log``)
    covered: dict[str, int] = field(default_factory=dict)

    @property
    def input_total(self) -> int:
        return sum(p.rows for p in self.inputs.values())

    @property
    def accepted(self) -> int:
        return sum(self.accepted_by_type.values())

    @property
    def duplicates_dropped(self) -> int:
        """Input the dedup operator dropped: the only way an input record leaves the batch unaccounted."""
        dropped = self.input_total - self.accepted - self.quarantined
        if dropped < 0:
            raise ValueError(
                f"batch accounts for more records ({self.accepted} accepted + {self.quarantined} quarantined) "
                f"than it read ({self.input_total})"
            )
        return dropped

    def input_by_topic(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (topic, _), part in sorted(self.inputs.items()):
            totals[topic] = totals.get(topic, 0) + part.rows
        return totals

    def max_offsets(self) -> dict[str, int]:
        """Highest offset covered per partition: its rows', or the batch's end offset - 1 when higher."""
        highest = {partition_key(t, p): part.max_offset for (t, p), part in self.inputs.items()}
        for key, end in self.covered.items():
            if end > 0:
                highest[key] = max(highest.get(key, -1), end - 1)
        return dict(sorted(highest.items()))


def partition_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def batch_row(
    *,
    query_name: str,
    query_id: str,
    batch_id: int,
    started_at: datetime,
    queryable_at: datetime,
    finished_at: datetime,
    stats: BatchStats,
    alerts: int,
    rows_written: Mapping[str, int],
) -> list[Any]:
    """An ops_stream_batches row (columns of tables.STREAM_BATCHES)."""
    return [
        query_name,
        query_id,
        batch_id,
        started_at,
        finished_at,
        max(0, int((finished_at - started_at).total_seconds() * 1000)),
        stats.input_by_topic(),
        stats.input_total,
        stats.accepted,
        dict(sorted(stats.accepted_by_type.items())),
        stats.quarantined,
        stats.duplicates_dropped,
        alerts,
        dict(sorted(rows_written.items())),
        stats.max_event_time,
        stats.max_offsets(),
        queryable_at,
    ]


# ---- reading the stream's progress back ---------------------------------------------------------


@dataclass(frozen=True)
class StreamStatus:
    query_name: str
    query_id: str | None
    batches: int
    last_batch_id: int | None
    last_finished_at: datetime | None
    positions: dict[str, int]  # "topic:partition" -> next offset to consume
    lag: dict[str, int]  # "topic:partition" -> records not consumed yet

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())

    def healthy(self, now: datetime | None = None, max_silence_s: float = 120.0) -> bool:
        """Caught up, or a batch finished recently (a busy stream is behind between batches)."""
        if self.total_lag == 0:
            return True
        if self.last_finished_at is None:
            return False
        now = now or datetime.now(timezone.utc)
        return (now - self.last_finished_at).total_seconds() <= max_silence_s


def positions(client: Client, query_name: str) -> tuple[str | None, dict[str, int], int, int | None, datetime | None]:
    """(current query id, next offset per partition, batches, last batch id, last finish time)."""
    table = tables.STREAM_BATCHES.name
    latest = client.query(
        f"SELECT argMax(query_id, finished_at), count() FROM {table} WHERE query_name = %(name)s",
        parameters={"name": query_name},
    ).result_rows
    if not latest or not latest[0][1]:
        return None, {}, 0, None, None
    query_id = latest[0][0]
    summary = client.query(
        f"""
        SELECT count(), max(batch_id), max(finished_at) FROM {table} FINAL
        WHERE query_name = %(name)s AND query_id = %(qid)s
        """,
        parameters={"name": query_name, "qid": query_id},
    ).result_rows[0]
    offsets = client.query(
        f"""
        SELECT partition, max(offset) + 1 FROM {table}
        ARRAY JOIN mapKeys(max_offsets) AS partition, mapValues(max_offsets) AS offset
        WHERE query_name = %(name)s AND query_id = %(qid)s
        GROUP BY partition ORDER BY partition
        """,
        parameters={"name": query_name, "qid": query_id},
    ).result_rows
    finished = summary[2].replace(tzinfo=timezone.utc) if summary[2] is not None else None
    return query_id, {str(p): int(o) for p, o in offsets}, int(summary[0]), int(summary[1]), finished


def lag(end_offsets: Mapping[str, int], consumed: Mapping[str, int]) -> dict[str, int]:
    """Records not consumed yet per partition ("topic:partition" keys on both sides)."""
    return {key: max(0, end - consumed.get(key, 0)) for key, end in sorted(end_offsets.items())}


def kafka_end_offsets(bootstrap: str, topic_names: list[str]) -> dict[str, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        tps = [TopicPartition(t, p) for t in topic_names for p in sorted(consumer.partitions_for_topic(t) or ())]
        return {partition_key(tp.topic, tp.partition): int(o) for tp, o in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def stream_status(client: Client, bootstrap: str, query_name: str, topic_names: list[str]) -> StreamStatus:
    """Where the stream is: its last batch and its lag per input partition."""
    query_id, consumed, batches, last_id, last_at = positions(client, query_name)
    ends = kafka_end_offsets(bootstrap, topic_names)
    return StreamStatus(query_name, query_id, batches, last_id, last_at, consumed, lag(ends, consumed))
