"""A duplicate redelivered after the stream's deduplication state forgot its original is dropped
through the warehouse (rt_event_ids), on the real Kafka broker, warehouse endpoint and Spark.

The second run of the job starts from a new checkpoint, so its Spark state holds no id at all: the
only thing that can recognise the redelivery is the lookup of the ids the first run accepted. The
redelivered sale is late (event_time two hours before its arrival), as every redelivery past the
15-minute window is unless its original arrived ahead of its own event_time (tested in
tests/unit/test_streaming_late_duplicates.py)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from kafka import KafkaProducer

from retail_platform import topics
from retail_platform.settings import Settings
from retail_platform.streaming import tables
from retail_platform.warehouse.client import connect
from tests.integration.databases import scratch_database
from tests.integration.test_stream_events import QUERY_NAME, StreamJob, fixture, iso

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.warehouse, pytest.mark.spark]


@pytest.fixture(scope="module")
def database(warehouse: Settings, kafka: Settings) -> Iterator[str]:
    with scratch_database(warehouse, "late_dup") as scoped:
        yield scoped.clickhouse_database


def sale(store: str, product: str, quantity: int, at: datetime) -> dict:
    return fixture("sales_transaction") | {
        "event_id": str(uuid.uuid4()),
        "event_time": iso(at),
        "store_id": store,
        "product_id": product,
        "transaction_id": f"txn-{uuid.uuid4().hex[:8]}",
        "quantity": quantity,
        "unit_price": 2.5,
    }


def produce(producer: KafkaProducer, *events: dict) -> None:
    for event in events:
        producer.send(topics.SALES.name, json.dumps(event).encode(), key=event["store_id"].encode()).get(timeout=30)


def query_totals(settings: Settings, database: str, query_id_filter: str) -> tuple[int, int, int, int]:
    client = connect(settings, database=database)
    try:
        row = client.query(
            f"""
            SELECT count(), sum(input_total), sum(accepted), sum(duplicates_dropped)
            FROM ops_stream_batches FINAL WHERE query_name = '{QUERY_NAME}' AND {query_id_filter}
            """
        ).result_rows[0]
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])
    finally:
        client.close()


def wait_for(predicate, job: StreamJob, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if not job.alive():
            pytest.fail(f"the streaming job exited while waiting for {what}:\n{job.log_tail()}")
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}:\n{job.log_tail()}")


def test_a_redelivery_after_the_state_forgot_it_is_not_counted_twice(
    kafka: Settings, database: str, tmp_path: Path
) -> None:
    store, product = f"store_{uuid.uuid4().int % 90000 + 10000:05d}", f"SKU{uuid.uuid4().int % 900000 + 100000}"
    now = datetime.now(timezone.utc)
    original = sale(store, product, 3, now - timedelta(hours=2))
    other = sale(store, product, 5, now - timedelta(hours=3))
    producer = KafkaProducer(bootstrap_servers=kafka.kafka_bootstrap, acks="all")
    first = StreamJob(kafka, database, tmp_path / "lake", tmp_path)
    second = StreamJob(kafka, database, tmp_path / "lake", tmp_path)
    try:
        # Run 1: a checkpoint of its own, from the topics' current end (fixed in sources/0/0 when the
        # query starts): it sees only what follows.
        first.start("--checkpoint", f"file://{tmp_path}/checkpoint-1", "--starting-offsets", "latest")
        wait_for(lambda: (tmp_path / "checkpoint-1" / "sources" / "0" / "0").exists(), first, "the first run's offsets")
        produce(producer, original)
        wait_for(lambda: query_totals(kafka, database, "1")[2] >= 1, first, "the original to be accepted")
        first.stop()
        client = connect(kafka, database=database)
        first_query = client.command(f"SELECT any(query_id) FROM ops_stream_batches WHERE query_name = '{QUERY_NAME}'")
        client.close()

        # Run 2: a new checkpoint (no dedup state), then the redelivery and one new late sale.
        second.start("--checkpoint", f"file://{tmp_path}/checkpoint-2", "--starting-offsets", "latest")
        wait_for(
            lambda: (tmp_path / "checkpoint-2" / "sources" / "0" / "0").exists(), second, "the second run's offsets"
        )
        produce(producer, original, other)
        later = f"query_id != '{first_query}'"
        wait_for(lambda: query_totals(kafka, database, later)[1] >= 2, second, "the second run to read both")
    finally:
        first.stop()
        second.stop()
        producer.close()

    _, read, accepted, duplicates = query_totals(kafka, database, f"query_id != '{first_query}'")
    assert (read, accepted, duplicates) == (2, 1, 1)
    client = connect(kafka, database=database)
    try:
        units = client.command(
            f"SELECT sum(units) FROM {tables.SALES_5MIN.name} WHERE store_id = '{store}' AND product_id = '{product}'"
        )
        assert int(units) == 3 + 5
        recorded = client.command(
            f"SELECT count() FROM {tables.EVENT_IDS.name} WHERE event_id = '{original['event_id']}'"
        )
        assert int(recorded) == 1
    finally:
        client.close()
