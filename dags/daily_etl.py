"""daily_etl: recompute yesterday exactly (bronze -> silver -> fact_sales / fact_inventory) at 08:00 UTC.

Day = the data interval's start (a CronDataIntervalTimetable: the run at 08:00 on D+1 covers D,
whose late arrivals had eight hours to land). Catch-up and ``airflow backfill create`` run one day at
a time (max_active_runs=1; days of one month must not be swapped in concurrently). A run can also be
triggered for any day with conf {"date": "YYYY-MM-DD"}, or for a range of days with conf
{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"} (inclusive; what batch_sources triggers after a history
import): a range is one range load (one Spark application, ``daily.run_days``), each day still loaded
atomically with its own checks and watermark. Thin on purpose: the logic lives in retail_platform.batch
and spark_jobs/daily_etl.py.

A day closes only once the stream is past it (retail_platform/batch/close.py):

    bronze_has_day -> close_target -> stream_past_day -> recompute_day

close_target refuses a day whose end plus the close grace is still ahead (today, a future day) and
takes Kafka's end offsets of the input partitions; stream_past_day (a sensor in reschedule mode) waits
until the stream has consumed past them, and fails after an hour naming the partitions behind and by
how much; recompute_day gets the target and checks it again before loading.
"""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import CronDataIntervalTimetable, PokeReturnValue, dag, task

from retail_assets import DAILY_ETL_APP, FACT_INVENTORY, FACT_SALES
from retail_operators import PlatformSparkSubmitOperator
from retail_platform.orchestration import DEFAULT_ARGS

# Airflow 3 captures the standard logging of task code into the task's log.
log = logging.getLogger(__name__)

# The days of the run: a conf range, a conf day, or the scheduled data interval's day. The close waits
# for the newest (LAST): the stream being past it means it is past every earlier day too.
FIRST = "{{ dag_run.conf.get('from') or dag_run.conf.get('date') or data_interval_start | ds }}"
LAST = "{{ dag_run.conf.get('to') or dag_run.conf.get('date') or data_interval_start | ds }}"


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
    def bronze_has_day(first: str, last: str) -> bool:
        """Skip the Spark job when the lake has nothing for the days (catch-up over days before the
        first events); the facts of such days are left as they are."""
        from datetime import date, timedelta

        from retail_platform.batch.daily import TYPES
        from retail_platform.batch.lake_check import bronze_day_present
        from retail_platform.settings import get_settings

        settings, day, end = get_settings(), date.fromisoformat(first), date.fromisoformat(last)
        while day <= end:
            if bronze_day_present(settings, day, TYPES):
                return True
            day += timedelta(days=1)
        log.warning("no bronze files for %s..%s: nothing to recompute", first, last)
        return False

    @task(execution_timeout=pendulum.duration(minutes=5))
    def close_target(day: str) -> dict:
        """Refuse a day too recent to close; the Kafka end offsets the stream must pass."""
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException

        from retail_hooks import KafkaHook
        from retail_platform.batch import close
        from retail_platform.settings import get_settings

        try:
            return close.dag_target(get_settings(), date.fromisoformat(day), kafka=KafkaHook().client_options())
        except close.TooEarly as exc:
            raise AirflowFailException(str(exc)) from exc  # retrying does not make a day older

    @task.sensor(
        mode="reschedule",
        poke_interval=60,
        timeout=pendulum.duration(minutes=75).total_seconds(),
        execution_timeout=pendulum.duration(minutes=5),
    )
    def stream_past_day(day: str, target: dict) -> PokeReturnValue:
        """Done once the stream consumed every input partition past the target; fails past the wait."""
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException

        from retail_hooks import warehouse_client
        from retail_platform.batch import close
        from retail_platform.settings import get_settings

        client = warehouse_client()
        try:
            done = close.dag_poke(get_settings(), date.fromisoformat(day), target, client=client)
        except close.DayNotClosable as exc:
            raise AirflowFailException(str(exc)) from exc
        finally:
            client.close()
        return PokeReturnValue(is_done=done, xcom_value=target if done else None)

    load = PlatformSparkSubmitOperator(
        task_id="recompute_day",
        application=DAILY_ETL_APP,
        application_args=[
            "--from",
            FIRST,
            "--to",
            LAST,
            "--run-id",
            "{{ run_id }}",
            "--close-wait",
            "0",
            "--close-target",
            "{{ ti.xcom_pull(task_ids='stream_past_day') | tojson }}",
        ],  # fmt: skip
        name="daily_etl",
        outlets=[FACT_SALES, FACT_INVENTORY],
        execution_timeout=pendulum.duration(hours=2),
    )
    target = close_target(LAST)
    bronze_has_day(FIRST, LAST) >> target
    stream_past_day(LAST, target) >> load


daily_etl()
