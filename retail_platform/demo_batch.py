"""The batch part of `make demo`: a simulated history closed through the real DAGs.

After the stream part, the demo writes days of simulated history into the lake's bronze (the history
generator, ``simulation.bronze_history``: the stream's bronze tables and partitions, the stream
simulator's stores and products), then runs the batch DAGs one after the other through Airflow's
REST API, each awaited before the next:

    daily_etl            {"from": first, "to": last}     the history's days -> facts, aggregates, watermark
    feature_engineering  {"date": last, "start": first}  every feature date rebuilt from the first day
    model_training       {"date": last}                  GBT vN, promoted when it beats the baselines
    batch_predictions    {"date": last}                  the champion's 7-day forecasts made on ``last``
    stock_optimization   {"date": last}                  reorder recommendations, anomalies, policy

and reconciles the facts with the events the generator wrote (``reconcile_batch``).

How a DAG is run. A DAG on a time schedule (daily_etl, model_training, stock_optimization) gets a
backfill of its newest due slot carrying the conf, not a manual run: unpausing such a DAG makes the
scheduler create the runs it considers due (daily_etl, with catch-up, one per day since its start
date; the others their latest slot), while a backfill run counts as a scheduled one, so once the DAG
processor has taken it into account (the DAG's next run lies after it) unpausing creates nothing
else. The asset-scheduled DAGs (feature_engineering, batch_predictions) get a manual run: asset
events are not queued for a paused DAG, so unpausing them starts only that run. Each DAG is unpaused
for its run and paused again afterwards if it was paused before.

The history: ``DEFAULT_HISTORY_DAYS`` days ending on the newest day that may close (its end plus the
close grace has passed, ``batch.close``) and before the first day the stream wrote to
(``ops_stream_days``): the generator replaces whole days of bronze, so it must never hold a day with
streamed events. Training needs ``min_history_days()`` days (28 days of lags before the first
training origin, its 7 targets, then the 28-day hold-out): 63; the demo takes 70, a week of origins.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from retail_platform.reconcile import Reconciliation
from retail_platform.settings import Settings

DEFAULT_HISTORY_DAYS = 70
# Demand of the history (sale lines per store per open hour): a 20 x 50 fleet makes ~3k lines a day,
# enough for every series to have sales most days, small enough to generate and load in seconds.
HISTORY_LINES_PER_STORE_HOUR = 10.0
RUN_TIMEOUT_S = 1800.0  # per DAG run; the slowest (training) takes a few minutes here
SCHEDULE_WAIT_S = 180.0  # for the DAG processor to see a backfill (it re-parses every 30 s)


class DemoBatchError(RuntimeError):
    """The batch part could not run or a DAG run failed; the message says which and where to look."""


def min_history_days() -> int:
    """Fewest days of history the training accepts: an origin is trained on only with ``min_history``
    days before it, its 7 targets must precede the hold-out, and the hold-out holds ``holdout_days``."""
    from retail_platform.forecasting.features import HORIZONS
    from retail_platform.forecasting.training import TrainingConfig

    config = TrainingConfig()
    return config.min_history + HORIZONS + config.holdout_days


def newest_closable_day(now: datetime, grace_minutes: int) -> date:
    """The newest day whose end plus the close grace is not after ``now``."""
    return (now - timedelta(minutes=grace_minutes)).date() - timedelta(days=1)


def history_window(now: datetime, grace_minutes: int, first_stream_day: date | None, days: int) -> tuple[date, date]:
    """(first, last) day of the history: ``days`` days ending on the newest closable day, and before
    the first day the stream wrote to bronze."""
    last = newest_closable_day(now, grace_minutes)
    if first_stream_day is not None:
        last = min(last, first_stream_day - timedelta(days=1))
    return last - timedelta(days=days - 1), last


@dataclass(frozen=True)
class Step:
    """One DAG run of the plan. ``cadence``: the period of the DAG's time schedule (None: scheduled on
    assets, run manually); ``data_interval``: its runs cover the period before them (a
    CronDataIntervalTimetable) rather than being triggered at a cron time (CronTriggerTimetable)."""

    dag_id: str
    conf: dict[str, str]
    cadence: timedelta | None = None
    data_interval: bool = True

    @property
    def scheduled(self) -> bool:
        return self.cadence is not None


DAY = timedelta(days=1)


def plan(first: date, last: date) -> list[Step]:
    """The DAG runs that close the history ``first``..``last`` and act on it, in order."""
    return [
        Step("daily_etl", {"from": first.isoformat(), "to": last.isoformat()}, DAY),
        Step("feature_engineering", {"date": last.isoformat(), "start": first.isoformat()}),
        Step("model_training", {"date": last.isoformat()}, 7 * DAY, data_interval=False),
        Step("batch_predictions", {"date": last.isoformat()}),
        Step("stock_optimization", {"date": last.isoformat()}, DAY),
    ]


def backfill_window(step: Step, now: datetime) -> tuple[datetime, datetime]:
    """Logical dates holding exactly the step's newest due slot: a data-interval run is due once its
    interval (one cadence from its logical date) has ended, a trigger run at its logical date."""
    if step.cadence is None:
        raise ValueError(f"{step.dag_id} has no time schedule to backfill")
    second = timedelta(seconds=1)
    if step.data_interval:
        return now - 2 * step.cadence + second, now - step.cadence
    return now - step.cadence + second, now


@dataclass
class StepResult:
    step: Step
    run_id: str
    how: str  # "backfill" or "manual"
    state: str = "queued"
    seconds: float = 0.0
    backfill_id: int | None = None


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Orchestrator:
    """Runs a plan through Airflow's REST API (``api``: an ``airflow_api.AirflowApi``)."""

    def __init__(
        self,
        api: Any,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        log: Callable[[str], None] = print,
        run_timeout: float = RUN_TIMEOUT_S,
        schedule_wait: float = SCHEDULE_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api, self.clock, self.log = api, clock, log
        self.run_timeout, self.schedule_wait, self.sleep = run_timeout, schedule_wait, sleep
        self.created: dict[str, StepResult] = {}
        self.was_paused: dict[str, bool] = {}

    def create(self, step: Step) -> StepResult:
        """The step's run: a backfill of its newest due slot, or a manual run (see the module doc)."""
        if not step.scheduled:
            return StepResult(step, self.api.trigger(step.dag_id, conf=step.conf), "manual")
        first, last = backfill_window(step, self.clock())
        backfill_id = int(self.api.backfill(step.dag_id, first, last, step.conf)["id"])
        runs = self.api.runs_between(step.dag_id, first, last)
        if len(runs) != 1:
            self.api.cancel_backfill(backfill_id)
            raise DemoBatchError(
                f"a backfill of {step.dag_id} over {first:%Y-%m-%d %H:%M:%S}..{last:%Y-%m-%d %H:%M:%S} UTC should "
                f"hold one run, found {len(runs)}: has its schedule changed? (demo_batch.plan states its cadence)"
            )
        return StepResult(step, str(runs[0]["dag_run_id"]), "backfill", backfill_id=backfill_id)

    def prepare(self, steps: list[Step]) -> None:
        """Note each DAG's paused state; create the backfills of the paused scheduled DAGs now (their
        runs wait for the unpause), so the DAG processor sees them while earlier steps run."""
        for step in steps:
            self.api.wait_for_dag(step.dag_id)
            self.was_paused[step.dag_id] = bool(self.api.dag(step.dag_id)["is_paused"])
        for step in steps:
            if step.scheduled and self.was_paused[step.dag_id]:
                self.created[step.dag_id] = self.create(step)

    def await_schedule_past(self, result: StepResult) -> None:
        """Wait until the DAG's next scheduled run lies after the backfilled one: unpausing then
        creates no run of its own (no catch-up)."""
        logical = self.api.run(result.step.dag_id, result.run_id)["logical_date"]
        deadline = time.monotonic() + self.schedule_wait
        while True:
            following = self.api.dag(result.step.dag_id).get("next_dagrun_logical_date")
            if following is None or logical is None or _aware(following) > _aware(logical):
                return
            if time.monotonic() >= deadline:
                raise DemoBatchError(
                    f"{result.step.dag_id}: Airflow still plans a scheduled run at {following} after "
                    f"{self.schedule_wait:.0f} s, not after the backfill at {logical}; unpausing would start "
                    "it too. Is the dag-processor running (`make status`)?"
                )
            self.sleep(3)

    def run(self, step: Step) -> StepResult:
        result = self.created.pop(step.dag_id, None) or self.create(step)
        if step.scheduled:
            self.await_schedule_past(result)
        paused = self.was_paused.get(step.dag_id, True)
        self.log(f"  {step.dag_id:<20} {result.how} run {result.run_id} ...")
        started = time.monotonic()
        if paused:
            self.api.set_paused(step.dag_id, False)
        try:
            result.state = self.api.wait_for_run(step.dag_id, result.run_id, timeout=self.run_timeout)
        finally:
            if paused:
                self.api.set_paused(step.dag_id, True)
        result.seconds = time.monotonic() - started
        conf = ", ".join(f"{k} {v}" for k, v in step.conf.items())
        self.log(f"  {step.dag_id:<20} {result.state:<8} {result.seconds:5.0f} s  ({result.how} run, {conf})")
        if result.state != "success":
            tasks = self.api.task_states(step.dag_id, result.run_id)
            failed = ", ".join(f"{t} {s}" for t, s in tasks.items() if s != "success") or "none recorded"
            raise DemoBatchError(
                f"{step.dag_id} run {result.run_id} ended {result.state} (tasks: {failed}); its task logs are in "
                f"the Airflow UI under the DAG's runs"
            )
        return result

    def run_all(self, steps: list[Step]) -> list[StepResult]:
        try:
            self.prepare(steps)
            return [self.run(step) for step in steps]
        except Exception:
            # Backfills created ahead for later steps would stay queued (and block the next demo's).
            for pending in self.created.values():
                if pending.backfill_id is not None:
                    self.api.cancel_backfill(pending.backfill_id)
            self.created.clear()
            raise


# ---- the services -------------------------------------------------------------------------------


def first_stream_day(settings: Settings) -> date | None:
    from retail_platform.warehouse.client import connect

    client = connect(settings)
    try:
        day = client.query("SELECT minOrNull(day) FROM ops_stream_days").result_rows[0][0]
    finally:
        client.close()
    return day


def reconcile_batch(
    settings: Settings, first: date, last: date, truth: dict[str, dict[str, int]]
) -> tuple[Reconciliation, list[str]]:
    """The facts of ``first``..``last`` against the events the generator wrote (``truth``: day ->
    lines, units, revenue_cents; ``bronze_history.sales_totals``), and a summary of the ML outputs."""
    from retail_platform.warehouse.client import connect

    bounds = {"a": first, "b": last}
    client = connect(settings)
    try:
        per_day = {
            d: (int(n), int(u), Decimal(r))
            for d, n, u, r in client.query(
                "SELECT date_key, count(), sum(quantity), sum(revenue) FROM fact_sales FINAL "
                "WHERE date_key BETWEEN %(a)s AND %(b)s GROUP BY date_key",
                parameters=bounds,
            ).result_rows
        }
        marks = client.query(
            "SELECT count(), sum(sales_rows) FROM ops_batch_watermark FINAL WHERE day BETWEEN %(a)s AND %(b)s",
            parameters=bounds,
        ).result_rows[0]
        failed_checks = client.query(
            "SELECT count() FROM dq_results WHERE NOT passed AND (day, run_id) IN "
            "(SELECT day, batch_id FROM ops_batch_watermark FINAL WHERE day BETWEEN %(a)s AND %(b)s)",
            parameters=bounds,
        ).result_rows[0][0]
        served = client.query(
            "SELECT sum(units), sum(revenue) FROM v_exec_daily WHERE date BETWEEN %(a)s AND %(b)s AND source = 'batch'",
            parameters=bounds,
        ).result_rows[0]
        summary = ml_summary(client, last)
    finally:
        client.close()

    days = (last - first).days + 1
    expected = {date.fromisoformat(d): t for d, t in truth.items()}
    lines = sum(t["lines"] for t in expected.values())
    units = sum(t["units"] for t in expected.values())
    revenue = Decimal(sum(t["revenue_cents"] for t in expected.values())) / 100
    fact_lines = sum(n for n, _, _ in per_day.values())
    fact_units = sum(u for _, u, _ in per_day.values())
    fact_revenue = sum((r for _, _, r in per_day.values()), Decimal(0))
    wrong_days = sum(
        per_day.get(d, (0, 0, Decimal(0))) != (t["lines"], t["units"], Decimal(t["revenue_cents"]) / 100)
        for d, t in expected.items()
    )
    result = Reconciliation()
    result.check("days closed (watermark)", int(marks[0]), days)
    result.check("sale lines (fact_sales)", fact_lines, lines)
    result.check("  watermark sales_rows", int(marks[1] or 0), lines)
    result.check("units sold", fact_units, units)
    result.check("revenue", f"{fact_revenue:.2f}", f"{revenue:.2f}")
    result.check("days with wrong lines/units/revenue", wrong_days, 0)
    result.check("served by v_exec_daily: units", int(served[0] or 0), units)
    result.check("served by v_exec_daily: revenue", f"{Decimal(served[1] or 0):.2f}", f"{revenue:.2f}")
    result.check("failed data-quality checks", int(failed_checks), 0)
    return result, summary


def ml_summary(client: Any, last: date) -> list[str]:
    """What the ML DAGs left for the dashboards: the newest model against its baselines, the
    forecasts made on ``last``, the recommendations and anomalies of ``last``."""
    rows = client.query(
        "SELECT model_version, evaluated, wape, is_champion FROM ml_model_performance FINAL WHERE horizon = 0 "
        "AND model_version = (SELECT argMax(model_version, trained_at) FROM ml_model_performance)"
    ).result_rows
    wape = {evaluated: float(w) for _, evaluated, w, _ in rows}
    out = []
    if rows:
        champion = "promoted to champion" if any(c for *_, c in rows) else "not promoted"
        baselines = ", ".join(f"{k} {wape[k]:.3f}" for k in ("seasonal_naive", "moving_average_7") if k in wape)
        out.append(f"model {rows[0][0]}: WAPE {wape.get('gbt', float('nan')):.3f} ({baselines}); {champion}")
    forecasts = client.query(
        "SELECT count(), uniqExact(store_id, product_id) FROM ml_demand_forecast FINAL WHERE forecast_date = %(d)s",
        parameters={"d": last},
    ).result_rows[0]
    out.append(f"forecasts made on {last}: {forecasts[0]} rows for {forecasts[1]} store/products (7 days ahead)")
    recs = client.query(
        "SELECT count(), countIf(order_now) FROM ml_reorder_recommendations FINAL WHERE run_date = %(d)s",
        parameters={"d": last},
    ).result_rows[0]
    anomalies = client.query(
        "SELECT count() FROM ml_inventory_anomalies FINAL WHERE anomaly_date = %(d)s", parameters={"d": last}
    ).result_rows[0][0]
    out.append(f"reorder recommendations for {last}: {recs[0]} ({recs[1]} to order now); anomalies: {anomalies}")
    return out


@dataclass
class BatchOutcome:
    first: date
    last: date
    steps: list[StepResult] = field(default_factory=list)
    reconciliation: Reconciliation = field(default_factory=Reconciliation)
    summary: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reconciliation.ok


def run(
    settings: Settings,
    stores: int,
    products: int,
    seed: int,
    days: int = DEFAULT_HISTORY_DAYS,
    log: Callable[[str], None] = print,
) -> BatchOutcome:
    """Write the history, close it through the DAGs, reconcile (see the module doc)."""
    from retail_platform.airflow_api import AirflowApi
    from retail_platform.simulation.bronze_history import HistoryConfig, write_history

    first, last = history_window(
        datetime.now(timezone.utc), settings.close_grace_minutes, first_stream_day(settings), days
    )
    config = HistoryConfig(
        end_date=last,
        days=days,
        stores=stores,
        products=products,
        seed=seed,
        lines_per_store_hour=HISTORY_LINES_PER_STORE_HOUR,
    )
    log(f"== simulated history: {first} .. {last} ({days} days, {stores} stores x {products} products) into bronze")
    started = time.monotonic()
    written = write_history(config, settings)
    lines = sum(t["lines"] for t in written["sales"].values())
    log(f"   {lines} sale lines and their stock movements written in {time.monotonic() - started:.0f} s")

    steps = plan(first, last)
    log(f"== closing it through Airflow ({settings.airflow_url}): " + " -> ".join(s.dag_id for s in steps))
    outcome = BatchOutcome(first, last)
    outcome.steps = Orchestrator(AirflowApi(settings), log=log).run_all(steps)
    outcome.reconciliation, outcome.summary = reconcile_batch(settings, first, last, written["sales"])
    return outcome
