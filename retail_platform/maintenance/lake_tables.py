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

A failing action is recorded with status ``error`` and the run goes on with the next table; the job
then fails as a whole so Airflow retries it and the failure callback records it.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any

from retail_platform.maintenance import retention
from retail_platform.maintenance.config import DELTA_MIN_VACUUM_HOURS, MaintenanceConfig
from retail_platform.maintenance.discovery import LakeTable, ListDir, find_delta_tables, lister_for
from retail_platform.maintenance.records import ActionRecord

log = logging.getLogger(__name__)

DAY_COLUMNS = ["year", "month", "day"]


def _snapshot(table: Any) -> tuple[int, int, list[str]]:
    """(data files, bytes, partition columns) of the table's current snapshot, from its log."""
    detail = table.detail().select("numFiles", "sizeInBytes", "partitionColumns").first()
    return int(detail["numFiles"] or 0), int(detail["sizeInBytes"] or 0), list(detail["partitionColumns"] or [])


def _last_metrics(table: Any, operation: str) -> dict[str, str]:
    """operationMetrics of the newest commit of ``operation`` (e.g. "VACUUM END"), or {}."""
    for row in table.history(5).select("operation", "operationMetrics").collect():
        if row["operation"] == operation:
            return dict(row["operationMetrics"] or {})
    return {}


def apply_retention(
    spark: Any, lake_table: LakeTable, config: MaintenanceConfig, run_id: str, today: date
) -> ActionRecord | None:
    """Delete the days of ``lake_table`` before its kind's cut-off; None when it has no window."""
    from delta.tables import DeltaTable

    days = config.retention_days(lake_table.kind)
    if days is None:
        return None
    record = ActionRecord(run_id, "lake", lake_table.path, "retention")
    table = DeltaTable.forPath(spark, lake_table.uri)
    record.files_before, record.bytes_before, partition_columns = _snapshot(table)
    record.files_after, record.bytes_after = record.files_before, record.bytes_before
    if partition_columns != DAY_COLUMNS:
        return record.finish("skipped", f"not partitioned by day ({partition_columns}); retention {days} days")
    record.cutoff = retention.cutoff_day(today, days)
    expired = retention.days_before(table.toDF().inputFiles(), record.cutoff)
    if expired:
        table.delete(retention.day_predicate_before(record.cutoff))
        record.files_after, record.bytes_after, _ = _snapshot(table)
        record.partitions_dropped = [retention.partition_name(d) for d in expired]
    return record.finish("ok", f"retention {days} days")


def optimize(spark: Any, lake_table: LakeTable, config: MaintenanceConfig, run_id: str, today: date) -> ActionRecord:
    """Compact the table's small files (all days, or the recent ones)."""
    from delta.tables import DeltaTable

    record = ActionRecord(run_id, "lake", lake_table.path, "optimize")
    table = DeltaTable.forPath(spark, lake_table.uri)
    record.files_before, record.bytes_before, partition_columns = _snapshot(table)
    builder = table.optimize()
    scope = "all days"
    if config.optimize_recent_days is not None and partition_columns == DAY_COLUMNS:
        first = today - timedelta(days=config.optimize_recent_days)
        builder = builder.where(retention.day_predicate_since(first))
        scope = f"days since {first.isoformat()}"
    builder.executeCompaction()
    record.files_after, record.bytes_after, _ = _snapshot(table)
    return record.finish("ok", f"compaction of {scope}")


def vacuum(spark: Any, lake_table: LakeTable, config: MaintenanceConfig, run_id: str) -> ActionRecord:
    """Delete unreferenced files older than the retention window."""
    from delta.tables import DeltaTable

    record = ActionRecord(run_id, "lake", lake_table.path, "vacuum")
    table = DeltaTable.forPath(spark, lake_table.uri)
    record.files_before, record.bytes_before, _ = _snapshot(table)
    hours = config.vacuum_retention_hours
    # VACUUM START/END commits carry the metrics (files deleted); off by default on some storages.
    spark.conf.set("spark.databricks.delta.vacuum.logging.enabled", "true")
    short = hours < DELTA_MIN_VACUUM_HOURS
    if short:
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        table.vacuum(float(hours))
    finally:
        if short:
            spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "true")
    record.files_removed = int(_last_metrics(table, "VACUUM END").get("numDeletedFiles", 0))
    record.files_after, record.bytes_after, _ = _snapshot(table)
    return record.finish("ok", f"retention {hours} hours")


def maintain_table(
    spark: Any, lake_table: LakeTable, config: MaintenanceConfig, run_id: str, today: date
) -> list[ActionRecord]:
    """Retention, OPTIMIZE, VACUUM of one table; an action that fails is recorded and ends the table's
    maintenance for this run (the next actions would work on a state nobody checked)."""
    records: list[ActionRecord] = []
    steps = (
        ("retention", lambda: apply_retention(spark, lake_table, config, run_id, today)),
        ("optimize", lambda: optimize(spark, lake_table, config, run_id, today)),
        ("vacuum", lambda: vacuum(spark, lake_table, config, run_id)),
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
