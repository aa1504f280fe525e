"""model_training: weekly retraining of the demand-forecast GBT (Sundays 10:00 UTC).

Trains on the lake's training features up to the newest closed target day (or conf {"date":
"YYYY-MM-DD"}), scores the 28-day hold-out beside the baselines and the current champion, registers
models/demand-forecast/vN and promotes it only when it beats them; ml_model_performance gets the
metrics. Thin on purpose: the logic lives in retail_platform.forecasting.training and
spark_jobs/train_demand_model.py.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronTriggerTimetable, dag

from retail_assets import MODEL, PERFORMANCE, TRAIN_DEMAND_MODEL_APP
from retail_operators import PlatformSparkSubmitOperator
from retail_platform.orchestration import DEFAULT_ARGS


@dag(
    dag_id="model_training",
    schedule=CronTriggerTimetable("0 10 * * 0", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ml", "forecasting", "training"],
    default_args=DEFAULT_ARGS,
    dagrun_timeout=pendulum.duration(hours=5),
)
def model_training() -> None:
    PlatformSparkSubmitOperator(
        task_id="train_demand_model",
        application=TRAIN_DEMAND_MODEL_APP,
        application_args=["--date", "{{ (dag_run.conf or {}).get('date') or macros.ds_add(ds, -1) }}"],
        name="train_demand_model",
        outlets=[MODEL, PERFORMANCE],
        # Seed 004: weekly retraining within 4 hours.
        execution_timeout=pendulum.duration(hours=4),
    )


model_training()
