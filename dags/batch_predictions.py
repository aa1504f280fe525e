"""batch_predictions: the champion's 7-day forecasts for the newest closed day, and forecast-vs-actual
for that day, once its features are ready (scheduled on feature_engineering's inference asset, so it
runs daily after daily_etl and feature_engineering).

The day is the batch watermark or conf {"date": "YYYY-MM-DD"}. Thin on purpose: the logic lives in
retail_platform.forecasting.predictions and spark_jobs/predict_demand.py.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from retail_assets import ACCURACY, FORECASTS, INFERENCE_FEATURES, PREDICT_DEMAND_APP
from retail_operators import PlatformSparkSubmitOperator
from retail_platform.orchestration import DEFAULT_ARGS

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

    predict = PlatformSparkSubmitOperator(
        task_id="predict_demand",
        application=PREDICT_DEMAND_APP,
        application_args=["--date", DAY],
        name="predict_demand",
        outlets=[FORECASTS],
        execution_timeout=pendulum.duration(hours=1),
    )

    @task(execution_timeout=pendulum.duration(minutes=20), outlets=[ACCURACY])
    def record_accuracy(day: str) -> int:
        """Forecasts made for the day that just closed, beside its actual sales."""
        from datetime import date

        from retail_hooks import warehouse_client
        from retail_platform.forecasting.predictions import write_accuracy

        client = warehouse_client()
        try:
            return write_accuracy(client, client.database, date.fromisoformat(day))
        finally:
            client.close()

    day = resolve_day()
    day >> predict
    record_accuracy(day)


batch_predictions()
