"""The private PostgreSQL `up` runs for a postgresql Airflow URL on loopback: the URL's account works,
data survives down/up, down shuts it down cleanly, a second up is a no-op, and the superuser needs
its password. Only this service starts (seconds)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from retail_platform.runtime import process, stack
from retail_platform.runtime.postgres import Postgres
from retail_platform.settings import Settings, load_settings

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def pg_settings() -> Iterator[Settings]:
    # Not pytest's tmp_path: under root the server runs as the postgres user, which must be able to
    # traverse every folder above its data (pytest's base temp folder is private to its owner).
    base = Path(tempfile.mkdtemp(prefix="retail-pg-"))
    base.chmod(0o755)
    port = _free_port()
    settings = load_settings(
        {
            "RETAIL_STATE_DIR": str(base / "state"),
            "RETAIL_AIRFLOW_DATABASE_URL": f"postgresql+psycopg2://airflow:air%40flow@127.0.0.1:{port}/airflow",
        }
    )
    stack.up(settings, only=("postgres",), log=lambda _: None)
    yield settings
    stack.down(settings, only=("postgres",), log=lambda _: None)
    shutil.rmtree(base, ignore_errors=True)


def _connect(settings: Settings):
    # Exactly the URL Airflow is given (password percent-encoded), less SQLAlchemy's driver suffix.
    return psycopg2.connect(settings.airflow_database_url.replace("postgresql+psycopg2://", "postgresql://"))


def _cluster_state(svc: Postgres) -> str:
    found = svc.find_binaries()
    assert found is not None
    out = subprocess.run(
        [str(found[0].parent / "pg_controldata"), str(svc.data)], capture_output=True, text=True, check=True
    ).stdout
    return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Database cluster state"))


def test_the_urls_account_owns_its_database(pg_settings):
    conn = _connect(pg_settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database(), rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cur.fetchone() == ("airflow", "airflow", False)
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'airflow'")
            assert cur.fetchone() == ("airflow",)
    finally:
        conn.close()


def test_the_superuser_needs_its_password(pg_settings):
    host, port = pg_settings.airflow_postgres or ("", 0)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host=host, port=port, user="postgres", password="postgres", dbname="postgres")
    svc = Postgres(pg_settings)
    assert svc.healthy()  # with the generated password
    assert svc.password_file.stat().st_mode & 0o777 == 0o600


def test_up_while_running_is_a_noop(pg_settings):
    (spec,) = Postgres(pg_settings).processes(stack.run_dir(pg_settings))
    before = process.running_pid(spec)
    assert before is not None
    stack.up(pg_settings, only=("postgres",), log=lambda _: None)
    assert process.running_pid(spec) == before


def test_data_survives_down_and_up(pg_settings):
    svc = Postgres(pg_settings)
    conn = _connect(pg_settings)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS kept (marker text)")
        cur.execute("INSERT INTO kept VALUES (%s)", (f"kept-{id(conn)}",))
    marker = f"kept-{id(conn)}"
    idle = _connect(pg_settings)  # a client left open must not hold the shutdown up

    stack.down(pg_settings, only=("postgres",), log=lambda _: None)
    host, port = pg_settings.airflow_postgres or ("", 0)
    assert not process.port_open(host, port)
    assert _cluster_state(svc) == "shut down"  # a clean (fast) shutdown, no crash recovery next time
    idle.close()
    conn.close()

    stack.up(pg_settings, only=("postgres",), log=lambda _: None)
    conn = _connect(pg_settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT marker FROM kept")
            assert marker in [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
    (spec,) = svc.processes(stack.run_dir(pg_settings))
    assert "not properly shut down" not in spec.log_file.read_text()
