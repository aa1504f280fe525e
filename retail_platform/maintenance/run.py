"""One maintenance run: the lake's tables (Spark) and/or the warehouse's, recorded in ops_maintenance_runs."""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Any

from retail_platform.maintenance.config import MaintenanceConfig
from retail_platform.maintenance.lake_tables import maintain_lake
from retail_platform.maintenance.records import ActionRecord, write_records
from retail_platform.maintenance.warehouse_tables import maintain_warehouse

log = logging.getLogger(__name__)


def session_conf(settings: Any) -> dict[str, str]:
    """Spark settings for maintenance sessions on a local master (two cores): Delta rebuilds a
    table's snapshot state after every commit in 50 partitions by default and VACUUM FULL plans up
    to 10,000 listing tasks, each a scheduling round trip. With 2 and 4 the same tiny tables took
    3 s instead of 23 s per snapshot and 12-16 s instead of 37-54 s per VACUUM (measured here, on a
    loaded machine). A cluster keeps Spark's defaults."""
    if not str(settings.spark_master).startswith("local"):
        return {}
    return {
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "4",
    }


def new_run_id() -> str:
    return f"maintenance-{uuid.uuid4().hex[:12]}"


class MaintenanceFailed(RuntimeError):
    """Some action failed; every action, failed or not, is recorded (and carried in ``records``)."""

    def __init__(self, message: str, records: list[ActionRecord]) -> None:
        super().__init__(message)
        self.records = records


def run_lake(
    spark: Any,
    settings: Any,
    config: MaintenanceConfig,
    run_id: str,
    today: date | None = None,
    client: Any = None,
    lake_root: str | None = None,
) -> list[ActionRecord]:
    """Maintain the lake's Delta tables and record what was done; raises MaintenanceFailed after
    recording if any action failed (so the orchestrator retries and the failure is visible)."""
    records = maintain_lake(spark, lake_root or settings.lake_uri, config, run_id, today)
    _record(settings, records, client)
    return records


def run_warehouse(
    settings: Any, config: MaintenanceConfig, run_id: str, today: date | None = None, client: Any = None
) -> list[ActionRecord]:
    """Warehouse maintenance with ``client`` (e.g. from ClickHouseHook) or one from the settings."""
    own = client is None
    if own:
        from retail_platform.warehouse.client import connect

        client = connect(settings)
    try:
        records = maintain_warehouse(client, client.database or settings.clickhouse_database, config, run_id, today)
        _record(settings, records, client)
    finally:
        if own:
            client.close()
    return records


def _record(settings: Any, records: list[ActionRecord], client: Any) -> None:
    own = client is None
    if own:
        from retail_platform.warehouse.client import connect

        client = connect(settings)
    try:
        write_records(client, records)
    finally:
        if own:
            client.close()
    failed = [r for r in records if r.status == "error"]
    if failed:
        lines = [f"{r.layer}:{r.target}:{r.action}: {(r.detail.splitlines() or [''])[0]}" for r in failed]
        raise MaintenanceFailed("; ".join(lines), records)
