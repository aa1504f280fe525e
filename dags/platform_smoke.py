"""platform_smoke: proves that Airflow's workers reach the warehouse and Kafka through their connections.

Triggered by `make demo` through the REST API with conf {"run_id": ...}; each task records a row
in ops_service_checks under that run id. Thin on purpose: the logic lives in retail_platform.smoke.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from retail_platform.orchestration import DEFAULT_ARGS


@dag(
    dag_id="platform_smoke",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["platform", "smoke"],
    # A smoke check answers quickly or not at all: one retry, soon.
    default_args={**DEFAULT_ARGS, "retries": 1, "retry_delay": pendulum.duration(seconds=5)},
    dagrun_timeout=pendulum.duration(minutes=10),
)
def platform_smoke() -> None:
    @task(execution_timeout=pendulum.duration(minutes=2))
    def check_services() -> dict[str, int]:
        # Imports and connections are read when the task runs, never when the DAG file is parsed.
        from retail_hooks import KafkaHook, warehouse_client
        from retail_platform import smoke

        run_id = get_current_context()["dag_run"].conf.get("run_id", "airflow-manual")
        client = warehouse_client()
        try:
            return smoke.airflow_task_check(client, KafkaHook().client_options(), run_id)
        finally:
            client.close()

    check_services()


platform_smoke()
