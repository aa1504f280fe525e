"""The streaming job against the hostile corpus (tests/fixtures/events/hostile.jsonl): every record is
produced to the live contract topics, interleaved with valid events; the real job keeps running,
quarantines each hostile record with its expected reason, counts the valid events exactly and
reconciles produced = accepted + quarantined + duplicates. The contract topics stamp records with
the broker's clock, and reconciliation puts that back on an existing topic.

Reuses the scenario, job and checks of test_stream_events (own database and lake per module)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from retail_platform import topics
from retail_platform.runtime.kafka_broker import ensure_topics
from retail_platform.settings import Settings
from retail_platform.warehouse.client import connect
from tests import hostile
from tests.integration.test_stream_events import (  # noqa: F401 (fixtures)
    QUERY_NAME,
    Scenario,
    StreamJob,
    assert_exact,
    database,
    job,
    scenario,
    status,
    topic_messages,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.warehouse, pytest.mark.spark]

UTC = timezone.utc


def produce(s: Scenario) -> None:
    a, b, c = s.stores
    p1, p2, p3 = s.products
    t = s.now - timedelta(minutes=20)
    for i, case in enumerate(hostile.load()):
        store, product = s.stores[i % 3], s.products[i % 3]
        s.sale(store, product, 1 + i % 4, 2.5, t + timedelta(seconds=i))
        if i % 10 == 0:
            s.duplicate(s.sale(store, product, 1, 9.99, t - timedelta(days=2, seconds=i)))  # late, and again
        value = hostile.value(case, datetime.now(UTC))
        s.bad(hostile.TOPIC_OF[case["type"]], value, case["reason"], store)
    s.stock(a, p1, 30, t)
    s.stock(a, p1, 9, t + timedelta(minutes=1), alerts=True)
    s.stock(b, p2, 50, t)
    s.price(c, p3, t)
    s.producer.flush()


def starting_offsets(running: StreamJob) -> dict[str, dict[str, int]] | None:
    """The offsets a new checkpoint started from, once Spark has fixed them (its first trigger)."""
    path = running.lake / "checkpoints" / QUERY_NAME / "sources" / "0" / "0"
    if not path.exists():
        return None
    lines = path.read_text().strip().splitlines()
    return json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None


@pytest.fixture(scope="module")
def hostile_done(kafka: Settings, database: str, scenario: Scenario, job: StreamJob):  # noqa: F811
    # Earlier modules' records stay on the shared topics: start at their end so that every total the
    # job records is this module's, and the exact split below holds in a full run as well as alone.
    job.start("--starting-offsets", "latest")
    wait_until(lambda: starting_offsets(job) is not None, 300, job, "the job's starting offsets")
    offsets = starting_offsets(job)
    assert offsets is not None
    start = {f"{topic}:{p}": int(o) for topic, partitions in offsets.items() for p, o in partitions.items()}
    produce(scenario)
    wait_until(lambda: status(kafka, database).total_lag == 0, 420, job, "every offset to be consumed")
    # Each batch records the end offsets of its offset log, so a partition the job never read a record
    # from has a position too (its starting offset): nothing is left behind for the daily close.
    positions = status(kafka, database).positions
    assert all(positions.get(key, 0) >= offset for key, offset in start.items()), (start, positions)
    return sum(start.values())


def test_the_stream_survives_the_corpus_and_reconciles(
    kafka: Settings,
    database: str,  # noqa: F811
    scenario: Scenario,  # noqa: F811
    job: StreamJob,  # noqa: F811
    hostile_done,
):
    consumed_from = hostile_done
    assert job.alive(), job.log_tail()
    assert_exact(kafka, database, scenario, job.lake, consumed_from)  # totals, quarantine per record, reconciliation
    client = connect(kafka, database=database)
    try:
        rows = client.query(
            "SELECT source_topic, source_partition, source_offset, reason FROM rt_quarantine FINAL"
        ).result_rows
        batches = client.query(
            "SELECT sum(input_total), sum(accepted), sum(quarantined), sum(duplicates_dropped) "
            "FROM ops_stream_batches FINAL WHERE query_name = %(q)s",
            parameters={"q": QUERY_NAME},
        ).result_rows[0]
    finally:
        client.close()
    mine = {(t, int(p), int(o)): reason for t, p, o, reason in rows if (t, int(p), int(o)) in scenario.rejected}
    assert Counter(mine.values()) == Counter(case["reason"] for case in hostile.load())
    total, accepted, quarantined, duplicates = (int(x) for x in batches)
    assert total == accepted + quarantined + duplicates
    assert total == scenario.produced, "the job started at the topics' end: every record it read is this module's"
    assert (accepted, quarantined, duplicates) == (len(scenario.valid), len(scenario.rejected), scenario.duplicates)


def test_contract_topics_stamp_records_with_the_brokers_clock(kafka: Settings, hostile_done):
    records = topic_messages(kafka, topics.SALES.name)
    assert records and {r.timestamp_type for r in records} == {1}  # 1: LogAppendTime


def test_reconciliation_puts_log_append_time_back_on_an_existing_topic(kafka: Settings, hostile_done):
    admin = KafkaAdminClient(bootstrap_servers=kafka.kafka_bootstrap)
    resource = ConfigResource(ConfigResourceType.TOPIC, topics.PRICES.name)

    def timestamp_type() -> str:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topics.PRICES.name)])
        return described["topic"][topics.PRICES.name]["message.timestamp.type"]["value"]

    try:
        assert timestamp_type() == "LogAppendTime"
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, resource.name, configs={"message.timestamp.type": "CreateTime"})]
        )
        assert timestamp_type() == "CreateTime"
        ensure_topics(kafka.kafka_bootstrap)
        assert timestamp_type() == "LogAppendTime"
    finally:
        ensure_topics(kafka.kafka_bootstrap)
        admin.close()
