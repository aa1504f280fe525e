"""The speed layer's streaming job as a managed process of the local stack.

Healthy means: the process runs and it has either recorded a micro-batch since it started (Spark
needs 10-30 s on two cores before the first one) or has nothing to catch up on. Its progress (last
batch, rates, lag per partition) is read from ops_stream_batches and Kafka's end offsets: the same
numbers the demo reconciles."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from retail_platform.kafka_security import client_options
from retail_platform.runtime import process
from retail_platform.runtime.process import ProcessSpec
from retail_platform.settings import REPO_ROOT, Settings
from retail_platform.spark import submit_env
from retail_platform.streaming.config import QUERY_NAME
from retail_platform.topics import INVENTORY, PRICES, PURCHASE_ORDERS, SALES
from retail_platform.warehouse.client import connect

SOURCE_TOPICS = (SALES, INVENTORY, PRICES, PURCHASE_ORDERS)


@dataclass
class StreamProgress:
    batches: int
    last_batch_at: datetime | None
    last_batch_ms: int
    consumed: int
    accepted: int
    quarantined: int
    duplicates_dropped: int
    events_per_s: float  # over the last minute of batches
    lag: dict[str, int]  # "topic:partition" -> messages not yet consumed

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())


class StreamJob:
    name = "stream"
    needs: tuple[str, ...] = ("warehouse", "kafka")

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        # On a standalone cluster the stream's executors run on its workers; an S3 lake on this machine
        # must be up before the stream writes its checkpoints and bronze there.
        self.needs = (
            "warehouse",
            "kafka",
            *(("s3",) if settings.s3_local else ()),
            *(("spark",) if settings.spark_standalone else ()),
        )

    def ports(self) -> list[int]:
        return []

    def prepare(self) -> None:
        pass

    def processes(self, run_dir: Path) -> list[ProcessSpec]:
        env = {**submit_env(self.s), **self.s.source, "PYTHONPATH": str(REPO_ROOT)}
        argv = [sys.executable, "-m", "spark_jobs.stream_events"]
        return [ProcessSpec("stream", argv, run_dir, env=env, cwd=REPO_ROOT, stop_timeout=60)]

    def _started_at(self) -> datetime | None:
        spec = self.processes(self.s.state_dir / "run")[0]
        if process.running_pid(spec) is None:
            return None
        return datetime.fromtimestamp(os.stat(spec.pid_file).st_mtime, timezone.utc)

    def healthy(self) -> bool:
        # Spark runs no micro-batch while the topics hold nothing new, so "healthy" is: running, and
        # either caught up or with a batch committed since this process started.
        started = self._started_at()
        if started is None:
            return False
        progress = read_progress(self.s)
        if progress.last_batch_at is not None and progress.last_batch_at >= started:
            return True
        return progress.total_lag == 0 and self._query_started()

    def _query_started(self) -> bool:
        """The job logs "started query" once its streaming query runs; look after the last start."""
        spec = self.processes(self.s.state_dir / "run")[0]
        try:
            log = spec.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return False
        return "started query" in log.rsplit("=== ", 1)[-1]

    def after_start(self) -> None:
        pass

    def describe(self) -> str:
        try:
            p = read_progress(self.s)
        except Exception as exc:  # the warehouse or Kafka is down: say so instead of failing status
            return f"streaming job (progress unavailable: {exc.__class__.__name__})"
        last = p.last_batch_at.strftime("%H:%M:%S") if p.last_batch_at else "never"
        return (
            f"streaming job: {p.batches} batches, last at {last} UTC ({p.last_batch_ms} ms), "
            f"{p.events_per_s:.0f} events/s, lag {p.total_lag}"
        )


def read_progress(settings: Settings, query_name: str = QUERY_NAME) -> StreamProgress:
    client = connect(settings)
    try:
        row = client.query(
            """
            SELECT count(), max(finished_at), argMax(duration_ms, finished_at), sum(input_total), sum(accepted),
                   sum(quarantined), sum(duplicates_dropped),
                   sumIf(input_total, finished_at > now64(3) - INTERVAL 60 SECOND)
            FROM ops_stream_batches FINAL WHERE query_name = {q:String}
            """,
            parameters={"q": query_name},
        ).result_rows[0]
        offsets = client.query(
            """
            SELECT key, max(value) FROM ops_stream_batches FINAL ARRAY JOIN mapKeys(max_offsets) AS key,
                   mapValues(max_offsets) AS value
            WHERE query_name = {q:String} GROUP BY key
            """,
            parameters={"q": query_name},
        ).result_rows
    finally:
        client.close()
    consumed_to = {key: int(value) for key, value in offsets}
    batches = int(row[0])
    last = row[1] if batches else None
    return StreamProgress(
        batches=batches,
        last_batch_at=last.replace(tzinfo=timezone.utc) if last is not None and last.tzinfo is None else last,
        last_batch_ms=int(row[2] or 0),
        consumed=int(row[3]),
        accepted=int(row[4]),
        quarantined=int(row[5]),
        duplicates_dropped=int(row[6]),
        events_per_s=int(row[7]) / 60.0,
        lag=kafka_lag(settings, consumed_to),
    )


def kafka_lag(settings: Settings, consumed_to: dict[str, int]) -> dict[str, int]:
    """Messages in each source partition beyond the highest offset the stream has consumed."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, **client_options(settings)
    )
    try:
        partitions = [TopicPartition(t.name, p) for t in SOURCE_TOPICS for p in range(t.partitions)]
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    # The end offset is the next offset to be written; consumed_to holds the last offset read.
    return {
        f"{tp.topic}:{tp.partition}": max(0, end - (consumed_to.get(f"{tp.topic}:{tp.partition}", -1) + 1))
        for tp, end in ends.items()
    }
