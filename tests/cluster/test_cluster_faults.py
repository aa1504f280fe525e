"""The demo's faulted simulation on the cluster profile, reconciled exactly as on the local profile,
while a node of the cluster is killed (SIGKILL) and brought back: a Kafka broker (topics at three
replicas, two in sync for a write, producers with acks=all and idempotence) or the Spark worker running
the stream's executor. Nothing may be lost or counted twice; the node rejoins.

Runs on the cluster profile's own stack (``make test-cluster``: RETAIL_PROFILE=cluster, state in
.state/cluster-test), started here if it is down and left running."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient

from retail_platform import reconcile
from retail_platform.demo import demo_config
from retail_platform.kafka_security import client_options
from retail_platform.retry import poll
from retail_platform.runtime import process, stack
from retail_platform.runtime.kafka_broker import KafkaBroker
from retail_platform.runtime.spark_cluster import SparkCluster
from retail_platform.settings import Settings, get_settings
from retail_platform.simulation.producer import run_simulation
from retail_platform.topics import ALL_TOPICS

pytestmark = pytest.mark.cluster

SIMULATED_SECONDS = 75.0
KILL_AFTER_S = 20.0
DOWN_FOR_S = 20.0


@pytest.fixture(scope="module")
def settings() -> Iterator[Settings]:
    s = get_settings()
    if s.profile != "cluster":
        pytest.fail("run the cluster tests with RETAIL_PROFILE=cluster (`make test-cluster`)")
    stack.up(s, ("stream",))
    yield s


def _kill(spec: process.ProcessSpec) -> None:
    pid = process.running_pid(spec)
    assert pid is not None, f"{spec.name} is not running"
    # The whole process group, as a lost machine would: a worker's executors die with it.
    os.killpg(pid, signal.SIGKILL)
    poll(lambda: process.running_pid(spec), lambda running: running is None, timeout=30, interval=0.2)


def _faulted_run(
    settings: Settings, fault: Callable[[], None], recover: Callable[[], None], record: dict[str, Any]
) -> None:
    """The demo's simulation with ``fault`` after KILL_AFTER_S and ``recover`` DOWN_FOR_S later; the
    stream's figures must equal the simulator's ground truth."""
    before = reconcile.snapshot(settings)
    config = demo_config(settings, SIMULATED_SECONDS, stores=20, products=50, rate=300.0)
    result: dict[str, object] = {}

    def simulate() -> None:
        try:
            result["truth"] = run_simulation(settings, config)
        except BaseException as exc:  # reported by the assertion below
            result["error"] = exc

    sim = threading.Thread(target=simulate, name="simulator")
    sim.start()
    time.sleep(KILL_AFTER_S)
    fault()
    time.sleep(DOWN_FOR_S)
    recover()
    sim.join(timeout=SIMULATED_SECONDS * 4)
    assert not sim.is_alive(), "the simulation did not finish"
    assert "error" not in result, f"the simulator failed: {result.get('error')!r}"
    truth = result["truth"]
    after = reconcile.wait_for_catch_up(settings, before, truth, timeout=600)  # type: ignore[arg-type]
    outcome = reconcile.reconcile(before, after, truth)  # type: ignore[arg-type]
    record["reconciliation"] = {
        what: {"warehouse": got, "truth": want, "ok": ok} for what, got, want, ok in outcome.lines
    }
    assert outcome.ok, "\n" + outcome.render()


def _bronze_stream_rows(settings: Settings) -> tuple[int, int]:
    """(rows the stream appended to bronze, distinct Kafka records among them) over every event type."""
    from retail_platform.spark import job_session
    from retail_platform.streaming.bronze import SOURCES, table_path

    spark = job_session("cluster_test_bronze", settings)
    rows = distinct = 0
    for event_type in SOURCES:
        if event_type == "restock_alert":  # the stream's own alerts, not consumed records
            continue
        try:
            frame = spark.read.format("delta").load(table_path(settings, event_type))
        except Exception as exc:  # a table the run never wrote
            if any(
                marker in str(exc) for marker in ("PATH_NOT_FOUND", "DELTA_MISSING_DELTA_TABLE", "not a Delta table")
            ):
                continue
            raise
        streamed = frame.where("kafka_topic IS NOT NULL")
        rows += streamed.count()
        distinct += streamed.select("kafka_topic", "kafka_partition", "kafka_offset").distinct().count()
    return rows, distinct


def _replicas_in_sync(settings: Settings) -> dict[str, int]:
    """The smallest in-sync replica count of each platform topic's partitions."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **client_options(settings))
    try:
        described = admin.describe_topics([t.name for t in ALL_TOPICS])
    finally:
        admin.close()
    return {d["name"]: min(len(p["isr_nodes"]) for p in d["partitions"]) for d in described}


