"""maintenance: nightly upkeep of the lake's Delta tables and the warehouse, 03:00 UTC.

- ``lake_maintenance`` (Spark, spark_jobs/maintenance.py): for every Delta table under raw-data/,
  silver/ and quarantine/ (discovered, not listed here), retention of old days, OPTIMIZE (compaction
  of the stream's small files) and VACUUM.
- ``warehouse_maintenance``: OPTIMIZE ... FINAL of the recent partitions of the ReplacingMergeTree
  tables, partition retention of the tables no TTL trims, rt_restock_state's retention and a guard
  that fails the task when an unclosed day's real-time rows near their TTL, through the
  ``clickhouse_default`` connection.

The two are independent (a lake failure does not hold back the warehouse, nor the reverse). Both
record every action in ops_maintenance_runs under the Airflow run id. Windows are DAG params with
generous defaults; a manual run can shorten them. No catch-up: maintenance of a missed night is the
next night's work. Thin on purpose: the logic lives in retail_platform.maintenance.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from retail_assets import MAINTENANCE_APP
from retail_operators import PlatformSparkSubmitOperator
from retail_platform.orchestration import DEFAULT_ARGS

_DAYS = {"type": ["integer", "null"], "minimum": 1}
# Job option -> DAG param; "None" (a null param rendered) means "no window" to the job.
LAKE_OPTIONS = {
    "--bronze-retention-days": "bronze_retention_days",
    "--quarantine-retention-days": "quarantine_retention_days",
    "--silver-retention-days": "silver_retention_days",
    "--optimize-recent-days": "optimize_recent_days",
    "--vacuum-retention-hours": "vacuum_retention_hours",
    "--vacuum-full-weekday": "vacuum_full_weekday",
}


@dag(
    dag_id="maintenance",
    schedule="0 3 * * *",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["maintenance", "lake", "warehouse"],
    default_args=DEFAULT_ARGS,
    dagrun_timeout=pendulum.duration(hours=4),
    params={
        "bronze_retention_days": Param(730, **_DAYS, description="raw-data days older than this are deleted"),
        "quarantine_retention_days": Param(90, **_DAYS, description="quarantine days older than this are deleted"),
        "silver_retention_days": Param(None, **_DAYS, description="silver days older than this (null: keep all)"),
        "optimize_recent_days": Param(None, **_DAYS, description="OPTIMIZE only the last N days (null: all)"),
        "vacuum_retention_hours": Param(
            168, type="integer", minimum=168, description="VACUUM keeps files younger than this (Delta minimum 168)"
        ),
        "vacuum_full_weekday": Param(
            6, type="integer", minimum=-1, maximum=6, description="VACUUM FULL on this weekday (0=Monday, -1 never)"
        ),
        "warehouse_optimize_days": Param(62, type="integer", minimum=1, description="OPTIMIZE FINAL window"),
        "warehouse_retention_days": Param(
            {"rt_quarantine": 180, "rt_restock_alerts": 365, "dq_results": 730, "ops_stream_days": 730},
            type="object",
            description="warehouse table -> days kept (months wholly older are dropped)",
        ),
    },
)
def maintenance() -> None:
    args: list[str] = ["--run-id", "{{ run_id }}"]
    for option, param in LAKE_OPTIONS.items():
        args += [option, "{{ params." + param + " }}"]

    PlatformSparkSubmitOperator(
        task_id="lake_maintenance",
        application=MAINTENANCE_APP,
        application_args=args,
        name="maintenance",
        execution_timeout=pendulum.duration(hours=3),
    )

    @task(execution_timeout=pendulum.duration(minutes=45))
    def warehouse_maintenance() -> dict[str, object]:
        from retail_hooks import warehouse_client
        from retail_platform.maintenance.config import MaintenanceConfig
        from retail_platform.maintenance.records import summary
        from retail_platform.maintenance.run import run_warehouse
        from retail_platform.settings import get_settings

        context = get_current_context()
        params = context["params"]
        config = MaintenanceConfig.from_params(
            {k: params[k] for k in ("warehouse_optimize_days", "warehouse_retention_days")}
        )
        client = warehouse_client()
        try:
            records = run_warehouse(get_settings(), config, context["run_id"], client=client)
        finally:
            client.close()
        return summary(records)

    warehouse_maintenance()


maintenance()
