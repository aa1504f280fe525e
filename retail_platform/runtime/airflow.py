"""The local profile's Airflow 3: api-server, scheduler, dag-processor and triggerer with the
LocalExecutor. Its metadata database is RETAIL_AIRFLOW_DATABASE_URL: SQLite under the state folder by
default; a postgresql URL on loopback is the private PostgreSQL `up` starts first (runtime/postgres.py).
All configuration is environment (AIRFLOW__*, AIRFLOW_CONN_*), derived from the platform settings,
so nothing is clicked in the UI and every process agrees."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import urllib.request
from pathlib import Path

from retail_platform import tls
from retail_platform.orchestration.connections import definitions, env_name
from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.runtime.process import ProcessSpec
from retail_platform.settings import REPO_ROOT, Settings

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
PLUGINS_FOLDER = REPO_ROOT / "plugins"


class Airflow:
    name = "airflow"
    needs: tuple[str, ...]

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.home = settings.state_dir / "airflow"
        # On PostgreSQL the database server must be up before `airflow db migrate`.
        self.needs = ("postgres",) if settings.airflow_postgres is not None else ()

    def ports(self) -> list[int]:
        return [self.s.airflow_port]

    def _secrets(self) -> dict[str, str]:
        # Every component must share the JWT secret or tasks cannot talk to the execution API.
        # Created by prepare(); stop and status need no secrets and must not create state.
        path = self.home / "secrets.json"
        return json.loads(path.read_text()) if path.exists() else {"jwt": "", "api": ""}

    def _create_secrets(self) -> None:
        path = self.home / "secrets.json"
        if not path.exists():
            path.write_text(json.dumps({"jwt": secrets.token_urlsafe(32), "api": secrets.token_urlsafe(32)}))
            path.chmod(0o600)

    def environment(self) -> dict[str, str]:
        s = self.s
        keys = self._secrets()
        # The warehouse, Kafka and Spark connections every task reaches its systems through.
        connections = {env_name(conn_id): value for conn_id, value in definitions(s).items()}
        return {
            **s.source,
            "PATH": f"{s.venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": str(REPO_ROOT),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            # plugins/ holds the hooks, operators and assets the DAGs import; Airflow puts this folder
            # on sys.path of every component and task process.
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Two cores: the default parallelism (32) would pre-fork 32 worker processes.
            "AIRFLOW__CORE__PARALLELISM": str(s.airflow_parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(s.airflow_parallelism),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": s.airflow_database_url,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{s.airflow_user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__API__HOST": s.airflow_host,
            "AIRFLOW__API__PORT": str(s.airflow_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": s.airflow_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{s.airflow_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt"],
            "AIRFLOW__API__SECRET_KEY": keys["api"],
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            **self._tls(),
            **{name: json.dumps(value) for name, value in connections.items()},
        }

    def _tls(self) -> dict[str, str]:
        """With an https:// RETAIL_AIRFLOW_URL the api-server (UI, REST, execution API) serves TLS with the
        local CA's certificate, and the task processes' execution-API client verifies it against that CA
        only ([api] ssl_ca_file; no public CAs)."""
        if not self.s.airflow_tls:
            return {}
        d = self.s.tls_dir
        return {
            "AIRFLOW__API__SSL_CERT": str(d / "airflow.crt"),
            "AIRFLOW__API__SSL_KEY": str(d / "airflow.key"),
            "AIRFLOW__API__SSL_CA_FILE": str(d / "ca.crt"),
            "AIRFLOW__API__CLIENT_USE_PUBLIC_CERTS": "False",
        }

    def prepare(self) -> None:
        airflow_bin = self.s.venv_bin / "airflow"
        if not airflow_bin.exists():
            raise RuntimeStartError(f"{airflow_bin} is missing; run `make setup`")
        self.home.mkdir(parents=True, exist_ok=True)
        if self.s.airflow_database_url.startswith("sqlite:///"):
            # sqlite:////abs/path/airflow.db: SQLite creates the file, not its folder.
            Path(self.s.airflow_database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self._create_secrets()
        if self.s.airflow_tls:
            tls.ensure_local(self.s.tls_dir, "airflow", self.s.airflow_host)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({self.s.airflow_user: self.s.airflow_password}))
        passwords.chmod(0o600)
        # Operators run the `airflow` CLI (backfills, unpause) with the very environment of the stack.
        env_file = self.home / "env.sh"
        env_file.write_text(
            "# Generated by `make up`: the environment of the local Airflow (source it to use the airflow CLI).\n"
            + "".join(f"export {name}={shlex.quote(value)}\n" for name, value in sorted(self.environment().items()))
        )
        env_file.chmod(0o600)
        # `db migrate` is idempotent and quick when the schema is current.
        result = subprocess.run(
            [str(airflow_bin), "db", "migrate"],
            env={**os.environ, **self.environment()},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeStartError(f"`airflow db migrate` failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    def processes(self, run_dir: Path) -> list[ProcessSpec]:
        env = self.environment()
        airflow_bin = str(self.s.venv_bin / "airflow")
        return [
            ProcessSpec(f"airflow-{component}", [airflow_bin, component], run_dir, env=env, stop_timeout=45)
            for component in COMPONENTS
        ]

    def healthy(self) -> bool:
        context = tls.client_context(self.s.tls_dir) if self.s.airflow_tls else None
        with urllib.request.urlopen(f"{self.s.airflow_url}/api/v2/monitor/health", timeout=3, context=context) as reply:
            health = json.load(reply)
        return all(
            health.get(part, {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )

    def after_start(self) -> None:
        pass

    def describe(self) -> str:
        return f"Airflow UI {self.s.airflow_url} (login {self.s.airflow_user} / {self.s.airflow_password})"
