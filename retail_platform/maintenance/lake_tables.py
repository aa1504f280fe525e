"""Lake maintenance with Spark: retention, OPTIMIZE and VACUUM of every Delta table found.

Per table, in this order:
1. retention (bronze, quarantine; silver only when asked): ``DELETE`` of the days before the cut-off.
   The predicate references only the partition columns, so Delta drops whole files from its log and
   rewrites nothing; the files stay on storage for time travel until VACUUM removes them.
2. OPTIMIZE: bin-packing compaction of small files (the stream writes one file per day per
   micro-batch). It rewrites files without changing a row, in a commit that concurrent blind appends
   (the stream) do not conflict with. Optionally only the recent days (``optimize_recent_days``):
   older days were compacted on earlier nights and receive only the odd late event.
3. VACUUM: physically deletes the files no snapshot within ``vacuum_retention_hours`` references
   (the ones compaction and retention replaced, after the window). Below Delta's 7-day minimum only
   when configured so explicitly: a shorter window can delete files a running reader still needs.
   LITE on most nights (the removed files are taken from the log, no listing of storage), FULL once
   a week (lists storage, so it also finds files orphaned by failed writes).

A failing action is recorded with status ``error`` and the run goes on with the next table; the job
then fails as a whole so Airflow retries it and the failure callback records it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from retail_platform.maintenance import retention
from retail_platform.maintenance.config import DELTA_MIN_VACUUM_HOURS, MaintenanceConfig
from retail_platform.maintenance.discovery import LakeTable, ListDir, find_delta_tables, lister_for
from retail_platform.maintenance.records import ActionRecord

log = logging.getLogger(__name__)

DAY_COLUMNS = ["year", "month", "day"]


@dataclass
class Snapshot:
    """Files and bytes of a table's current snapshot, kept up to date from each operation's metrics.

    Reading them again from the table (DESCRIBE DETAIL) after every commit would rebuild the
    snapshot's state each time, a Spark job that costs far more than the operation on a small table.
    """

    files: int
    bytes: int
    partition_columns: list[str]

    @classmethod
    def read(cls, table: Any) -> Snapshot:
        detail = table.detail().select("numFiles", "sizeInBytes", "partitionColumns").first()
        return cls(
            int(detail["numFiles"] or 0), int(detail["sizeInBytes"] or 0), list(detail["partitionColumns"] or [])
        )

    def apply(self, added: int, removed: int, added_bytes: int, removed_bytes: int) -> None:
        self.files += added - removed
        self.bytes += added_bytes - removed_bytes


def _version(table: Any) -> int:
    return int(table.history(1).select("version").first()["version"])


def _metrics_since(table: Any, operation: str, version: int) -> dict[str, str]:
    """operationMetrics of the first ``operation`` commit after ``version`` (concurrent writers such
    as the stream may have committed around it), or {} if there is none."""
    rows = table.history(20).select("version", "operation", "operationMetrics").collect()
    for row in sorted(rows, key=lambda r: r["version"]):
        if row["version"] > version and row["operation"] == operation:
            return dict(row["operationMetrics"] or {})
    return {}


def _int(metrics: dict[str, str], key: str) -> int:
    return int(metrics.get(key) or 0)


def apply_retention(
    table: Any, snapshot: Snapshot, lake_table: LakeTable, config: MaintenanceConfig, run_id: str, today: date
) -> ActionRecord | None:
    """Delete the days of ``lake_table`` before its kind's cut-off; None when it has no window."""
    days = config.retention_days(lake_table.kind)
    if days is None:
        return None
    record = ActionRecord(run_id, "lake", lake_table.path, "retention")
    record.files_before = record.files_after = snapshot.files
    record.bytes_before = record.bytes_after = snapshot.bytes
    if snapshot.partition_columns != DAY_COLUMNS:
        detail = f"not partitioned by day ({snapshot.partition_columns}); retention {days} days"
        return record.finish("skipped", detail)
    record.cutoff = retention.cutoff_day(today, days)
    expired = retention.days_before(table.toDF().inputFiles(), record.cutoff)
    if expired:
        version = _version(table)
        table.delete(retention.day_predicate_before(record.cutoff))
        m = _metrics_since(table, "DELETE", version)
        snapshot.apply(
            _int(m, "numAddedFiles"), _int(m, "numRemovedFiles"), _int(m, "numAddedBytes"), _int(m, "numRemovedBytes")
        )
        record.files_after, record.bytes_after = snapshot.files, snapshot.bytes
        record.partitions_dropped = [retention.partition_name(d) for d in expired]
    return record.finish("ok", f"retention {days} days")


