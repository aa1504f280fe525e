"""batch_sources: load what was dropped into the lake's landing zone, every hour.

    landing/suppliers, landing/catalogue  -> dim_supplier, dim_product (SCD2)     ingest_dimensions
    landing/sales_history, landing/legacy -> bronze (MERGE on event_id)           import_sales_history (Spark)
    the days bronze received               -> daily_etl, one run per run of       recompute_day (mapped)
                                              consecutive days (a range load)
      (only days that may close: today's rows wait in bronze for daily_etl's schedule)
    what loaded and what did not           -> task log; fails for failed files    report

Content already loaded is skipped, so an hourly run with nothing new does nothing. Params:
``mapping`` (a column mapping object overriding the sales files' own, see
retail_platform/sources/mapping.py) and ``legacy_timezone`` (zone of the legacy database's times).
daily_etl runs one range at a time (its max_active_runs=1), so the triggered ranges queue there; a
year of history is one range, so one Spark application, not a run per day. Thin on
purpose: the logic lives in retail_platform.sources and spark_jobs/import_sales_history.py.
"""

from __future__ import annotations

import logging

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, get_current_context, task

from retail_assets import IMPORT_SALES_HISTORY_APP
from retail_operators import PlatformSparkSubmitOperator
from retail_platform.orchestration import DEFAULT_ARGS

# Airflow 3 captures the standard logging of task code into the task's log.
log = logging.getLogger(__name__)


@dag(
    dag_id="batch_sources",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two runs would both see the same new file before either recorded it
    tags=["batch", "sources"],
    default_args=DEFAULT_ARGS,
    dagrun_timeout=pendulum.duration(hours=3),
    params={
        "mapping": Param(None, type=["null", "object"], description="column mapping of the sales files"),
        "legacy_timezone": Param("UTC", type="string", description="zone of the legacy database's times"),
    },
)
def batch_sources() -> None:
    @task(execution_timeout=pendulum.duration(minutes=20))
    def ingest_dimensions() -> None:
        """Suppliers, then catalogue files (products name their suppliers)."""
        from retail_hooks import warehouse_client
        from retail_platform.settings import get_settings
        from retail_platform.sources import report, runs

        context = get_current_context()
        settings = get_settings()
        client = warehouse_client()
        try:
            loads = runs.ingest_dimensions(client, settings, context["run_id"])
        finally:
            client.close()
        log.info("dimensions:\n%s", report.summary(loads))

    import_bronze = PlatformSparkSubmitOperator(
        task_id="import_sales_history",
        application=IMPORT_SALES_HISTORY_APP,
        application_args=[
            "--run-id",
            "{{ run_id }}",
            "--mapping",
            "{{ params.mapping | tojson }}",
            "--legacy-timezone",
            "{{ params.legacy_timezone }}",
        ],  # fmt: skip
        name="import_sales_history",
        execution_timeout=pendulum.duration(hours=2),
    )

    @task(execution_timeout=pendulum.duration(minutes=5))
    def days_to_recompute() -> list[dict[str, str]]:
        """One daily_etl conf {"from", "to"} per run of consecutive bronze days this run wrote to that
        may close now; a day too recent to close (today, or within the close grace) is left to
        daily_etl's schedule, which reads the rows loaded here when it closes the day."""
        from datetime import datetime, timezone

        from retail_hooks import warehouse_client
        from retail_platform.batch.close import spans, split_too_early
        from retail_platform.settings import get_settings
        from retail_platform.sources import runs

        settings = get_settings()
        client = warehouse_client()
        try:
            loads = runs.run_loads(client, client.database, get_current_context()["run_id"])
        finally:
            client.close()
        now = datetime.now(timezone.utc)
        closable, later = split_too_early(runs.affected_days(loads), now, settings.close_grace_minutes)
        if later:
            log.info("bronze days left to daily_etl's schedule (too recent to close): %s", [str(d) for d in later])
        return [{"from": first.isoformat(), "to": last.isoformat()} for first, last in spans(closable)]

    days = days_to_recompute()
    recompute = TriggerDagRunOperator.partial(
        task_id="recompute_day",
        trigger_dag_id="daily_etl",
        execution_timeout=pendulum.duration(minutes=5),
    ).expand(conf=days)

    @task(trigger_rule="all_done", execution_timeout=pendulum.duration(minutes=5))
    def report() -> None:
        """The run's files with their verdicts; fails when any file failed, so it is noticed."""
        from retail_hooks import warehouse_client
        from retail_platform.sources import report as source_report
        from retail_platform.sources import runs

        client = warehouse_client()
        try:
            loads = runs.run_loads(client, client.database, get_current_context()["run_id"])
        finally:
            client.close()
        log.info("batch sources:\n%s", source_report.summary(loads))
        failed = [f"{f.kind}/{f.file}: {f.message}" for f in loads if f.status == source_report.FAILED]
        if failed:
            raise RuntimeError("files failed to load:\n" + "\n".join(failed))

    ingest_dimensions() >> import_bronze >> days
    recompute >> report()


batch_sources()
