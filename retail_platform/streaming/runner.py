"""Running the streaming query: Spark session settings, the foreachBatch handler, start and stop.

The handler needs the query's id (part of every deduplication token and of Delta's txnAppId); Spark
keeps it in the checkpoint, so it is the same after a restart. It is known only once ``start()``
returns, while the first batch may already be running, so the handler waits for it.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from datetime import datetime, timezone
from types import FrameType
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from retail_platform.settings import Settings
from retail_platform.streaming import batch as batch_mod
from retail_platform.streaming import offset_log, topology
from retail_platform.streaming.anomalies import AnomalyConfig
from retail_platform.streaming.bronze import BoundBronze, DeltaBronze
from retail_platform.streaming.config import StreamConfig
from retail_platform.streaming.late_duplicates import Band
from retail_platform.streaming.outbox import KafkaOutbox
from retail_platform.streaming.sink import Warehouse
from retail_platform.streaming.velocity import VelocityConfig

log = logging.getLogger("stream_events")


def spark_conf(config: StreamConfig) -> dict[str, str]:
    """Session settings for a long-running query on two cores."""
    return {
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        "spark.ui.enabled": "false",
        # RocksDB keeps the dedup state off the JVM heap and checkpoints only changes (changelog),
        # instead of HDFSBackedStateStore's whole in-memory map of every recent version.
        "spark.sql.streaming.stateStore.providerClass": (
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
        ),
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        # Offset/commit logs and state versions kept for recovery; the default (100) is more than a
        # replay of the last batch needs and means thousands of small files in the lake.
        "spark.sql.streaming.minBatchesToRetain": "20",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Delta rebuilds the table state to look up txnAppId/txnVersion on every append, with a
        # shuffle of 50 partitions by default: ~9 s per append on two cores, ~1.5 s with two.
        "spark.databricks.delta.snapshotPartitions": str(config.shuffle_partitions),
        # A commit's statistics need the new snapshot's full state (another job per append); the
        # stream never reads them. Measured on a bronze copy: 1.7 s -> 1.3 s per append.
        "spark.databricks.delta.commitStats.collect": "false",
    }


STATE_METRICS = (
    "numRowsTotal",
    "numRowsUpdated",
    "numRowsRemoved",
    "numRowsDroppedByWatermark",
    "allUpdatesTimeMs",
    "allRemovalsTimeMs",
    "commitTimeMs",
    "memoryUsedBytes",
)


def progress_summary(progress: dict[str, Any]) -> dict[str, Any]:
    """What the log keeps of a trigger's progress report: where the trigger's time went (``addBatch``
    is the foreachBatch handler; the rest is Spark's own: offsets, planning, the write-ahead log) and
    the deduplication state (rows held, evicted, and the time eviction and the state commit took)."""
    return {
        "batch_id": progress.get("batchId"),
        "input_rows": progress.get("numInputRows"),
        "duration_ms": dict(progress.get("durationMs") or {}),
        "state": [
            {k: operator.get(k) for k in STATE_METRICS if k in operator}
            for operator in progress.get("stateOperators") or []
        ],
    }


def _now() -> datetime:
    return datetime.now(timezone.utc)


class StreamRunner:
    def __init__(self, spark: SparkSession, settings: Settings, config: StreamConfig) -> None:
        self.spark = spark
        self.settings = settings
        self.config = config
        self._query_id: str | None = None
        self._query_id_known = threading.Event()
        self._stop_requested = threading.Event()
        self._warehouse: Warehouse | None = None
        self._outbox: KafkaOutbox | None = None
        self.query: StreamingQuery | None = None

    # ---- per batch ------------------------------------------------------------------------------

    def _sinks(self, query_id: str) -> tuple[Warehouse, KafkaOutbox]:
        if self._warehouse is None or self._outbox is None:
            from retail_platform.warehouse.client import connect

            self._warehouse = Warehouse(connect(self.settings), query_id)
            self._outbox = KafkaOutbox.connect(self.settings.kafka_bootstrap, self._warehouse)
        return self._warehouse, self._outbox

    def handle_batch(self, df: DataFrame, batch_id: int) -> None:
        started = _now()
        if not self._query_id_known.wait(timeout=120):
            raise RuntimeError("the streaming query did not report its id")
        query_id = self._query_id or ""
        timings: dict[str, float] = {}
        df.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            clock = time.perf_counter()
            collected = topology.collect(df, batch_id)
            timings["collect"] = round(time.perf_counter() - clock, 3)
            if collected.stats.input_total == 0:
                return  # a no-data batch (Spark advancing the watermark): nothing consumed, nothing to record
            collected.stats.covered = offset_log.read(self.spark, self.config.checkpoint, batch_id)
            warehouse, outbox = self._sinks(query_id)
            bronze = BoundBronze(
                DeltaBronze(self.settings, f"{self.config.query_name}:{query_id}"),
                df,
                batch_id,
                collected.stats.accepted_by_type,
            )
            row = batch_mod.process(
                collected,
                query_name=self.config.query_name,
                query_id=query_id,
                warehouse=warehouse,
                publisher=outbox,
                bronze=bronze,
                started_at=started,
                timings=timings,
                band=Band(self.config.dedup_window),
                anomaly_config=AnomalyConfig(stock_tolerance=self.settings.anomaly_stock_tolerance),
                velocity_config=VelocityConfig(
                    window_seconds=self.settings.anomaly_velocity_window_seconds,
                    factor=self.settings.anomaly_velocity_factor,
                    min_units=self.settings.anomaly_velocity_min_units,
                ),
            )
        finally:
            df.unpersist()
        summary = dict(batch_mod.summary(row))
        seconds = max(summary["duration_ms"], 1) / 1000
        summary["events_per_second"] = round(summary["input_total"] / seconds, 1)
        summary["step_seconds"] = timings
        log.info("batch %s", json.dumps(summary, default=str, sort_keys=True))

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> StreamingQuery:
        stream = topology.build(self.spark, self.settings, self.config)
        writer = (
            stream.writeStream.queryName(self.config.query_name)
            .foreachBatch(self.handle_batch)
            .option("checkpointLocation", self.config.checkpoint)
        )
        if self.config.available_now:
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=self.config.trigger_interval)
        query: StreamingQuery = writer.start()
        self.query = query
        self._query_id = str(query.id)
        self._query_id_known.set()
        log.info(
            "started query %s (id %s, run %s) checkpoint %s",
            self.config.query_name,
            self._query_id,
            query.runId,
            self.config.checkpoint,
        )
        return query

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the current batch", signum)
        self._stop_requested.set()

    def log_progress(self, query: StreamingQuery, after: int) -> int:
        """Log the triggers that reported progress since batch ``after``; returns the newest batch id."""
        for progress in query.recentProgress:
            report = json.loads(progress.json) if hasattr(progress, "json") else dict(progress)
            batch_id = int(report.get("batchId", -1))
            if batch_id > after:
                log.info("progress %s", json.dumps(progress_summary(report), sort_keys=True))
                after = batch_id
        return after

    def run(self) -> int:
        """Start and wait until the query ends (available-now), fails, or SIGTERM/SIGINT arrives."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        query = self.start()
        logged = -1
        try:
            while not self._stop_requested.is_set():
                # Short waits so the signal handler runs promptly (it runs between Python bytecodes).
                try:
                    if query.awaitTermination(2):
                        break
                except Exception:  # StreamingQueryException: reported below
                    break
                try:
                    logged = self.log_progress(query, logged)
                except Exception as exc:  # a progress report is diagnostics: never stop the stream for it
                    log.warning("progress report unavailable: %s", exc)
            if self._stop_requested.is_set() and query.isActive:
                # Stopping interrupts a running batch; that is safe, its replay is exact.
                query.stop()
            exception = query.exception()
            if exception is not None:
                log.error("query failed: %s", exception)
                return 1
            return 0
        finally:
            self.close()

    def close(self) -> None:
        if self._outbox is not None:
            self._outbox.close()
        if self._warehouse is not None:
            self._warehouse.client.close()
