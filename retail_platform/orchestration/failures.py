"""The task-failure callback: one row per failed task try in ``ops_task_failures``.

Airflow 3 runs a task's ``on_failure_callback`` (last try failed) and ``on_retry_callback`` (a try
failed, another follows) in the task's own worker process, after the try's state is decided, with the
task's context. The callback must never raise: Airflow would log the callback's error next to the
task's and an operator could read the wrong one, and a warehouse outage must not turn into a second
failure. So errors reaching the warehouse are logged and swallowed; the task's own error stays what
the task reports.

``failure_row`` is pure (context in, row out) so it is unit-tested without Airflow running.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from retail_platform.orchestration.connections import WAREHOUSE_CONN_ID

log = logging.getLogger(__name__)

TABLE = "ops_task_failures"
# A traceback-sized message is enough to recognise the error; the full log is at log_url.
MESSAGE_LIMIT = 4000

COLUMNS = (
    "dag_id",
    "task_id",
    "run_id",
    "map_index",
    "try_number",
    "state",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "failed_at",
    "exception_class",
    "exception_message",
    "log_url",
    "hostname",
)


def _utc(value: Any) -> datetime | None:
    """A timezone-aware UTC ``datetime`` (pendulum DateTimes are datetimes), or None."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 15] + "... [truncated]"


def _exception_fields(error: Any) -> tuple[str, str]:
    if error is None:
        return "", ""
    if isinstance(error, BaseException):
        cls = type(error)
        name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
        return name, _truncate(str(error))
    # Airflow may hand over a message string (e.g. a task killed by its supervisor).
    return "", _truncate(str(error))


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    try:
        value = getattr(obj, name)
    except Exception:  # a property of the runtime task instance may need the supervisor
        return default
    return default if value is None else value


def failure_row(context: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """The ``ops_task_failures`` row for the try described by an Airflow task context.

    Reads only what every Airflow 3 context has (``ti``, ``dag_run``, ``run_id``, ``exception``,
    ``logical_date``, ``data_interval_start/end``) and tolerates any of them missing: a row with
    blanks is better than no row.
    """
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    task = context.get("task")
    state = _attr(ti, "state", "")
    exception_class, exception_message = _exception_fields(context.get("exception"))
    map_index = _attr(ti, "map_index", -1)
    return {
        "dag_id": str(_attr(ti, "dag_id", "") or _attr(dag_run, "dag_id", "") or _attr(task, "dag_id", "")),
        "task_id": str(_attr(ti, "task_id", "") or _attr(task, "task_id", "")),
        "run_id": str(context.get("run_id") or _attr(ti, "run_id", "") or _attr(dag_run, "run_id", "")),
        "map_index": int(map_index),
        "try_number": int(_attr(ti, "try_number", 0)),
        "state": str(getattr(state, "value", state) or ""),
        "logical_date": _utc(context.get("logical_date") or _attr(dag_run, "logical_date")),
        "data_interval_start": _utc(context.get("data_interval_start") or _attr(dag_run, "data_interval_start")),
        "data_interval_end": _utc(context.get("data_interval_end") or _attr(dag_run, "data_interval_end")),
        "failed_at": _utc(now) or datetime.now(timezone.utc),
        "exception_class": exception_class,
        "exception_message": exception_message,
        "log_url": str(_attr(ti, "log_url", "")),
        "hostname": str(_attr(ti, "hostname", "") or socket.gethostname()),
    }


# A callback must not hold a worker slot for long on a warehouse that accepts and then stalls.
CALLBACK_TIMEOUTS = {"connect_timeout": 10, "send_receive_timeout": 60}


def record_task_failure(context: Mapping[str, Any], *, conn_id: str = WAREHOUSE_CONN_ID) -> None:
    """Airflow failure/retry callback: insert the try's row through the official ClickHouse hook and
    the ``conn_id`` connection; log and swallow any error."""
    try:
        from airflow.providers.clickhousedb.hooks.clickhouse import ClickHouseHook

        row = failure_row(context)
        hook = ClickHouseHook(clickhouse_conn_id=conn_id, client_kwargs=CALLBACK_TIMEOUTS)
        hook.bulk_insert_rows(TABLE, [tuple(row[c] for c in COLUMNS)], column_names=list(COLUMNS))
        log.info("recorded failure of %s.%s try %s", row["dag_id"], row["task_id"], row["try_number"])
    except Exception:
        log.exception("could not record the task failure in %s (the task's own error is above)", TABLE)
