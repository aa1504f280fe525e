"""The smoke scenario: prove every real service of the stack answers, end to end.

Each check leaves a row in `ops_service_checks`, so the demo (and tests) read the evidence back
from the warehouse rather than trusting return values."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from retail_platform.kafka_security import client_options
from retail_platform.settings import REPO_ROOT, Settings
from retail_platform.spark import submit_args, submit_env
from retail_platform.warehouse.client import connect, count

# Outside the event contract on purpose: smoke messages never reach the speed layer.
SMOKE_TOPIC = "retail-platform-smoke"
SMOKE_DAG = "platform_smoke"


@dataclass
class CheckResult:
    component: str
    ok: bool
    detail: str


def record_check(settings: Settings, run_id: str, component: str, detail: str, rows: int) -> None:
    client = connect(settings)
    try:
        insert_check(client, run_id, component, detail, rows)
    finally:
        client.close()


def insert_check(client: Client, run_id: str, component: str, detail: str, rows: int) -> None:
    """One ``ops_service_checks`` row through an open client (of the warehouse's database)."""
    client.insert(
        "ops_service_checks",
        [[datetime.now(timezone.utc), run_id, component, detail, rows]],
        column_names=["checked_at", "run_id", "component", "detail", "rows"],
    )


def recorded_checks(settings: Settings, run_id: str) -> dict[str, int]:
    client = connect(settings)
    try:
        result = client.query(
            "SELECT component, sum(rows) FROM ops_service_checks WHERE run_id = {run:String} GROUP BY component",
            parameters={"run": run_id},
        )
        return {component: int(rows) for component, rows in result.result_rows}
    finally:
        client.close()


def kafka_roundtrip(settings: Settings, run_id: str, messages: int = 100) -> CheckResult:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **client_options(settings))
    try:
        admin.create_topics([NewTopic(SMOKE_TOPIC, 2, 1, topic_configs={"retention.ms": str(86_400_000)})])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    producer = KafkaProducer(
        **client_options(settings),
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        value_serializer=lambda v: json.dumps(v).encode(),
        key_serializer=str.encode,
    )
    partitions = [TopicPartition(SMOKE_TOPIC, p) for p in (0, 1)]
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, **client_options(settings)
    )
    consumer.assign(partitions)
    start = consumer.end_offsets(partitions)
    for tp in partitions:
        consumer.seek(tp, start[tp])
    for i in range(messages):
        producer.send(SMOKE_TOPIC, key=f"store_{i % 7:03d}", value={"run_id": run_id, "seq": i})
    producer.flush()
    producer.close()
    seen: set[int] = set()
    deadline = time.monotonic() + 30
    while len(seen) < messages and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            for record in records:
                value = json.loads(record.value)
                if value["run_id"] == run_id:
                    seen.add(value["seq"])
    consumer.close()
    ok = len(seen) == messages
    record_check(settings, run_id, "kafka", f"produced {messages}, consumed {len(seen)}", len(seen))
    return CheckResult("kafka", ok, f"produced {messages} events to {SMOKE_TOPIC}, consumed {len(seen)} back")


def warehouse_roundtrip(settings: Settings, run_id: str) -> CheckResult:
    record_check(settings, run_id, "warehouse", "insert through clickhouse-connect", 1)
    checks = recorded_checks(settings, run_id)
    ok = checks.get("warehouse") == 1
    return CheckResult("warehouse", ok, f"wrote and read back ops_service_checks rows for run {run_id}: {checks}")


def spark_kafka_job(settings: Settings, run_id: str, expected: int) -> CheckResult:
    spark_submit = settings.venv_bin / "spark-submit"
    result = subprocess.run(
        [
            str(spark_submit),
            *submit_args(settings),
            str(REPO_ROOT / "spark_jobs" / "kafka_smoke.py"),
            "--run-id",
            run_id,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=submit_env(settings),
    )
    if result.returncode != 0:
        return CheckResult("spark", False, f"spark-submit failed:\n{result.stderr[-2000:]}")
    counted = json.loads(result.stdout.strip().splitlines()[-1])
    ok = counted["messages"] == expected
    return CheckResult(
        "spark", ok, f"Spark read {counted['messages']} of {expected} events from {counted['partitions']} partitions"
    )


def airflow_dag(settings: Settings, run_id: str) -> CheckResult:
    from retail_platform.airflow_api import AirflowApi

    api = AirflowApi(settings)
    api.wait_for_dag(SMOKE_DAG)
    api.set_paused(SMOKE_DAG, False)
    dag_run = api.trigger(SMOKE_DAG, conf={"run_id": run_id})
    state = api.wait_for_run(SMOKE_DAG, dag_run)
    recorded = recorded_checks(settings, run_id).get("airflow", 0)
    ok = state == "success" and recorded > 0
    return CheckResult("airflow", ok, f"DAG {SMOKE_DAG} run {dag_run}: {state}; its task wrote {recorded} row(s)")


@dataclass
class SmokeReport:
    run_id: str
    results: list[CheckResult]

    @property
    def failed(self) -> list[str]:
        return [r.component for r in self.results if not r.ok]


def run(settings: Settings, log: Callable[[str], None] = print) -> SmokeReport:
    run_id = f"smoke-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    log(f"smoke run {run_id}")
    results = [warehouse_roundtrip(settings, run_id)]
    log(_line(results[-1]))
    results.append(kafka_roundtrip(settings, run_id))
    log(_line(results[-1]))
    results.append(spark_kafka_job(settings, run_id, expected=100))
    log(_line(results[-1]))
    results.append(airflow_dag(settings, run_id))
    log(_line(results[-1]))
    return SmokeReport(run_id, results)


def _line(result: CheckResult) -> str:
    return f"  {'ok  ' if result.ok else 'FAIL'} {result.component:<10} {result.detail}"


def airflow_task_check(client: Client, kafka: dict[str, Any], run_id: str) -> dict[str, int]:
    """What the platform_smoke DAG's task does inside an Airflow worker, with the clients of its
    connections: the warehouse hook's ``client`` and the Kafka connection's kafka-python options."""
    admin = KafkaAdminClient(**kafka)
    try:
        topics = len(admin.list_topics())
    finally:
        admin.close()
    tables = count(client, "SELECT count() FROM system.tables WHERE database = currentDatabase()")
    insert_check(client, run_id, "airflow", f"worker sees {topics} topics and {tables} warehouse tables", 1)
    return {"kafka_topics": topics, "warehouse_tables": tables}
