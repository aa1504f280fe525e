"""The demo's smoke scenario against the real stack: Kafka round trip, warehouse round trip, a
Spark job reading a topic through the Kafka connector, and a DAG run triggered through Airflow's
REST API. Each check is verified by the rows it left in the warehouse."""

from __future__ import annotations

import subprocess
import sys

import pytest

from retail_platform import smoke
from retail_platform.settings import REPO_ROOT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.warehouse,
    pytest.mark.kafka,
    pytest.mark.spark,
    pytest.mark.airflow,
]


def test_smoke_scenario_proves_every_service(airflow):
    report = smoke.run(airflow, log=lambda _: None)
    assert {r.component: r.ok for r in report.results} == {
        "warehouse": True,
        "kafka": True,
        "spark": True,
        "airflow": True,
    }, [r.detail for r in report.results if not r.ok]
    # 100 events consumed by the Kafka client and counted by Spark; one row per other check.
    assert smoke.recorded_checks(airflow, report.run_id) == {"warehouse": 1, "kafka": 100, "spark": 100, "airflow": 1}


def test_status_command_reports_every_service_healthy(airflow):
    result = subprocess.run(
        [sys.executable, "-m", "retail_platform", "status"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("warehouse", "kafka", "airflow"):
        assert any(line.startswith(name) and "healthy" in line for line in result.stdout.splitlines())
