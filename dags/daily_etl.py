"""daily_etl: recompute yesterday exactly (bronze -> silver -> fact_sales / fact_inventory) at 08:00 UTC.

Day = the data interval's start (a CronDataIntervalTimetable: the run at 08:00 on D+1 covers D,
whose late arrivals had eight hours to land). Catch-up and ``airflow backfill create`` run one day at
a time (max_active_runs=1; days of one month must not be swapped in concurrently). A run can also be
triggered for any day with conf {"date": "YYYY-MM-DD"}. Thin on purpose: the logic lives in
retail_platform.batch and spark_jobs/daily_etl.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

from retail_platform.batch.operators import PlatformSparkSubmitOperator
from retail_platform.orchestration import DEFAULT_ARGS

# Airflow 3 captures the standard logging of task code into the task's log.
log = logging.getLogger(__name__)

APPLICATION = str(Path(__file__).resolve().parent.parent / "spark_jobs" / "daily_etl.py")
DAY = "{{ dag_run.conf.get('date') or data_interval_start | ds }}"
# Downstream DAGs (feature engineering) schedule on these.
FACT_SALES = Asset("clickhouse://retail/fact_sales")
FACT_INVENTORY = Asset("clickhouse://retail/fact_inventory")


@dag(
    dag_id="daily_etl",
    schedule=CronDataIntervalTimetable("0 8 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    tags=["batch", "etl"],
    default_args=DEFAULT_ARGS,
    dagrun_timeout=pendulum.duration(hours=3),
)
def daily_etl() -> None:
    @task.short_circuit(execution_timeout=pendulum.duration(minutes=2))
    def bronze_has_day(day: str) -> bool:
        """Skip the Spark job for a day the lake has nothing for (catch-up over days before the first
        events); the facts of such a day are left as they are."""
        from datetime import date

        from retail_platform.batch.daily import TYPES
        from retail_platform.batch.lake_check import bronze_day_present
        from retail_platform.settings import get_settings

        present = bronze_day_present(get_settings(), date.fromisoformat(day), TYPES)
        if not present:
            log.warning("no bronze files for %s: nothing to recompute", day)
        return present

    load = PlatformSparkSubmitOperator(
        task_id="recompute_day",
        conn_id="spark_default",
        application=APPLICATION,
        application_args=["--date", DAY, "--run-id", "{{ run_id }}"],
        name="daily_etl",
        outlets=[FACT_SALES, FACT_INVENTORY],
        execution_timeout=pendulum.duration(hours=2),
        verbose=False,
    )
    bronze_has_day(DAY) >> load


daily_etl()
