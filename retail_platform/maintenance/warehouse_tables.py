"""Warehouse maintenance with ClickHouse SQL: forced merges of recent partitions and partition retention.

- ``OPTIMIZE TABLE t PARTITION ID 'p' FINAL`` on the recent partitions of the ReplacingMergeTree
  tables (facts, rt_stock): merges each partition to one part, so duplicates are gone and ``FINAL``
  reads have nothing left to merge. ``optimize_skip_merged_partitions`` skips a partition that is
  already one merged part, so a quiet night costs almost nothing. Old months are left alone: their
  parts were merged when they were recent, and a forced merge rewrites the whole partition.
- Retention for tables without a TTL (rt_quarantine, rt_restock_alerts, dq_results, ops_stream_days):
  ``ALTER TABLE ... DROP PARTITION ID`` for each month wholly before the cut-off; dropping whole
  partitions is a metadata operation, unlike a ``DELETE`` that rewrites parts.
- rt_restock_state and rt_anomaly_state: superseded state rows no replay reads are deleted; and a guard fails the run
  when an unclosed day's real-time rows near rt_sales_5min's TTL (``realtime_tables``).

Parts and bytes come from ``system.parts`` (active parts), the warehouse's equivalent of the lake's
files, before and after each action.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any

from retail_platform.maintenance import realtime_tables as realtime
from retail_platform.maintenance import retention
from retail_platform.maintenance.config import MaintenanceConfig
from retail_platform.maintenance.records import ActionRecord

log = logging.getLogger(__name__)


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def parts(client: Any, database: str, table: str) -> dict[str, tuple[int, int]]:
    """{partition id: (active parts, bytes on disk)} of a table."""
    rows = client.query(
        "SELECT partition_id, count(), sum(bytes_on_disk) FROM system.parts "
        "WHERE database = {db:String} AND table = {t:String} AND active GROUP BY partition_id",
        parameters={"db": database, "t": table},
    ).result_rows
    return {str(pid): (int(n), int(b)) for pid, n, b in rows}


def table_exists(client: Any, database: str, table: str) -> bool:
    return bool(
        client.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            parameters={"db": database, "t": table},
        ).result_rows[0][0]
    )


def _totals(stats: dict[str, tuple[int, int]], ids: list[str] | None = None) -> tuple[int, int]:
    chosen = stats if ids is None else {k: v for k, v in stats.items() if k in ids}
    return sum(n for n, _ in chosen.values()), sum(b for _, b in chosen.values())


def optimize_final(
    client: Any, database: str, table: str, config: MaintenanceConfig, run_id: str, today: date
) -> ActionRecord:
    record = ActionRecord(run_id, "warehouse", table, "optimize_final")
    if not table_exists(client, database, table):
        return record.finish("skipped", "table does not exist")
    since = today - timedelta(days=config.warehouse_optimize_days)
    before = parts(client, database, table)
    chosen = retention.recent_partitions(before, since)
    record.files_before, record.bytes_before = _totals(before, chosen)
    for pid in chosen:
        client.command(
            f"OPTIMIZE TABLE {_quote(database)}.{_quote(table)} PARTITION ID '{pid}' FINAL",
            settings={"optimize_skip_merged_partitions": 1},
        )
    record.files_after, record.bytes_after = _totals(parts(client, database, table), chosen)
    return record.finish("ok", f"partitions {','.join(chosen) or 'none'} (days since {since.isoformat()})")


def drop_expired_partitions(
    client: Any, database: str, table: str, days: int, run_id: str, today: date
) -> ActionRecord:
    record = ActionRecord(run_id, "warehouse", table, "retention")
    if not table_exists(client, database, table):
        return record.finish("skipped", "table does not exist")
    record.cutoff = retention.cutoff_day(today, days)
    before = parts(client, database, table)
    record.files_before, record.bytes_before = _totals(before)
    expired = retention.partitions_past_retention(before, record.cutoff)
    for pid in expired:
        client.command(f"ALTER TABLE {_quote(database)}.{_quote(table)} DROP PARTITION ID '{pid}'")
    record.partitions_dropped = expired
    record.files_after, record.bytes_after = _totals(parts(client, database, table))
    return record.finish("ok", f"retention {days} days")


def maintain_warehouse(
    client: Any, database: str, config: MaintenanceConfig, run_id: str, today: date | None = None
) -> list[ActionRecord]:
    """All warehouse actions; one failing is recorded with status error and the others still run."""
    day = today or datetime.now(timezone.utc).date()
    steps: list[tuple[str, str, Any]] = [
        (t, "optimize_final", lambda t=t: optimize_final(client, database, t, config, run_id, day))
        for t in config.optimize_final_tables
    ]
    steps += [
        (t, "retention", lambda t=t, n=n: drop_expired_partitions(client, database, t, n, run_id, day))
        for t, n in sorted(config.warehouse_retention_days.items())
    ]
    keep = config.restock_state_keep_batches
    steps += [
        (t, "retention", lambda t=t: realtime.prune_restock_state(client, database, keep, run_id, t))
        for t in realtime.STATE_TABLES
    ]
    if config.ttl_guard_days is not None:
        guard = config.ttl_guard_days
        steps.append((realtime.RT_SALES, "ttl_guard", lambda: realtime.ttl_guard(client, database, guard, run_id, day)))
    records: list[ActionRecord] = []
    for table, action, step in steps:
        started = datetime.now(timezone.utc)
        try:
            records.append(step())
        except Exception as error:
            log.exception("%s of %s failed", action, table)
            records.append(
                ActionRecord(run_id, "warehouse", table, action, started_at=started).finish(
                    "error", f"{type(error).__name__}: {str(error)[:2000]}"
                )
            )
    return records
