"""Orchestration conventions shared by every DAG: default task arguments, the platform's Airflow
connections (ids and definitions) and the task-failure callback that records each failed task try in
``ops_task_failures``. The Airflow-facing classes built on them (hooks, operators, assets) are in
``plugins/``.

Importing this package reads no settings and opens no connection: DAG files import it while the DAG
processor parses them. Everything that talks to a service happens inside the callback, at task time.
"""

from __future__ import annotations

from retail_platform.orchestration.defaults import DEFAULT_ARGS
from retail_platform.orchestration.failures import failure_row, record_task_failure

__all__ = ["DEFAULT_ARGS", "failure_row", "record_task_failure"]
