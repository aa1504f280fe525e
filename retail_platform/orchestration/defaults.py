"""``DEFAULT_ARGS``: the task defaults every DAG of the platform passes as ``default_args``.

Two retries two minutes apart ride out a warehouse or Spark restart; a task still needs its own
``execution_timeout`` (the DAG integrity test checks it), because a sensible bound depends on the task.
Both the retry and the failure callbacks record the try: each failed try is one row in
``ops_task_failures``, whether Airflow retries it or gives up.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from retail_platform.orchestration.failures import record_task_failure

OWNER = "data-platform"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "on_failure_callback": record_task_failure,
    "on_retry_callback": record_task_failure,
}
