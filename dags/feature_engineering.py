"""feature_engineering: demand features for the forecast of the newest loaded day.

Scheduled on daily_etl's fact assets: it runs once both facts have been updated (each daily_etl
run). The day is the batch watermark (the newest day loaded), or conf {"date": "YYYY-MM-DD"};
{"start": "YYYY-MM-DD"} rebuilds every feature_date from that day (first run, or after a backfill of
old days). Thin on purpose: the logic lives in retail_platform.forecasting and
spark_jobs/feature_engineering.py.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Asset, dag, get_current_context, task

from retail_platform.batch.operators import PlatformSparkSubmitOperator
from retail_platform.orchestration import DEFAULT_ARGS

APPLICATION = str(Path(__file__).resolve().parent.parent / "spark_jobs" / "feature_engineering.py")
FACT_SALES = Asset("clickhouse://retail/fact_sales")
FACT_INVENTORY = Asset("clickhouse://retail/fact_inventory")
# batch_predictions schedules on these.
INFERENCE_FEATURES = Asset("lake://features/inference")
WAREHOUSE_FEATURES = Asset("clickhouse://retail/ml_demand_features")
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
        from retail_platform.forecasting.jobs import last_loaded_day

        conf = get_current_context()["dag_run"].conf or {}
        return conf.get("date") or last_loaded_day().isoformat()

    features = PlatformSparkSubmitOperator(
        task_id="compute_features",
        conn_id="spark_default",
        application=APPLICATION,
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
        verbose=False,
    )
    resolve_day() >> features


feature_engineering()
