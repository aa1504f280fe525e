"""stock_optimization: daily reorder recommendations, restock policy and anomalies per store/product.

Day D = the data interval's start (the run at 10:00 UTC on D+1 covers D, after daily_etl has loaded D
at 08:00 and the predictions have written the forecast made on D). A run can also be triggered for any
day with conf {"date": "YYYY-MM-DD"}; params override the policy (e.g. {"service_level": 0.98}).
Thin on purpose: the logic lives in retail_platform.optimization (formulas, classification, anomalies,
recommendations, warehouse I/O).
"""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from retail_assets import ANOMALIES, FACT_INVENTORY, FORECASTS, RECOMMENDATIONS, REORDER_POLICY
from retail_platform.orchestration import DEFAULT_ARGS

# Airflow 3 captures the standard logging of task code into the task's log.
log = logging.getLogger(__name__)

DAY = "{{ dag_run.conf.get('date') or data_interval_start | ds }}"


@dag(
    dag_id="stock_optimization",
    schedule=CronDataIntervalTimetable("0 10 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    # Days one at a time: a day's outputs are swapped in through its month's partition.
    max_active_runs=1,
    tags=["ml", "optimization"],
    default_args=DEFAULT_ARGS,
    dagrun_timeout=pendulum.duration(hours=1),
    params={
        "service_level": Param(
            0.95, type="number", minimum=0.5, maximum=0.999, description="target cycle service level"
        ),
    },
)
def stock_optimization() -> None:
    @task.short_circuit(execution_timeout=pendulum.duration(minutes=5), inlets=[FACT_INVENTORY])
    def stock_loaded(day: str) -> bool:
        """Skip a day without any inventory snapshot on or before it: nothing to recommend from."""
        from datetime import date

        from retail_hooks import warehouse_client
        from retail_platform.optimization.warehouse import stock_snapshot

        client = warehouse_client()
        try:
            found = len(stock_snapshot(client, client.database, date.fromisoformat(day))) > 0
        finally:
            client.close()
        if not found:
            log.warning("no fact_inventory snapshot on or before %s", day)
        return found

    @task(
        execution_timeout=pendulum.duration(minutes=30),
        inlets=[FACT_INVENTORY, FORECASTS],
        outlets=[RECOMMENDATIONS, ANOMALIES, REORDER_POLICY],
    )
    def optimize(day: str) -> dict:
        """Recommendations, anomalies and (for the newest day) rt_reorder_policy for ``day``."""
        from datetime import date

        from retail_hooks import warehouse_client
        from retail_platform.optimization.policy import OptimizationConfig
        from retail_platform.optimization.warehouse import run_day

        context = get_current_context()
        config = OptimizationConfig().with_overrides({"service_level": float(context["params"]["service_level"])})
        client = warehouse_client()
        try:
            summary = run_day(client, client.database, date.fromisoformat(day), config, context["run_id"])
        finally:
            client.close()
        log.info("stock optimisation %s: %s", day, summary.as_dict())
        return summary.as_dict()

    stock_loaded(DAY) >> optimize(DAY)


stock_optimization()