def test_a_killed_broker_loses_and_duplicates_nothing_and_rejoins(settings: Settings, record: dict[str, Any]) -> None:
    broker = KafkaBroker(settings)
    specs = broker.processes(stack.run_dir(settings))
    assert len(specs) == 3 and settings.kafka_replication_factor == 3 and settings.kafka_min_insync_replicas == 2
    victim = specs[0]
    record["killed"] = victim.name

    def recover() -> None:
        record["in_sync_while_down"] = _replicas_in_sync(settings)
        stack.up(settings, ("kafka",))  # starts the missing node only

    _faulted_run(settings, lambda: _kill(victim), recover, record)
    # The broker caught up: every partition has its three replicas in sync again.
    caught_up = poll(lambda: _replicas_in_sync(settings), lambda isr: min(isr.values()) == 3, timeout=120, interval=2)
    record["in_sync_after"] = caught_up
    assert min(caught_up.values()) == 3, caught_up
    # While it was down, the partitions it held had shrunk to the two others (the kill was real).
    assert min(record["in_sync_while_down"].values()) == 2, record["in_sync_while_down"]


def test_a_restarted_object_store_loses_and_duplicates_nothing_in_the_lake(
    settings: Settings, record: dict[str, Any]
) -> None:
    """The S3 gateway killed while the stream appends bronze every batch: the batch fails and the
    stream with it (Spark stops a query whose batch raised); `up` brings both back and the stream
    replays the batch from its checkpoint on S3. Delta's transaction ids make the replayed appends
    exactly-once: every record the stream accepted is in bronze once."""
    from retail_platform.runtime.object_store import ObjectStore

    (victim,) = ObjectStore(settings).processes(stack.run_dir(settings))
    record["killed"] = victim.name

    def recover() -> None:
        stack.up(settings, ("stream",))  # the gateway, then the stream if it stopped

    _faulted_run(settings, lambda: _kill(victim), recover, record)
    after = reconcile.snapshot(settings)
    rows, distinct = _bronze_stream_rows(settings)
    record["bronze"] = {"stream_rows": rows, "distinct_records": distinct, "accepted_by_the_stream": after.accepted}
    assert rows == distinct, f"{rows - distinct} records appended to bronze more than once"
    assert rows == after.accepted, f"bronze holds {rows} streamed rows, the stream accepted {after.accepted}"


def test_a_killed_spark_worker_loses_and_duplicates_nothing(settings: Settings, record: dict[str, Any]) -> None:
    cluster = SparkCluster(settings)
    specs = {spec.name: spec for spec in cluster.processes(stack.run_dir(settings))}
    state = cluster.master_state()
    app = next(a for a in state["activeapps"] if a["name"] == "stream_events")
    # The worker the stream's executor runs on (the stream holds one core, RETAIL_SPARK_CORES_MAX).
    busy = [w for w in state["workers"] if w["state"] == "ALIVE" and w["coresused"] > 0]
    assert app["cores"] >= 1 and busy, state
    port = int(busy[0]["webuiaddress"].rsplit(":", 1)[1])
    index = port - cluster.worker_ui_port(0)
    victim = specs[f"spark-worker-{index + 1}"]
    record["killed"] = victim.name

    def recover() -> None:
        stack.up(settings, ("spark",))
        alive = poll(
            cluster.master_state,
            lambda s: len([w for w in s["workers"] if w["state"] == "ALIVE"]) >= settings.spark_workers,
            timeout=60,
            interval=1,
        )
        assert len([w for w in alive["workers"] if w["state"] == "ALIVE"]) >= settings.spark_workers, alive

    _faulted_run(settings, lambda: _kill(victim), recover, record)
    # The stream kept running on the other worker and came back to its core count.
    apps = [a for a in cluster.master_state()["activeapps"] if a["name"] == "stream_events"]
    assert len(apps) == 1 and apps[0]["cores"] >= 1
