"""A small client for Airflow 3's REST API (v2): token, unpause, trigger or backfill, await a run."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from retail_platform import tls
from retail_platform.retry import poll, retrying
from retail_platform.settings import Settings, get_settings

TERMINAL_STATES = {"success", "failed"}


class AirflowApiError(RuntimeError):
    pass


class AirflowApi:
    def __init__(self, settings: Settings | None = None) -> None:
        self.s = settings or get_settings()
        self._token: str | None = None
        self._context: ssl.SSLContext | None = None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, auth: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.s.airflow_url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token()}")
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.ssl_context()) as reply:
                return json.load(reply)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise AirflowApiError(f"{method} {path}: HTTP {exc.code}: {detail}") from None

    def ssl_context(self) -> ssl.SSLContext | None:
        """Over HTTPS, the context verifying against the platform's ca.crt: made once per client (the
        polling loops call the API every few seconds)."""
        if self.s.airflow_tls and self._context is None:
            self._context = tls.client_context(self.s.tls_dir)
        return self._context

    def token(self) -> str:
        if self._token is None:
            reply = self._call(
                "POST",
                "/auth/token",
                {"username": self.s.airflow_user, "password": self.s.airflow_password},
                auth=False,
            )
            self._token = reply["access_token"]
        return self._token

    def dag(self, dag_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v2/dags/{dag_id}")

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the dag-processor has parsed the DAG (a new DAG is unknown for a few seconds)."""

        def unknown_yet(exc: BaseException) -> bool:
            return isinstance(exc, AirflowApiError) and "HTTP 404" in str(exc)

        controller = retrying(unknown_yet, what=f"DAG {dag_id}", within=timeout, first_wait=2)
        return controller(self.dag, dag_id)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        reply = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return reply["dag_run_id"]

    def backfill(
        self, dag_id: str, from_date: datetime, to_date: datetime, conf: dict[str, Any], reprocess: str = "completed"
    ) -> dict[str, Any]:
        """Create a backfill of the DAG's scheduled runs whose logical dates lie in [from_date, to_date]
        (each with ``conf``); ``reprocess``: what to do with a run that already exists for a date
        (none, failed, completed). Its runs start once the DAG is unpaused."""
        body = {
            "dag_id": dag_id,
            "from_date": from_date.isoformat(),
            "to_date": to_date.isoformat(),
            "dag_run_conf": conf,
            "reprocess_behavior": reprocess,
            "max_active_runs": 1,
        }
        return self._call("POST", "/api/v2/backfills", body)

    def cancel_backfill(self, backfill_id: int) -> None:
        """Cancel a backfill: its runs not started yet will not start (a DAG holds one backfill at a time)."""
        self._call("PUT", f"/api/v2/backfills/{backfill_id}/cancel")

    def runs_between(self, dag_id: str, first: datetime, last: datetime) -> list[dict[str, Any]]:
        """The DAG's runs whose logical date lies in [first, last]."""
        query = urllib.parse.urlencode({"logical_date_gte": first.isoformat(), "logical_date_lte": last.isoformat()})
        return list(self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns?{query}")["dag_runs"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        quoted = urllib.parse.quote(run_id, safe="")
        reply = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in reply["task_instances"]}

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        state = poll(
            lambda: self.run(dag_id, run_id)["state"], TERMINAL_STATES.__contains__, timeout=timeout, interval=2
        )
        if state not in TERMINAL_STATES:
            raise AirflowApiError(f"{dag_id} run {run_id} still {state} after {timeout:.0f}s")
        return str(state)
