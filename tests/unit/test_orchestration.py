"""Orchestration conventions without services: DEFAULT_ARGS, the failure row built from an Airflow
context, the hook's client arguments from the runtime's connection, and a callback that never raises."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pendulum
import pytest
from airflow.sdk import Connection
from airflow.utils.state import TaskInstanceState

from retail_platform.orchestration import DEFAULT_ARGS, ClickHouseHook, failure_row, record_task_failure
from retail_platform.orchestration.failures import COLUMNS, MESSAGE_LIMIT
from retail_platform.orchestration.hooks import client_kwargs
from retail_platform.settings import REPO_ROOT

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)


def _ti(**overrides: object) -> SimpleNamespace:
    fields = {
        "dag_id": "daily_etl",
        "task_id": "recompute_day",
        "run_id": "scheduled__2026-11-20T08:00:00+00:00",
        "try_number": 2,
        "map_index": -1,
        "state": TaskInstanceState.UP_FOR_RETRY,
        "log_url": "http://127.0.0.1:8080/dags/daily_etl/runs/x/tasks/recompute_day?try_number=2",
        "hostname": "worker-1",
    }
    return SimpleNamespace(**{**fields, **overrides})


def _context(**overrides: object) -> dict[str, object]:
    ti = _ti()
    context = {
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "logical_date": pendulum.datetime(2026, 11, 20, 8, tz="UTC"),
        "data_interval_start": pendulum.datetime(2026, 11, 20, tz="Europe/Berlin"),
        "data_interval_end": datetime(2026, 11, 21, 8),  # naive: taken as UTC
        "exception": KeyError("fact_sales"),
    }
    return {**context, **overrides}


def test_default_args_are_the_platform_conventions():
    assert DEFAULT_ARGS["owner"] == "data-platform"
    assert DEFAULT_ARGS["retries"] == 2
    assert DEFAULT_ARGS["retry_delay"] == timedelta(minutes=2)
    # Every failed try is recorded: the last one (failure) and the ones Airflow retries.
    assert DEFAULT_ARGS["on_failure_callback"] is record_task_failure
    assert DEFAULT_ARGS["on_retry_callback"] is record_task_failure


def test_failure_row_from_an_airflow_context():
    row = failure_row(_context(), now=NOW)
    assert tuple(row) == COLUMNS
    assert row == {
        "dag_id": "daily_etl",
        "task_id": "recompute_day",
        "run_id": "scheduled__2026-11-20T08:00:00+00:00",
        "map_index": -1,
        "try_number": 2,
        "state": "up_for_retry",
        "logical_date": datetime(2026, 11, 20, 8, tzinfo=timezone.utc),
        "data_interval_start": datetime(2026, 11, 19, 23, tzinfo=timezone.utc),
        "data_interval_end": datetime(2026, 11, 21, 8, tzinfo=timezone.utc),
        "failed_at": NOW,
        "exception_class": "KeyError",
        "exception_message": "'fact_sales'",
        "log_url": "http://127.0.0.1:8080/dags/daily_etl/runs/x/tasks/recompute_day?try_number=2",
        "hostname": "worker-1",
    }
    assert all(v.tzinfo is timezone.utc for k, v in row.items() if k.endswith(("_date", "_start", "_end", "_at")))


def test_failure_row_qualifies_non_builtin_exceptions_and_truncates_long_messages():
    from retail_platform.batch.quality import DataQualityError

    row = failure_row(_context(exception=DataQualityError("x" * 10_000)), now=NOW)
    assert row["exception_class"] == "retail_platform.batch.quality.DataQualityError"
    assert len(row["exception_message"]) == MESSAGE_LIMIT
    assert row["exception_message"].endswith("... [truncated]")


def test_failure_row_takes_a_message_when_airflow_gives_no_exception_object():
    row = failure_row(_context(exception="Task received SIGTERM signal"), now=NOW)
    assert (row["exception_class"], row["exception_message"]) == ("", "Task received SIGTERM signal")


def test_failure_row_of_a_mapped_task_without_logical_date():
    context = _context(ti=_ti(map_index=3, state=TaskInstanceState.FAILED), logical_date=None)
    del context["task_instance"], context["data_interval_start"], context["data_interval_end"]
    row = failure_row(context, now=NOW)
    assert (row["map_index"], row["state"]) == (3, "failed")
    assert row["logical_date"] is row["data_interval_start"] is row["data_interval_end"] is None


def test_failure_row_tolerates_a_sparse_context_and_a_broken_task_instance_property():
    class BrokenTI:
        dag_id, task_id, run_id, try_number, map_index, state, hostname = "d", "t", "r", 1, -1, None, None

        @property
        def log_url(self) -> str:
            raise RuntimeError("needs the supervisor")

    row = failure_row({"ti": BrokenTI()}, now=NOW)
    assert (row["dag_id"], row["task_id"], row["run_id"], row["log_url"]) == ("d", "t", "r", "")
    assert row["hostname"]  # falls back to this machine's name
    assert failure_row({})["failed_at"].tzinfo is timezone.utc


def test_failure_row_columns_are_the_tables_columns():
    sql = (REPO_ROOT / "sql" / "0009_ops_task_runs.sql").read_text()
    body = sql.split("CREATE TABLE IF NOT EXISTS {database}.ops_task_failures", 1)[1].split("ENGINE", 1)[0]
    assert tuple(re.findall(r"^ {4}(\w+) ", body, re.MULTILINE)) == COLUMNS


def test_hook_client_arguments_from_the_runtime_connection():
    # The JSON the local runtime exports as AIRFLOW_CONN_CLICKHOUSE_DEFAULT.
    conn = Connection.from_json(
        json.dumps(
            {
                "conn_type": "generic",
                "host": "127.0.0.1",
                "port": 8123,
                "login": "retail",
                "password": "pw",
                "schema": "retail",
            }
        ),
        conn_id="clickhouse_default",
    )
    kwargs = client_kwargs(conn)
    assert {k: kwargs[k] for k in ("host", "port", "interface", "username", "password", "database")} == {
        "host": "127.0.0.1",
        "port": 8123,
        "interface": "http",
        "username": "retail",
        "password": "pw",
        "database": "retail",
    }
    secure = Connection(conn_id="c", conn_type="generic", host="ch.example", extra=json.dumps({"secure": True}))
    assert (client_kwargs(secure)["interface"], client_kwargs(secure)["port"]) == ("https", 8443)


def test_hook_resolves_its_connection_from_the_environment(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_CLICKHOUSE_UNIT",
        json.dumps({"conn_type": "generic", "host": "10.0.0.9", "port": 18123, "schema": "retail"}),
    )
    conn = ClickHouseHook("clickhouse_unit").get_connection("clickhouse_unit")
    assert (conn.host, conn.port, conn.schema) == ("10.0.0.9", 18123, "retail")


@pytest.mark.parametrize("conn_json", [None, '{"conn_type": "generic", "host": "127.0.0.1", "port": 1}'])
def test_callback_never_raises_when_the_warehouse_is_unreachable(monkeypatch, caplog, conn_json):
    # Unreachable (the unit guard refuses the socket) or not configured at all: logged, not raised,
    # so the task's own error stays the one Airflow reports.
    if conn_json:
        monkeypatch.setenv("AIRFLOW_CONN_CLICKHOUSE_PROBE", conn_json)
    with caplog.at_level(logging.ERROR, logger="retail_platform.orchestration.failures"):
        assert record_task_failure(_context(), conn_id="clickhouse_probe") is None
    assert "could not record the task failure" in caplog.text
