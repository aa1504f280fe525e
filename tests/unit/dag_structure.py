"""Load every DAG file with Airflow's DagBag in a clean child process and print its structure.

A child process, because Airflow reads its configuration when first imported: here it gets a
scratch AIRFLOW_HOME and a platform configuration that fails on use, so a DAG file that reads
settings at import time fails to import.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

from airflow.dag_processing.dagbag import DagBag


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def structure(dag_folder: str) -> dict[str, object]:
    bag = DagBag(dag_folder)
    dags = {}
    for dag_id, dag in sorted(bag.dags.items()):
        dags[dag_id] = {
            "file": dag.fileloc.rsplit("/", 1)[-1],
            "schedule": str(dag.timetable.__class__.__name__),
            "catchup": dag.catchup,
            "owner": dag.owner,
            "tags": sorted(dag.tags),
            "tasks": {
                t.task_id: {
                    "operator": t.task_type,
                    "retries": t.retries,
                    "execution_timeout_s": _seconds(t.execution_timeout),
                    "downstream": sorted(t.downstream_task_ids),
                }
                for t in sorted(dag.tasks, key=lambda t: t.task_id)
            },
        }
    return {"import_errors": {k.rsplit("/", 1)[-1]: v for k, v in bag.import_errors.items()}, "dags": dags}


if __name__ == "__main__":
    print(json.dumps(structure(sys.argv[1]), indent=2, sort_keys=True))
