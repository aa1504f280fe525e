"""`make demo`: the platform's main job on the local profile.

Brings the stack up (Kafka, warehouse, Airflow, the streaming job, Superset), runs the POS simulators with
faults injected for a few minutes while the stream keeps ClickHouse current, waits for the stream
to catch up and reconciles the warehouse with the simulator's ground truth. Then the batch part
(``demo_batch``; skipped with ``--skip-batch``): weeks of simulated history closed through the real
DAGs (daily load, features, training, predictions, stock optimisation), reconciled with the events
that produced it, so every dashboard has content. Ends with where to look and the dashboards (URLs,
logins, a screenshot of each rendered in a real browser).
"""

from __future__ import annotations

from datetime import datetime, timezone

from retail_platform import demo_batch, reconcile
from retail_platform.airflow_api import AirflowApiError
from retail_platform.runtime import stack
from retail_platform.runtime.stream import read_progress
from retail_platform.settings import Settings
from retail_platform.simulation.faults import FaultRates
from retail_platform.simulation.producer import SimulationConfig, run_simulation

DEMO_FAULTS = "duplicates=0.01,late=0.01,out_of_order=0.01,malformed=0.003,invalid=0.003"
DEMO_SEED = 4  # the simulators' seed: the history's stores and products are the stream's


def argument_problem(skip_batch: bool, history_days: int | None) -> str | None:
    """What is wrong with the batch options of `demo` (None: nothing)."""
    if skip_batch and history_days is not None:
        return "--history-days sets the batch part's history; --skip-batch skips that part: give one or the other"
    if history_days is not None and history_days < (least := demo_batch.min_history_days()):
        return (
            f"--history-days {history_days}: the model training needs at least {least} days of history "
            f"(28 days of lags, 7 target days, a 28-day hold-out)"
        )
    return None


def demo_config(settings: Settings, seconds: float, stores: int, products: int, rate: float) -> SimulationConfig:
    return SimulationConfig(
        stores=stores,
        products=products,
        seed=DEMO_SEED,
        rate_per_store_per_min=rate,
        duration=seconds,
        faults=FaultRates.parse(DEMO_FAULTS),
        ground_truth_path=settings.state_dir / "demo" / "ground_truth.json",
        load_catalog=True,
        progress=True,
    )


def main(
    settings: Settings,
    seconds: float = 120.0,
    stores: int = 20,
    products: int = 50,
    rate: float = 300.0,
    skip_batch: bool = False,
    history_days: int | None = None,
) -> int:
    print(f"== starting the {settings.profile} stack (state in {settings.state_dir})")
    stack.up(settings)
    before = reconcile.snapshot(settings)

    config = demo_config(settings, seconds, stores, products, rate)
    print(
        f"== simulating {stores} stores x {products} products at {rate:g} events/min/store for {seconds:g} s "
        f"(faults: {DEMO_FAULTS})"
    )
    started = datetime.now(timezone.utc)
    truth = run_simulation(settings, config, log=print)
    print(f"   sent {sum(truth.produced.values())} messages; ground truth in {config.ground_truth_path}")

    print("== waiting for the stream to catch up")
    after = reconcile.wait_for_catch_up(settings, before, truth)
    result = reconcile.reconcile(before, after, truth)
    print("== reconciliation (this run)")
    print(result.render())

    progress = read_progress(settings)
    print("== real-time tables (rows)")
    for table, rows in after.rt_rows.items():
        print(f"  {table:<20} {rows}")
    print("== freshness")
    if after.last_batch_at is not None:
        print(
            f"  last micro-batch finished {after.last_batch_at:%H:%M:%S} UTC; its newest event became queryable "
            f"{after.last_batch_lag_s:.1f} s after it happened"
        )
    print(
        f"  stream lag now: {progress.total_lag} messages; run lasted "
        f"{(datetime.now(timezone.utc) - started).total_seconds():.0f} s"
    )
    batch_ok = True
    if skip_batch:
        print("== batch part skipped (--skip-batch): the batch, ML and optimisation charts keep what they had")
    else:
        batch_ok = run_batch(settings, stores, products, history_days or demo_batch.DEFAULT_HISTORY_DAYS)
    print("== where to look")
    print(f"  Airflow UI   {settings.airflow_url}  (login {settings.airflow_user} / {settings.airflow_password})")
    if not skip_batch:
        print(f"    the demo's DAG runs: {settings.airflow_url}/dags/daily_etl/runs and the other DAGs beside it")
    print(
        f"  Warehouse    {settings.clickhouse_url}  e.g. curl "
        f"'{settings.clickhouse_url}/?user={settings.clickhouse_user}&password=...&query=SELECT+*+FROM+"
        f"{settings.clickhouse_database}.v_rt_stock_risk+LIMIT+5'"
    )
    print(f"  Kafka        {settings.kafka_bootstrap}")
    print(f"  Lake         {settings.lake_uri}")
    print("  `make status` shows the services; `make down` stops them (data is kept).")
    print("== dashboards (Superset; opened in headless Chromium, screenshots written)")
    from retail_platform.bi import showcase

    showcase.show(settings)
    if not result.ok:
        print("== RECONCILIATION FAILED (stream)")
        return 1
    if not batch_ok:
        print("== BATCH PART FAILED (see above)")
        return 1
    print("== every figure reconciles with the events that produced it")
    return 0


def run_batch(settings: Settings, stores: int, products: int, history_days: int) -> bool:
    """The batch part with its reconciliation printed; False when a DAG failed or a figure differs."""
    started = datetime.now(timezone.utc)
    try:
        outcome = demo_batch.run(settings, stores, products, DEMO_SEED, history_days)
    except (demo_batch.DemoBatchError, AirflowApiError) as exc:
        print(f"== batch part stopped: {exc}")
        return False
    print(f"== reconciliation (batch: {outcome.first} .. {outcome.last}, facts against the events written)")
    print(outcome.reconciliation.render())
    print("== what the ML and optimisation DAGs left for the dashboards")
    for line in outcome.summary:
        print(f"  {line}")
    print(f"  batch part lasted {(datetime.now(timezone.utc) - started).total_seconds():.0f} s")
    return outcome.ok
