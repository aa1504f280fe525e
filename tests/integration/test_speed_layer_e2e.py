"""The speed layer end to end, as the platform runs it: the simulators produce a faulted run
(duplicates, late, out-of-order, malformed and invalid events) while the managed streaming job is
killed with SIGKILL several times and restarted. At the end the warehouse equals the simulator's
ground truth per store/product (units, revenue, stock), produced = accepted + quarantined +
dropped duplicates with every reason accounted for, bronze holds every accepted event exactly once,
and no restock alert was published twice."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaConsumer, TopicPartition

from retail_platform import lake, reconcile
from retail_platform.runtime import process, stack
from retail_platform.runtime.stream import StreamJob
from retail_platform.simulation.faults import FaultRates
from retail_platform.simulation.producer import SimulationConfig, run_simulation
from retail_platform.topics import RESTOCK_ALERTS
from retail_platform.warehouse.client import connect

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.warehouse, pytest.mark.spark]

FAULTS = "duplicates=0.03,late=0.02,out_of_order=0.02,malformed=0.01,invalid=0.01"
KILLS = 3


def _stream_spec(settings):
    return StreamJob(settings).processes(stack.run_dir(settings))[0]


def _alert_ids(settings) -> Counter[str]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(RESTOCK_ALERTS.name, 0)])
    consumer.seek_to_beginning()
    ids: Counter[str] = Counter()
    for record in consumer:
        ids[json.loads(record.value)["event_id"]] += 1
    consumer.close()
    return ids


def _run_start(settings) -> datetime:
    client = connect(settings)
    try:
        newest = client.command("SELECT toUnixTimestamp(max(event_time)) FROM rt_stock")
    finally:
        client.close()
    # The stream rejects events more than an hour ahead of their arrival (in_future:event_time), so
    # the run starts at the last noon UTC already past, or just after the newest stock event if later.
    now = datetime.now(timezone.utc)
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon > now - timedelta(minutes=5):
        noon -= timedelta(days=1)
    return max(noon, datetime.fromtimestamp(int(newest), timezone.utc) + timedelta(seconds=1))


@pytest.fixture
def stream(warehouse, kafka):
    stack.up(warehouse, ("stream",), log=lambda _: None)
    yield warehouse
    stack.down(warehouse, ("stream",), log=lambda _: None)


def test_faulted_run_with_sigkills_reconciles_with_the_ground_truth(stream):
    settings = stream
    before = reconcile.snapshot(settings)
    config = SimulationConfig(
        stores=4,
        products=15,
        seed=23,
        rate=250,
        duration=75,
        faults=FaultRates.parse(FAULTS),
        # Noon UTC, whatever the clock says: most of the catalogue's stores are open then, so the run
        # has traffic in every store (at night only the 24-hour stores sell). And after any stock event
        # already in the warehouse (other tests use the same store ids): the newest event wins in
        # rt_stock, so the run's must be the newest.
        start=_run_start(settings),
        load_catalog=True,
    )
    result: dict[str, object] = {}
    producer = threading.Thread(target=lambda: result.update(truth=run_simulation(settings, config)))
    producer.start()

    spec = _stream_spec(settings)
    for _ in range(KILLS):
        time.sleep(12)
        pid = process.running_pid(spec)
        assert pid is not None, "the stream should be running before it is killed"
        os.killpg(pid, signal.SIGKILL)
        # `up` restarts it and waits until it has committed a batch again (resumed from its checkpoint).
        stack.up(settings, ("stream",), log=lambda _: None)
    producer.join()
    truth = result["truth"]
    assert truth.final and not truth.reconciliation_errors()
    assert sum(truth.duplicates.values()) > 0 and sum(truth.quarantined.values()) > 0 and truth.late > 0

    after = reconcile.wait_for_catch_up(settings, before, truth, timeout=600)
    outcome = reconcile.reconcile(before, after, truth)
    assert outcome.ok, "\n" + outcome.render()

    # Bronze: every accepted event of the run exactly once.
    from pyspark.sql import functions as F

    from retail_platform.spark import session

    expected = {
        source: truth.events_by_topic()[topic]
        for source, topic in (
            ("sales", "retail-sales-transactions"),
            ("inventory", "retail-inventory-updates"),
            ("prices", "retail-price-changes"),
        )
    }
    assert expected["sales"] > 0 and expected["inventory"] > 0
    spark = session("e2e-bronze-check", settings)
    try:
        counts = {}
        for source, events in expected.items():
            if events == 0:  # a run without price changes has no prices table to read
                counts[source] = (0, 0)
                continue
            frame = (
                spark.read.format("delta")
                .load(lake.uri(settings, "raw-data", source))
                .where(F.col("store_id").isin(truth.store_ids))
                .where(F.col("event_time") >= F.lit(truth.sim_start).cast("timestamp"))
            )
            row = frame.agg(F.count("*").alias("rows"), F.countDistinct("event_id").alias("ids")).first()
            counts[source] = (row["rows"], row["ids"])
    finally:
        spark.stop()
    assert counts == {source: (events, events) for source, events in expected.items()}

    # Restock alerts: never published twice, even across the kills.
    published = _alert_ids(settings)
    assert all(n == 1 for n in published.values())
