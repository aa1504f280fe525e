"""late_arrivals: recompute closed days the stream has added events to since their load, every 15 min.

    closed days whose stream rows outnumber what their load read, or whose recompute
    a load of the day before requested (the stock they start from changed) -> ops_recomputes   find_late_days
    one daily_etl run per such day, conf {"date": "YYYY-MM-DD"}                          recompute_day (mapped)

A day whose recompute is still pending (triggered after its latest load, within 6 hours) is not
triggered again; daily_etl runs one day at a time (max_active_runs=1), so triggered days queue
there. No catch-up: each run looks at every closed day. Thin on purpose: the detection and why it is
exact are in retail_platform/batch/late_arrivals.py.
"""

from __future__ import annotations

import logging

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, get_current_context, task

from retail_platform.orchestration import DEFAULT_ARGS

# Airflow 3 captures the standard logging of task code into the task's log.
log = logging.getLogger(__name__)


@dag(
    dag_id="late_arrivals",
    schedule="*/15 * * * *",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two runs would both find a day before either recorded its recompute
    tags=["batch", "late-arrivals"],
    default_args=DEFAULT_ARGS,
    dagrun_timeout=pendulum.duration(minutes=14),
)
def late_arrivals() -> None:
    @task(execution_timeout=pendulum.duration(minutes=5))
    def find_late_days() -> list[dict[str, object]]:
        """Record a recompute for each late day (ops_recomputes); the trigger arguments of each."""
        from retail_hooks import warehouse_client
        from retail_platform.batch import late_arrivals as late

        client = warehouse_client()
        try:
            chosen = late.detect_and_record(client, client.database, detected_by=get_current_context()["run_id"])
        finally:
            client.close()
        if not chosen:
            log.info("no closed day has stream rows its load did not read")
        return [r.trigger_kwargs() for r in chosen]

    TriggerDagRunOperator.partial(
        task_id="recompute_day",
        trigger_dag_id="daily_etl",
        skip_when_already_exists=True,  # a retried trigger of a run that was created
        execution_timeout=pendulum.duration(minutes=5),
    ).expand_kwargs(find_late_days())


late_arrivals()
