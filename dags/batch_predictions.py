"""batch_predictions: the champion's 7-day forecasts for the newest closed day, and forecast-vs-actual
for that day, once its features are ready (scheduled on feature_engineering's inference asset, so it
runs daily after daily_etl and feature_engineering).

The day is the batch watermark or conf {"date": "YYYY-MM-DD"}. Thin on purpose: the logic lives in
retail_platform.forecasting.predictions and spark_jobs/predict_demand.py.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Asset, dag, get_current_context, task

from retail_platform.batch.operators import PlatformSparkSubmitOperator
from retail_platform.orchestration import DEFAULT_ARGS

APPLICATION = str(Path(__file__).resolve().parent.parent / "spark_jobs" / "predict_demand.py")
INFERENCE_FEATURES = Asset("lake://features/inference")
# Stock optimisation schedules on this.
FORECASTS = Asset("clickhouse://retail/ml_demand_forecast")
ACCURACY = Asset("clickhouse://retail/ml_forecast_accuracy")
DAY = "{{ ti.xcom_pull(task_ids='resolve_day') }}"


@dag(
    dag_id="batch_predictions",
    schedule=[INFERENCE_FEATURES],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ml", "forecasting", "predictions"],
    default_args=DEFAULT_ARGS,
    dagrun_timeout=pendulum.duration(hours=2),
)
def batch_predictions() -> None:
    @task(execution_timeout=pendulum.duration(minutes=5))
    def resolve_day() -> str:
        """The forecast date: conf "date", else the batch watermark (the newest closed day)."""
        from retail_platform.forecasting.jobs import last_loaded_day

        conf = get_current_context()["dag_run"].conf or {}
        return conf.get("date") or last_loaded_day().isoformat()

    predict = PlatformSparkSubmitOperator(
        task_id="predict_demand",
        conn_id="spark_default",
        application=APPLICATION,
        application_args=["--date", DAY],
        name="predict_demand",
        outlets=[FORECASTS],
        execution_timeout=pendulum.duration(hours=1),
        verbose=False,
    )

    @task(execution_timeout=pendulum.duration(minutes=20), outlets=[ACCURACY])
    def record_accuracy(day: str) -> int:
        """Forecasts made for the day that just closed, beside its actual sales."""
        from datetime import date

        from retail_platform.forecasting.predictions import record_accuracy as record
        from retail_platform.settings import get_settings

        return record(get_settings(), date.fromisoformat(day))

    day = resolve_day()
    day >> predict
    record_accuracy(day)


batch_predictions()
