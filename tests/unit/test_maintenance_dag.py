"""The maintenance DAG's params reach the job as the arguments it parses, and their defaults are the
maintenance defaults (the DAG and the job cannot drift apart)."""

from __future__ import annotations

import runpy

import pytest

from retail_platform.maintenance.config import MaintenanceConfig, from_arguments
from retail_platform.orchestration import record_task_failure
from retail_platform.settings import REPO_ROOT
from spark_jobs.maintenance import parse_args


@pytest.fixture(scope="module")
def dag():
    return runpy.run_path(str(REPO_ROOT / "dags" / "maintenance.py"))["maintenance"]()


def _params(dag, **overrides):
    return {**{k: dag.params[k] for k in dag.params}, **overrides}


def _job_config(dag, params) -> tuple[MaintenanceConfig, str]:
    task = dag.get_task("lake_maintenance")
    args = task.render_template(task.application_args, {"params": params, "run_id": "scheduled__2026-11-21"})
    parsed = parse_args(args)
    return from_arguments(parsed), parsed.run_id


def test_param_defaults_are_the_maintenance_defaults(dag):
    config, run_id = _job_config(dag, _params(dag))
    assert config == MaintenanceConfig()
    assert run_id == "scheduled__2026-11-21"
    warehouse = MaintenanceConfig.from_params(
        {k: dag.params[k] for k in ("warehouse_optimize_days", "warehouse_retention_days")}
    )
    assert warehouse == MaintenanceConfig()


def test_a_triggered_run_can_change_the_windows(dag):
    config, _ = _job_config(dag, _params(dag, bronze_retention_days=365, silver_retention_days=1000))
    assert (config.bronze_retention_days, config.silver_retention_days) == (365, 1000)
    config, _ = _job_config(dag, _params(dag, quarantine_retention_days=None))
    assert config.quarantine_retention_days is None


def test_every_task_records_its_failures(dag):
    for task in dag.tasks:
        assert record_task_failure in task.on_failure_callback
        assert record_task_failure in task.on_retry_callback
