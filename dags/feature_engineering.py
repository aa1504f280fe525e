"""feature_engineering: demand features for the forecast of the newest loaded day.

Scheduled on daily_etl's fact assets: it runs once both facts have been updated (each daily_etl
run). The day is the batch watermark (the newest day loaded), or conf {"date": "YYYY-MM-DD"};
{"start": "YYYY-MM-DD"} rebuilds every feature_date from that day (first run, or after a backfill of
old days). Thin on purpose: the logic lives in retail_platform.forecasting and
spark_jobs/feature_engineering.py.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from retail_assets import FACT_INVENTORY, FACT_SALES, FEATURE_ENGINEERING_APP, INFERENCE_FEATURES, WAREHOUSE_FEATURES
from retail_operators import PlatformSparkSubmitOperator
from retail_platform.orchestration import DEFAULT_ARGS

DAY = "{{ ti.xcom_pull(task_ids='resolve_day') }}"


@dag(
    dag_id="feature_engineering",
    schedule=(FACT_SALES & FACT_INVENTORY),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ml", "forecasting", "features"],
    default_args=DEFAULT_ARGS,
    dagrun_timeout=pendulum.duration(hours=3),
)
def feature_engineering() -> None:
    @task(execution_timeout=pendulum.duration(minutes=5))
    def resolve_day() -> str:
        """The last closed day: conf "date", else the batch watermark."""
        from retail_hooks import warehouse_client
        from retail_platform.forecasting.jobs import last_loaded_day

        conf = get_current_context()["dag_run"].conf or {}
        if conf.get("date"):
            return conf["date"]
        client = warehouse_client()
        try:
            return last_loaded_day(client).isoformat()
        finally:
            client.close()

    features = PlatformSparkSubmitOperator(
        task_id="compute_features",
        application=FEATURE_ENGINEERING_APP,
        application_args=[
            "--date",
            DAY,
            "--run-id",
            "{{ run_id }}",
            "--start",
            "{{ (dag_run.conf or {}).get('start', '') }}",
        ],
        name="feature_engineering",
        outlets=[INFERENCE_FEATURES, WAREHOUSE_FEATURES],
        execution_timeout=pendulum.duration(hours=2),
    )
    resolve_day() >> features


feature_engineering()
