"""Airflow 3 on the private PostgreSQL, as the cluster profile runs it: `up` starts PostgreSQL, then
Airflow migrates its metadata into it; the api-server reports the metadatabase healthy, and the
tables Airflow writes (its schema version, the DAGs the dag-processor parsed) are in PostgreSQL.

The cluster profile's settings (CLUSTER_OVERLAY) with every port swapped for a free one and a state
folder of its own, so a running stack or another test run is never touched; only PostgreSQL and
Airflow start.
Not part of `make test`: `make test-cluster` runs it (minutes: Airflow's migrations and start)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from retail_platform.airflow_api import AirflowApi
from retail_platform.retry import poll
from retail_platform.runtime import stack
from retail_platform.runtime.airflow import Airflow
from retail_platform.runtime.postgres import Postgres
from retail_platform.settings import CLUSTER_OVERLAY, Settings, load_settings

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.airflow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_ports(value: str) -> str:
    """Every 127.0.0.1:<port> of a setting moved to a free port."""
    return re.sub(r"127\.0\.0\.1:\d+", lambda _: f"127.0.0.1:{_free_port()}", value)


@pytest.fixture(scope="module")
def cluster_settings() -> Iterator[Settings]:
    # Not pytest's tmp_path: under root PostgreSQL runs as the postgres user, which must be able to
    # traverse every folder above its data (pytest's base temp folder is private to its owner).
    base = Path(tempfile.mkdtemp(prefix="retail-cluster-airflow-"))
    base.chmod(0o755)
    environ = {name: _free_ports(value) for name, value in CLUSTER_OVERLAY.items()}
    environ["RETAIL_PROFILE"] = "cluster"
    environ["RETAIL_STATE_DIR"] = str(base / "state")
    environ["RETAIL_KAFKA_CONTROLLER_PORT"] = str(_free_port())
    # The Airflow processes inherit this test process's environment, where tests/conftest.py sets
    # RETAIL_SETTINGS=test; these settings (passed on through Settings.source) are not the test overlay.
    environ["RETAIL_SETTINGS"] = ""
    settings = load_settings(environ)
    assert settings.airflow_postgres is not None
    stack.up(settings, only=("airflow",), log=print)
    yield settings
    stack.down(settings, only=("airflow", "postgres"), log=print)
    shutil.rmtree(base, ignore_errors=True)


def _connect(settings: Settings):
    return psycopg2.connect(settings.airflow_database_url.replace("postgresql+psycopg2://", "postgresql://"))


def test_airflow_reports_its_postgresql_metadatabase_healthy(cluster_settings):
    assert Postgres(cluster_settings).healthy()
    assert Airflow(cluster_settings).healthy()  # every component, the metadatabase included
    with urllib.request.urlopen(f"{cluster_settings.airflow_url}/api/v2/monitor/health", timeout=10) as reply:
        health = json.load(reply)
    assert health["metadatabase"]["status"] == "healthy"
    # No SQLite database beside it: the metadata lives in PostgreSQL only.
    assert not (cluster_settings.state_dir / "airflow" / "airflow.db").exists()


def test_airflows_metadata_tables_live_in_postgresql(cluster_settings):
    conn = _connect(cluster_settings)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version_num FROM alembic_version")
            assert len(cur.fetchall()) == 1  # `airflow db migrate` ran against this database
            cur.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'dag'")
            assert cur.fetchone() == ("airflow",)

        # The DAGs the REST API lists are the rows the dag-processor wrote into PostgreSQL's `dag` table.
        api = AirflowApi(cluster_settings)

        def listed_and_stored() -> tuple[set[str], set[str]]:
            listed = {d["dag_id"] for d in api._call("GET", "/api/v2/dags?limit=100")["dags"]}
            with conn.cursor() as cur:
                cur.execute("SELECT dag_id FROM dag")
                return listed, {row[0] for row in cur.fetchall()}

        listed, stored = poll(
            listed_and_stored, lambda both: bool(both[0]) and both[0] == both[1], timeout=120, interval=2
        )
        assert listed, "the dag-processor parsed no DAG"
        assert listed == stored
    finally:
        conn.close()