def optimize(
    table: Any, snapshot: Snapshot, lake_table: LakeTable, config: MaintenanceConfig, run_id: str, today: date
) -> ActionRecord:
    """Compact the table's small files (all days, or the recent ones)."""
    record = ActionRecord(run_id, "lake", lake_table.path, "optimize")
    record.files_before, record.bytes_before = snapshot.files, snapshot.bytes
    builder = table.optimize()
    scope = "all days"
    if config.optimize_recent_days is not None and snapshot.partition_columns == DAY_COLUMNS:
        first = today - timedelta(days=config.optimize_recent_days)
        builder = builder.where(retention.day_predicate_since(first))
        scope = f"days since {first.isoformat()}"
    # One row of metrics per OPTIMIZE (also when there was nothing to compact: all zero, no commit).
    m = builder.executeCompaction().select("metrics").first()["metrics"]
    snapshot.apply(
        int(m["numFilesAdded"]),
        int(m["numFilesRemoved"]),
        int(m["filesAdded"]["totalSize"]),
        int(m["filesRemoved"]["totalSize"]),
    )
    record.files_after, record.bytes_after = snapshot.files, snapshot.bytes
    return record.finish("ok", f"compaction of {scope}")


def vacuum_mode(config: MaintenanceConfig, today: date) -> str:
    """LITE (files the log says were removed: no storage listing) on most nights; FULL, which also
    finds orphans of failed writes by listing storage, on the configured weekday."""
    return "FULL" if today.weekday() == config.vacuum_full_weekday else "LITE"


def vacuum(
    spark: Any,
    table: Any,
    snapshot: Snapshot,
    lake_table: LakeTable,
    config: MaintenanceConfig,
    run_id: str,
    today: date,
) -> ActionRecord:
    """Delete unreferenced files older than the retention window."""
    record = ActionRecord(run_id, "lake", lake_table.path, "vacuum")
    record.files_before = record.files_after = snapshot.files
    record.bytes_before = record.bytes_after = snapshot.bytes
    hours = config.vacuum_retention_hours
    # VACUUM START/END commits carry the metrics (files deleted); off by default on some storages.
    spark.conf.set("spark.databricks.delta.vacuum.logging.enabled", "true")
    short = hours < DELTA_MIN_VACUUM_HOURS
    if short:
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    mode = vacuum_mode(config, today)
    version = _version(table)
    path = lake_table.uri.replace("`", "``")
    try:
        try:
            spark.sql(f"VACUUM delta.`{path}` {mode} RETAIN {hours} HOURS").collect()
        except Exception as error:
            # LITE refuses when the log no longer covers every eligible file (log retention): FULL does.
            if mode != "LITE":
                raise
            log.warning("VACUUM LITE of %s refused (%s); running FULL", lake_table.path, str(error)[:200])
            mode = "FULL"
            spark.sql(f"VACUUM delta.`{path}` FULL RETAIN {hours} HOURS").collect()
    finally:
        if short:
            spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "true")
    record.files_removed = _int(_metrics_since(table, "VACUUM END", version), "numDeletedFiles")
    return record.finish("ok", f"{mode} retention {hours} hours")


def maintain_table(
    spark: Any, lake_table: LakeTable, config: MaintenanceConfig, run_id: str, today: date
) -> list[ActionRecord]:
    """Retention, OPTIMIZE, VACUUM of one table; an action that fails is recorded and ends the table's
    maintenance for this run (the next actions would work on a state nobody checked)."""
    from delta.tables import DeltaTable

    records: list[ActionRecord] = []
    state: dict[str, Any] = {}

    def open_table() -> None:
        state["table"] = DeltaTable.forPath(spark, lake_table.uri)
        state["snapshot"] = Snapshot.read(state["table"])

    def args() -> tuple[Any, Snapshot, LakeTable, MaintenanceConfig, str]:
        return state["table"], state["snapshot"], lake_table, config, run_id

    steps = (
        ("open", open_table),
        ("retention", lambda: apply_retention(*args(), today)),
        ("optimize", lambda: optimize(*args(), today)),
        ("vacuum", lambda: vacuum(spark, *args(), today)),
    )
    for action, step in steps:
        started = datetime.now(timezone.utc)
        try:
            record = step()
        except Exception as error:  # recorded, then the job fails at the end
            log.exception("%s of %s failed", action, lake_table.path)
            records.append(
                ActionRecord(run_id, "lake", lake_table.path, action, started_at=started).finish(
                    "error", f"{type(error).__name__}: {str(error)[:2000]}"
                )
            )
            break
        if record is not None:
            log.info("%s %s: %s", lake_table.path, action, record.detail)
            records.append(record)
    return records


def maintain_lake(
    spark: Any,
    root: str,
    config: MaintenanceConfig,
    run_id: str,
    today: date | None = None,
    list_dir: ListDir | None = None,
) -> list[ActionRecord]:
    """Maintain every Delta table under the configured zones of the lake at ``root``."""
    day = today or datetime.now(timezone.utc).date()
    tables = find_delta_tables(root, config.zones, list_dir or lister_for(root, spark))
    log.info("maintaining %d lake tables: %s", len(tables), [t.path for t in tables])
    records: list[ActionRecord] = []
    for lake_table in tables:
        records.extend(maintain_table(spark, lake_table, config, run_id, day))
    return records
