"""ops_alerts: threshold alerts of the operations, every 5 minutes.

One task measures the stream's freshness and lag and the newest daily load's failed data-quality
checks in the warehouse (``clickhouse_default`` connection), compares them with the thresholds of the
settings (``RETAIL_ALERT_*``, read when the task runs), records each alert episode once in
``ops_alerts`` (shown on the Operations dashboard) and fails when an alert starts firing, so Airflow's
own failure notification (and ``ops_task_failures``) carries it. It fails without retrying: a retry
would find the episode already recorded and pass. Thin on purpose: the logic is in
retail_platform.alerts.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from retail_platform.orchestration import DEFAULT_ARGS


@dag(
    dag_id="ops_alerts",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2026, 12, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["platform", "operations", "alerts"],
    # Retries are for a warehouse that does not answer; a firing alert fails without retry.
    default_args={**DEFAULT_ARGS, "retries": 1, "retry_delay": pendulum.duration(seconds=30)},
    dagrun_timeout=pendulum.duration(minutes=4),
)
def ops_alerts() -> None:
    @task(execution_timeout=pendulum.duration(minutes=2))
    def check_thresholds() -> dict[str, object]:
        from airflow.sdk.exceptions import AirflowFailException

        from retail_hooks import warehouse_client
        from retail_platform import alerts
        from retail_platform.settings import get_settings

        client = warehouse_client()
        try:
            evaluation = alerts.check(client, alerts.thresholds(get_settings()), get_current_context()["run_id"])
        finally:
            client.close()
        if evaluation.fired:
            raise AirflowFailException(f"alert firing: {evaluation.message()}")
        return {"breached": list(evaluation.breached), "recorded": len(evaluation.transitions)}

    check_thresholds()


ops_alerts()
