"""daily_etl through a real Airflow 3: unpause it, `airflow backfill create` one day with the running
Airflow's environment, await the run, and find that day's facts, serving aggregates and watermark in
the warehouse. Then stock_optimization, triggered for that day, recommends for every store/product of
its snapshot. The test overlay serves Airflow over HTTPS (the local CA): the runs' tasks reach the
execution API over TLS, and the UI/REST refuse plain HTTP and certificates of other CAs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from retail_platform import tls
from retail_platform.airflow_api import AirflowApi
from retail_platform.runtime.airflow import Airflow
from retail_platform.settings import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.airflow, pytest.mark.kafka, pytest.mark.spark, pytest.mark.warehouse]

DAG_ID = "daily_etl"
# The day after the last day test_daily_etl.py loads, with the same catalogue (the dimensions are shared).
DAY = datetime.now(timezone.utc).date() - timedelta(days=2)
FLEET = ["--stores", "3", "--products", "10", "--seed", "21", "--lines-per-store-hour", "8"]


def _run_for_day(api: AirflowApi, logical: str, timeout: float) -> dict:
    """The DAG run (backfill or catch-up, whichever holds the logical date) once it exists."""
    deadline = time.monotonic() + timeout
    while True:
        runs = api._call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"]
        for run in runs:
            if (run.get("logical_date") or "").startswith(logical):
                return run
        assert time.monotonic() < deadline, f"no run of {DAG_ID} for {logical} after {timeout:.0f}s: {runs}"
        time.sleep(3)


def test_airflow_serves_https_verified_with_the_platform_ca_and_refuses_plain_http(airflow, tmp_path):
    settings = airflow
    assert settings.airflow_tls, "the test overlay serves Airflow over HTTPS"
    health = f"{settings.airflow_url}/api/v2/monitor/health"
    reply = httpx.get(health, verify=tls.client_context(settings.tls_dir), timeout=30)
    assert reply.status_code == 200 and reply.json()["metadatabase"]["status"] == "healthy"
    assert AirflowApi(settings).token()  # the platform's REST client logs in over TLS, verifying the CA
    other_ca, _ = tls.make_ca(tmp_path / "other", "Someone else's CA")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(health, verify=tls.client_context(other_ca.parent), timeout=30)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # nor do the system's CAs know it
        httpx.get(health, timeout=30)
    with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port gets no answer
        httpx.get(f"http://{settings.airflow_host}:{settings.airflow_port}/api/v2/monitor/health", timeout=30)


def test_backfill_one_day_loads_its_facts(airflow, warehouse_client_factory):
    settings = airflow
    history = subprocess.run(
        [sys.executable, "-m", "retail_platform.simulation.bronze_history", "--days", "1",
         "--end-date", DAY.isoformat(), *FLEET, "--load-catalog"],
        cwd=REPO_ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert history.returncode == 0, history.stderr[-3000:]

    api = AirflowApi(settings)
    api.wait_for_dag(DAG_ID, timeout=180)
    api.set_paused(DAG_ID, False)  # a backfill of a paused DAG stays queued
    env = {**os.environ, **Airflow(settings).environment()}
    backfill = subprocess.run(
        [str(settings.venv_bin / "airflow"), "backfill", "create", "--dag-id", DAG_ID,
         "--from-date", DAY.isoformat(), "--to-date", (DAY + timedelta(days=1)).isoformat()],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert backfill.returncode == 0, backfill.stdout[-2000:] + backfill.stderr[-2000:]

    # CronDataIntervalTimetable: the run whose interval starts at DAY 08:00 recomputes DAY.
    run = _run_for_day(api, f"{DAY.isoformat()}T08:00:00", timeout=300)
    state = api.wait_for_run(DAG_ID, run["dag_run_id"], timeout=1200)
    assert state == "success", api.task_states(DAG_ID, run["dag_run_id"])
    # No stream and empty input topics here: the sensor finds nothing to wait for.
    assert api.task_states(DAG_ID, run["dag_run_id"]) == {
        "bronze_has_day": "success",
        "close_target": "success",
        "stream_past_day": "success",
        "recompute_day": "success",
    }

    client = warehouse_client_factory()
    sales = client.query("SELECT count() FROM fact_sales WHERE date_key = %(d)s", parameters={"d": DAY})
    assert sales.result_rows[0][0] > 0
    inventory = client.query("SELECT count() FROM fact_inventory FINAL WHERE date_key = %(d)s", parameters={"d": DAY})
    assert inventory.result_rows[0][0] > 0
    mark = client.query(
        "SELECT run_id, sales_rows FROM ops_batch_watermark FINAL WHERE day = %(d)s", parameters={"d": DAY}
    )
    assert mark.result_rows and mark.result_rows[0][1] == sales.result_rows[0][0]
    failed = client.query("SELECT count() FROM dq_results WHERE day = %(d)s AND NOT passed", parameters={"d": DAY})
    assert failed.result_rows[0][0] == 0
    # The day is served from its aggregates: the executive view's batch row equals the fact's totals.
    facts = client.query(
        "SELECT sum(quantity), sum(revenue), count() FROM fact_sales FINAL WHERE date_key = %(d)s",
        parameters={"d": DAY},
    ).result_rows[0]
    served = client.query(
        "SELECT units, revenue, sale_lines, source FROM v_exec_daily WHERE date = %(d)s", parameters={"d": DAY}
    ).result_rows
    assert served == [(*facts, "batch")]


def _settle(api: AirflowApi, dag_id: str, timeout: float = 600) -> None:
    """Pause the DAG and wait until none of its runs is queued or running."""
    api.set_paused(dag_id, True)
    deadline = time.monotonic() + timeout
    while True:
        runs = api._call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
        if not [r for r in runs if r["state"] in ("queued", "running")]:
            return
        assert time.monotonic() < deadline, f"{dag_id} still has runs after {timeout:.0f}s: {runs}"
        time.sleep(3)


def test_stock_optimization_recommends_for_every_store_product_of_the_day(airflow, warehouse_client_factory):
    dag_id = "stock_optimization"
    api = AirflowApi(airflow)
    api.wait_for_dag(dag_id, timeout=180)
    api.set_paused(dag_id, False)
    client = warehouse_client_factory()
    try:
        run_id = api.trigger(dag_id, conf={"date": DAY.isoformat()})
        state = api.wait_for_run(dag_id, run_id, timeout=900)
        assert state == "success", api.task_states(dag_id, run_id)
        assert api.task_states(dag_id, run_id) == {"stock_loaded": "success", "optimize": "success"}

        stocked = client.query(
            "SELECT groupArray((store_id, product_id)) FROM fact_inventory FINAL WHERE date_key = %(d)s",
            parameters={"d": DAY},
        ).result_rows[0][0]
        recommended = client.query(
            "SELECT groupArray((store_id, product_id)), groupUniqArray(run_id) FROM ml_reorder_recommendations "
            "FINAL WHERE run_date = %(d)s",
            parameters={"d": DAY},
        ).result_rows[0]
        assert stocked and sorted(recommended[0]) == sorted(stocked)
        assert recommended[1] == [run_id]
    finally:
        # The run (and the scheduled one unpausing creates) wrote reorder policies newer than the
        # catalogue's, which later modules' catalogue loads must not find: they are taken back.
        _settle(api, dag_id)
        client.command(
            "DELETE FROM rt_reorder_policy WHERE policy_source = 'stock_optimization'",
            settings={"mutations_sync": 2},
        )
