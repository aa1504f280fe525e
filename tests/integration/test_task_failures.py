"""A failed task try lands in ops_task_failures: the callback DEFAULT_ARGS gives every task, run by
Airflow's own task-runner code path for state-change callbacks, against the real warehouse endpoint
through the ``clickhouse_default`` connection exactly as the runtime defines it for Airflow."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pendulum
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]


@pytest.fixture
def clickhouse_connection(warehouse, monkeypatch):
    """AIRFLOW_CONN_CLICKHOUSE_DEFAULT as the local runtime exports it to every Airflow process."""
    from retail_platform.runtime.airflow import Airflow

    conn = Airflow(warehouse).environment()["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"]
    monkeypatch.setenv("AIRFLOW_CONN_CLICKHOUSE_DEFAULT", conn)
    return json.loads(conn)


def _failed_try(state: str, try_number: int, error: BaseException, run_id: str) -> tuple[object, dict]:
    """A real task of a DAG using DEFAULT_ARGS, its runtime task instance and the context Airflow's
    task runner hands to the callbacks after a failed try."""
    from airflow.sdk import DAG, task
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    from airflow.utils.state import TaskInstanceState

    from retail_platform.orchestration import DEFAULT_ARGS

    with DAG(
        "ops_failure_probe",
        schedule=None,
        start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
        default_args=DEFAULT_ARGS,
    ) as dag:

        @task(execution_timeout=pendulum.duration(minutes=1))
        def load_day() -> None:
            raise error

        load_day()
    op = dag.get_task("load_day")
    ti = RuntimeTaskInstance.model_construct(
        id=uuid.uuid4(),
        task_id=op.task_id,
        dag_id=dag.dag_id,
        run_id=run_id,
        try_number=try_number,
        map_index=-1,
        dag_version_id=uuid.uuid4(),
        task=op,
        start_date=datetime.now(timezone.utc),
        state=TaskInstanceState(state),
        hostname="worker-probe",
    )
    logical = pendulum.datetime(2026, 11, 20, 8, tz="UTC")
    context = {
        "dag": dag,
        "task": op,
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "logical_date": logical,
        "data_interval_start": logical.subtract(days=1),
        "data_interval_end": logical,
        "outlet_events": {},
        "exception": error,
    }
    return op, context


def _rows(client, run_id: str) -> list[tuple]:
    return client.query(
        "SELECT try_number, state, exception_class, exception_message, log_url, hostname, "
        "logical_date, data_interval_start FROM ops_task_failures FINAL WHERE run_id = {r:String} "
        "ORDER BY try_number",
        parameters={"r": run_id},
    ).result_rows


def test_every_failed_try_is_recorded_once(clickhouse_connection, warehouse_client_factory):
    import structlog
    from airflow.sdk.execution_time.task_runner import _run_task_state_change_callbacks

    client = warehouse_client_factory()
    run_id = f"manual__{uuid.uuid4().hex}"
    log = structlog.get_logger("test")

    # Try 1 fails and Airflow retries it (on_retry_callback); try 2 fails for good (on_failure_callback).
    op, context = _failed_try("up_for_retry", 1, ConnectionResetError("warehouse closed the connection"), run_id)
    _run_task_state_change_callbacks(op, "on_retry_callback", context, log)
    op, context = _failed_try("failed", 2, ValueError("day 2026-11-20 has no bronze files"), run_id)
    _run_task_state_change_callbacks(op, "on_failure_callback", context, log)
    # A callback that runs again for the same try (worker retrying it) does not add a row.
    _run_task_state_change_callbacks(op, "on_failure_callback", context, log)

    rows = _rows(client, run_id)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (1, "up_for_retry", "ConnectionResetError", "warehouse closed the connection"),
        (2, "failed", "ValueError", "day 2026-11-20 has no bronze files"),
    ]
    assert rows[1][4].endswith("/dags/ops_failure_probe/runs/" + run_id + "/tasks/load_day?try_number=2")
    assert rows[1][5] == "worker-probe"
    assert rows[1][6].replace(tzinfo=timezone.utc) == datetime(2026, 11, 20, 8, tzinfo=timezone.utc)
    assert rows[1][7].replace(tzinfo=timezone.utc) == datetime(2026, 11, 19, 8, tzinfo=timezone.utc)


def test_a_missing_table_does_not_mask_the_tasks_error(clickhouse_connection, warehouse_client_factory, caplog):
    from retail_platform.orchestration import failures

    run_id = f"manual__{uuid.uuid4().hex}"
    _, context = _failed_try("failed", 1, RuntimeError("the task's own error"), run_id)
    # The warehouse answers but refuses the insert (wrong table): logged, never raised.
    original = failures.TABLE
    failures.TABLE = "no_such_table"
    try:
        failures.record_task_failure(context)
    finally:
        failures.TABLE = original
    assert "could not record the task failure" in caplog.text
    assert _rows(warehouse_client_factory(), run_id) == []
