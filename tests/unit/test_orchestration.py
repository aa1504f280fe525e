"""Orchestration conventions without services: DEFAULT_ARGS, the failure row built from an Airflow
context, the connections the runtime defines and what the hooks read from them (the official
ClickHouse hook's client arguments, the Kafka connection's bootstrap servers), and a callback that never
raises."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pendulum
import pytest
from airflow.providers.clickhousedb.hooks.clickhouse import ClickHouseHook
from airflow.sdk import Connection
from airflow.utils.state import TaskInstanceState
from hypothesis import assume, given
from hypothesis import strategies as st

from retail_hooks import KafkaHook
from retail_platform.kafka_security import client_options
from retail_platform.orchestration import DEFAULT_ARGS, failure_row, record_task_failure
from retail_platform.orchestration.connections import (
    KAFKA_CONN_ID,
    SPARK_CONN_ID,
    WAREHOUSE_CONN_ID,
    BadConnection,
    definitions,
    env_name,
    kafka_bootstrap,
    kafka_client_options,
)
from retail_platform.orchestration.failures import COLUMNS, MESSAGE_LIMIT
from retail_platform.runtime.airflow import Airflow
from retail_platform.settings import REPO_ROOT, get_settings

HOSTNAME = "ssl.endpoint.identification.algorithm"
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


def _runtime_connection(settings: object, conn_id: str) -> Connection:
    """A connection exactly as the local runtime exports it (AIRFLOW_CONN_<ID> JSON)."""
    env = Airflow(settings).environment()
    return Connection.from_json(env[env_name(conn_id)], conn_id=conn_id)


def test_warehouse_hook_client_arguments_from_the_runtime_connection():
    # The official provider's hook, reading the connection the runtime defines from the settings.
    settings = get_settings()
    conn = _runtime_connection(settings, WAREHOUSE_CONN_ID)
    hook = ClickHouseHook()
    hook.get_connection = lambda conn_id: conn  # resolved from the environment in Airflow
    kwargs = hook._get_client_kwargs()
    assert {k: kwargs[k] for k in ("host", "port", "username", "password", "database", "secure")} == {
        "host": settings.clickhouse_host,
        "port": settings.clickhouse_port,
        "username": settings.clickhouse_user,
        "password": settings.clickhouse_password,
        "database": settings.clickhouse_database,
        "secure": settings.clickhouse_url.startswith("https://"),
    }
    assert kwargs["connect_timeout"] == 10


def test_https_warehouse_connection_verifies_against_the_platform_ca():
    settings = replace(get_settings(), clickhouse_url="https://wh.internal:8443")
    extra = definitions(settings)[WAREHOUSE_CONN_ID]["extra"]
    assert extra["secure"] is True
    assert extra["client_kwargs"] == {"ca_cert": str(settings.tls_dir / "ca.crt")}


def test_kafka_and_spark_connections_carry_the_settings():
    settings = get_settings()
    kafka = _runtime_connection(settings, KAFKA_CONN_ID)
    assert (kafka.conn_type, kafka_bootstrap(kafka.extra_dejson)) == ("kafka", settings.kafka_bootstrap)
    spark = _runtime_connection(settings, SPARK_CONN_ID)
    assert (spark.conn_type, spark.host) == ("spark", settings.spark_master)


def test_hooks_resolve_their_connections_from_the_environment(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_CLICKHOUSE_UNIT",
        json.dumps({"conn_type": "clickhouse", "host": "10.0.0.9", "port": 18123, "schema": "retail"}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_UNIT", json.dumps({"conn_type": "kafka", "extra": {"bootstrap.servers": "b1:9092"}})
    )
    kwargs = ClickHouseHook(clickhouse_conn_id="clickhouse_unit")._get_client_kwargs()
    assert (kwargs["host"], kwargs["port"], kwargs["database"]) == ("10.0.0.9", 18123, "retail")
    assert KafkaHook("kafka_unit").client_options() == {"bootstrap_servers": "b1:9092"}


def test_kafka_connection_over_ssl_verifies_the_broker_against_the_platform_ca():
    settings = replace(get_settings(), kafka_security_protocol="SSL")
    extra = definitions(settings)[KAFKA_CONN_ID]["extra"]
    assert kafka_client_options(extra) == {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": "SSL",
        "ssl_cafile": str(settings.tls_dir / "ca.crt"),
        "ssl_check_hostname": True,
    }
    # The same options every other client of the platform gets from the settings.
    assert kafka_client_options(extra) == {"bootstrap_servers": settings.kafka_bootstrap, **client_options(settings)}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"bootstrap.servers": "b:9092", "security.protocol": "SASL_SSL"}, "not supported"),
        ({"bootstrap.servers": "b:9092", "security.protocol": "SSL"}, "needs 'ssl.ca.location'"),
        ({"bootstrap.servers": "b:9092", "security.protocol": "SSL", "ssl.ca.location": " "}, "needs"),
        (
            {"bootstrap.servers": "b:9092", "security.protocol": "SSL", "ssl.ca.location": "/ca", HOSTNAME: "x"},
            "is not 'https' or 'none'",
        ),
    ],
)
def test_kafka_connection_security_refused_with_what_to_fix(extra, message):
    with pytest.raises(BadConnection, match=message):
        kafka_client_options(extra)


_host = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,30}", fullmatch=True)
_server = st.builds(lambda h, p: f"{h}:{p}", _host, st.integers(1, 65535))


@given(st.lists(_server, min_size=1, max_size=4), st.sampled_from([",", ", "]))
def test_kafka_bootstrap_accepts_host_port_lists(servers, sep):
    assert kafka_bootstrap({"bootstrap.servers": sep.join(servers)}) == ",".join(servers)


@given(st.one_of(st.none(), st.integers(), st.text(max_size=40), st.lists(st.text(max_size=5), max_size=3)))
def test_kafka_bootstrap_refuses_anything_else_naming_the_connection(value):
    servers = value if isinstance(value, str) else None
    assume(servers is None or not _valid_servers(servers))
    with pytest.raises(BadConnection, match="connection 'kafka_x'.*AIRFLOW_CONN_KAFKA_X"):
        kafka_bootstrap({"bootstrap.servers": value}, "kafka_x")


def _valid_servers(text: str) -> bool:
    try:
        kafka_bootstrap({"bootstrap.servers": text})
    except BadConnection:
        return False
    return True


@pytest.mark.parametrize(
    "extra",
    [
        None,
        "bootstrap.servers=b:9092",
        [],
        {},
        {"bootstrap.servers": ""},
        {"bootstrap.servers": "b"},
        {"bootstrap.servers": "b:0"},
        {"bootstrap.servers": "b:65536"},
        {"bootstrap.servers": "b:9092,"},
        {"bootstrap.servers": ":9092"},
        {"bootstrap.servers": "b c:9092"},
        {"bootstrap.servers": "b:90a2"},
        {"bootstrap.servers": ["b:9092"]},
    ],
)
def test_kafka_bootstrap_hostile_extras(extra):
    with pytest.raises(BadConnection, match="bootstrap.servers"):
        kafka_bootstrap(extra)


@pytest.mark.parametrize("conn_json", [None, '{"conn_type": "clickhouse", "host": "127.0.0.1", "port": 1}'])
def test_callback_never_raises_when_the_warehouse_is_unreachable(monkeypatch, caplog, conn_json):
    # Unreachable (the unit guard refuses the socket) or not configured at all: logged, not raised,
    # so the task's own error stays the one Airflow reports.
    if conn_json:
        monkeypatch.setenv("AIRFLOW_CONN_CLICKHOUSE_PROBE", conn_json)
    with caplog.at_level(logging.ERROR, logger="retail_platform.orchestration.failures"):
        assert record_task_failure(_context(), conn_id="clickhouse_probe") is None
    assert "could not record the task failure" in caplog.text
