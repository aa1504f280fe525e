"""Publishing a micro-batch's messages to Kafka at most once per message, even when the batch is replayed.

Spark replays the last micro-batch after a crash; a plain producer would publish its dead letters and
alerts a second time. Kafka offers no transaction spanning Spark's checkpoint, so the job uses the
topic itself as the record of what was published:

1. Before its first send for batch N, the job records the topic's end offsets ("markers") in
   ``ops_stream_outbox`` (one insert with a deduplication token, so the earliest attempt's markers win).
2. Every message carries its id in a header (``retail-message-id``).
3. An attempt that finds markers for batch N is a replay: it reads the topic from the markers to the
   current end, collects the ids already there and sends only the others.

The job is the only writer of what it publishes, so everything a previous attempt of N sent lies after
the markers. Cost: one small query per batch that publishes; the scan happens only on a replay.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kafka.structs import TopicPartition

MESSAGE_ID_HEADER = "retail-message-id"


@dataclass(frozen=True)
class OutMessage:
    message_id: str
    key: bytes | None
    value: bytes

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return [(MESSAGE_ID_HEADER, self.message_id.encode())]


def message_id_of(headers: Iterable[tuple[str, bytes]] | None) -> str | None:
    for name, value in headers or ():
        if name == MESSAGE_ID_HEADER:
            return value.decode()
    return None


def unpublished(messages: Iterable[OutMessage], published: set[str]) -> list[OutMessage]:
    """The messages still to send, each id once, in their original order."""
    todo: list[OutMessage] = []
    seen = set(published)
    for message in messages:
        if message.message_id not in seen:
            seen.add(message.message_id)
            todo.append(message)
    return todo


class MarkerStore(Protocol):
    """Where the outbox records the end offsets it saw before publishing (sink.Warehouse)."""

    def outbox_markers(self, batch_id: int, topic: str) -> dict[int, int]: ...
    def record_outbox_markers(self, batch_id: int, topic: str, ends: Mapping[int, int]) -> None: ...


class KafkaOutbox:
    def __init__(self, markers: MarkerStore, producer: Any, consumer: Any, *, scan_timeout: float = 120.0) -> None:
        self.markers = markers
        self.producer = producer
        self.consumer = consumer
        self.scan_timeout = scan_timeout

    @classmethod
    def connect(cls, bootstrap: str, markers: MarkerStore) -> KafkaOutbox:
        from kafka import KafkaConsumer, KafkaProducer

        # Idempotent producer: the client's own retries cannot duplicate a message either.
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
        return cls(markers, producer, consumer)

    def close(self) -> None:
        self.producer.close(timeout=10)
        self.consumer.close()

    def _end_offsets(self, topic: str) -> dict[int, int]:
        partitions = self.consumer.partitions_for_topic(topic)
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist; start Kafka with the platform (it creates the topics)")
        ends = self.consumer.end_offsets([TopicPartition(topic, p) for p in sorted(partitions)])
        return {tp.partition: int(offset) for tp, offset in ends.items()}

    def published_ids(self, topic: str, starts: Mapping[int, int], ends: Mapping[int, int]) -> set[str]:
        """Message ids found in ``topic`` between ``starts`` and ``ends`` (per partition)."""
        ranges = {p: (starts.get(p, 0), end) for p, end in ends.items() if end > starts.get(p, 0)}
        if not ranges:
            return set()
        tps = [TopicPartition(topic, p) for p in ranges]
        self.consumer.assign(tps)
        for tp in tps:
            self.consumer.seek(tp, ranges[tp.partition][0])
        found: set[str] = set()
        deadline = time.monotonic() + self.scan_timeout
        pending = set(ranges)
        try:
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {topic} to find already published messages took too long")
                for tp, records in self.consumer.poll(timeout_ms=500).items():
                    for record in records:
                        if record.offset < ranges[tp.partition][1]:
                            message_id = message_id_of(record.headers)
                            if message_id is not None:
                                found.add(message_id)
                for p in list(pending):
                    if self.consumer.position(TopicPartition(topic, p)) >= ranges[p][1]:
                        pending.discard(p)
        finally:
            self.consumer.unsubscribe()
        return found

    def publish(self, topic: str, batch_id: int, messages: list[OutMessage]) -> int:
        """Send what batch ``batch_id`` has not sent yet; returns how many messages were sent now."""
        if not messages:
            return 0
        ends = self._end_offsets(topic)
        starts = self.markers.outbox_markers(batch_id, topic)
        if starts:
            todo = unpublished(messages, self.published_ids(topic, starts, ends))
        else:
            self.markers.record_outbox_markers(batch_id, topic, ends)
            todo = unpublished(messages, set())
        futures: list[Any] = [self.producer.send(topic, key=m.key, value=m.value, headers=m.headers) for m in todo]
        self.producer.flush()
        for future in futures:
            future.get(timeout=60)  # raises the send's error: the batch fails and is replayed
        return len(todo)
