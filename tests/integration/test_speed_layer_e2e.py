"""The speed layer end to end, as the platform runs it: the simulators produce a faulted run
(duplicates, late, out-of-order, malformed and invalid events) while the managed streaming job is
killed with SIGKILL several times and restarted. At the end the warehouse equals the simulator's
ground truth per store/product (units, revenue, stock), produced = accepted + quarantined +
dropped duplicates with every reason accounted for, bronze holds every accepted event exactly once,
and no restock alert was published twice. Two stock counts injected into the run (one finds units
missing, one finds more than recorded) are each exactly one stock anomaly, in rt_anomalies and on the
anomaly alerts topic, and ended by the next sale; no other store/product of the run has one."""

from __future__ import annotations

import dataclasses
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
from retail_platform.simulation.faults import FaultRates, StockCount
from retail_platform.simulation.producer import SimulationConfig, run_simulation
from retail_platform.topics import ANOMALY_ALERTS, RESTOCK_ALERTS
from retail_platform.warehouse.client import connect

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.warehouse, pytest.mark.spark]

FAULTS = "duplicates=0.03,late=0.02,out_of_order=0.02,malformed=0.01,invalid=0.01"
KILLS = 3
# Stock counts injected into the run (store and product indices of the catalogue): 40 units missing
# from store 1's product 4 at 20 s, 40 more than recorded in store 2's product 9 at 35 s (around the
# kills, so their batches are among the replayed ones).
STOCK_COUNTS = (StockCount(1, 4, 40, 20.0), StockCount(2, 9, -40, 35.0))
# The stream's stock tolerance for this run. The late and out-of-order faults deliver some inventory
# events after a newer one of the same store/product, whose level then differs from the one before
# by the late sale line (at most 6 units; two in a row 12), which the default of 5 would flag.
TOLERANCE = 12


def _stream_spec(settings):
    return StreamJob(settings).processes(stack.run_dir(settings))[0]


def _alert_ids(settings, topic: str = RESTOCK_ALERTS.name) -> Counter[str]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(topic, 0)])
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
    settings = dataclasses.replace(
        warehouse,
        anomaly_stock_tolerance=TOLERANCE,
        source={**warehouse.source, "RETAIL_ANOMALY_STOCK_TOLERANCE": str(TOLERANCE)},
    )
    stack.down(settings, ("stream",), log=lambda _: None)  # a stream left running has another tolerance
    stack.up(settings, ("stream",), log=lambda _: None)
    yield settings
    stack.down(settings, ("stream",), log=lambda _: None)


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
        stock_counts=STOCK_COUNTS,
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
            if source == "inventory":
                # Each store/product's first inventory event of the run: it is judged against the level
                # an earlier test of the session left for the same ids, not against this run's.
                firsts = frame.groupBy("store_id", "product_id").agg(
                    F.min(F.struct("event_time", "event_id")).alias("first")
                )
                first_ids = {r["first"]["event_id"] for r in firsts.collect()}
    finally:
        spark.stop()
    assert counts == {source: (events, events) for source, events in expected.items()}
    assert first_ids

    # Stock anomalies: exactly the injected counts, each once, with the units it found, ended by the
    # next movement; none for any other store/product of the run.
    client = connect(settings)
    try:
        rows = client.query(
            "SELECT anomaly_id, status, store_id, product_id, observed - expected, source_event_id "
            "FROM rt_anomalies FINAL WHERE store_id IN %(stores)s AND event_time >= %(start)s",
            parameters={"stores": tuple(truth.store_ids), "start": datetime.fromisoformat(truth.sim_start)},
        ).result_rows
    finally:
        client.close()
    opened = [r for r in rows if r[1] == "open" and r[5] not in first_ids]
    injected = {(truth.store_ids[c.store], truth.product_ids[c.product]): -c.units for c in STOCK_COUNTS}
    assert sorted((store, product, diff) for _, _, store, product, diff, _ in opened) == sorted(
        (store, product, diff) for (store, product), diff in injected.items()
    ), rows
    closed = {r[0] for r in rows if r[1] == "closed"}
    assert all(r[0] in closed for r in opened), "each injected episode ends at the next explained movement"
    published = _alert_ids(settings, ANOMALY_ALERTS.name)
    assert all(published[r[0]] == 1 for r in opened), published
    assert all(n == 1 for n in published.values())

    # Restock alerts: never published twice, even across the kills.
    published = _alert_ids(settings)
    assert all(n == 1 for n in published.values())
