"""The demo's batch part without services: which DAGs run, in what order, with what conf, how each is
started through Airflow's API (backfill of a scheduled DAG's newest slot, manual run of an
asset-scheduled one), the history's window, and the command line's batch options."""

from __future__ import annotations

import ast
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_platform import cli, demo
from retail_platform.batch.close import closes_at
from retail_platform.demo_batch import (
    DEFAULT_HISTORY_DAYS,
    DemoBatchError,
    Orchestrator,
    Step,
    backfill_window,
    history_window,
    min_history_days,
    plan,
)
from retail_platform.settings import REPO_ROOT

FIRST, LAST = date(2026, 9, 28), date(2026, 12, 6)
NOW = datetime(2026, 12, 7, 11, 30, tzinfo=timezone.utc)


def test_the_plan_closes_the_history_then_features_training_predictions_optimisation():
    steps = plan(FIRST, LAST)
    assert [(s.dag_id, s.conf) for s in steps] == [
        ("daily_etl", {"from": "2026-09-28", "to": "2026-12-06"}),
        ("feature_engineering", {"date": "2026-12-06", "start": "2026-09-28"}),
        ("model_training", {"date": "2026-12-06"}),
        ("batch_predictions", {"date": "2026-12-06"}),
        ("stock_optimization", {"date": "2026-12-06"}),
    ]
    # Asset-scheduled DAGs get manual runs; the time-scheduled ones a backfill of their newest slot.
    assert [s.dag_id for s in steps if not s.scheduled] == ["feature_engineering", "batch_predictions"]


def test_training_needs_63_days_and_the_demo_gives_it_more():
    assert min_history_days() == 63
    assert DEFAULT_HISTORY_DAYS >= min_history_days()


@given(
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(timezone.utc)),
    grace=st.integers(0, 24 * 60),
    stream_offset=st.one_of(st.none(), st.integers(-40, 3)),
    days=st.integers(1, 120),
)
def test_the_history_ends_on_the_newest_closable_day_before_the_stream(now, grace, stream_offset, days):
    stream_day = None if stream_offset is None else now.date() + timedelta(days=stream_offset)
    first, last = history_window(now, grace, stream_day, days)
    assert (last - first).days + 1 == days
    assert closes_at(last, grace) <= now  # daily_etl's close_target accepts it
    if stream_day is not None:
        assert last < stream_day  # never a day holding streamed events
    newer = last + timedelta(days=1)
    assert closes_at(newer, grace) > now or (stream_day is not None and newer >= stream_day)


# ---- backfill windows against the DAG files' own schedules ---------------------------------------


def _cron_of(dag_id: str) -> tuple[str, str]:
    """(timetable class, cron) of a DAG file's ``schedule=Timetable("cron", ...)``."""
    tree = ast.parse((REPO_ROOT / "dags" / f"{dag_id}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "schedule" and isinstance(node.value, ast.Call):
            call = node.value
            assert isinstance(call.func, ast.Name) and isinstance(call.args[0], ast.Constant)
            return call.func.id, str(call.args[0].value)
    raise AssertionError(f"{dag_id} has no timetable schedule")


def _slots(cron: str, start: datetime, end: datetime) -> list[datetime]:
    """Times in [start, end] matching a "M H * * D" cron (D '*' or a weekday, 0 = Sunday)."""
    minute, hour, dom, month, dow = cron.split()
    assert dom == month == "*", cron
    out, day = [], start.date() - timedelta(days=1)
    while day <= end.date():
        at = datetime(day.year, day.month, day.day, int(hour), int(minute), tzinfo=timezone.utc)
        if (dow == "*" or (at.isoweekday() % 7) == int(dow)) and start <= at <= end:
            out.append(at)
        day += timedelta(days=1)
    return out


@pytest.mark.parametrize("step", [s for s in plan(FIRST, LAST) if s.scheduled], ids=lambda s: s.dag_id)
@given(
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(timezone.utc))
)
def test_a_backfill_window_holds_exactly_the_newest_due_slot(step: Step, now: datetime):
    timetable, cron = _cron_of(step.dag_id)
    assert step.data_interval == (timetable == "CronDataIntervalTimetable"), timetable
    first, last = backfill_window(step, now)
    slots = _slots(cron, first, last)
    assert len(slots) == 1, (cron, first, last, slots)
    assert step.cadence is not None
    # Due: a data interval has ended, a trigger time has passed; and no later slot is due.
    due_at = slots[0] + (step.cadence if step.data_interval else timedelta(0))
    assert due_at <= now
    assert not [s for s in _slots(cron, slots[0] + timedelta(minutes=1), now + step.cadence) if
                s + (step.cadence if step.data_interval else timedelta(0)) < now]  # fmt: skip


# ---- the orchestration, against a recording stand-in for Airflow's REST API ---------------------


class RecordingApi:
    """Airflow's API as the orchestrator sees it: records every call; runs end in ``outcome``."""

    def __init__(self, paused: dict[str, bool], outcome: dict[str, str] | None = None, lagging_schedule: int = 0):
        self.paused = dict(paused)
        self.outcome = outcome or {}
        self.calls: list[tuple] = []
        self.runs: dict[str, dict] = {}
        self.lagging = lagging_schedule  # polls before next_dagrun moves past a backfill

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        return {"dag_id": dag_id}

    def dag(self, dag_id: str) -> dict:
        backfilled = [r for r in self.runs.values() if r["dag_id"] == dag_id and r["type"] == "backfill"]
        if backfilled and self.lagging > 0:
            self.lagging -= 1
            return {"is_paused": self.paused[dag_id], "next_dagrun_logical_date": "2026-11-01T08:00:00+00:00"}
        following = "2026-12-07T08:00:00+00:00" if backfilled else "2026-11-01T08:00:00+00:00"
        return {"is_paused": self.paused[dag_id], "next_dagrun_logical_date": following}

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.calls.append(("pause" if paused else "unpause", dag_id))
        self.paused[dag_id] = paused

    def trigger(self, dag_id: str, conf: dict) -> str:
        run_id = f"manual__{dag_id}"
        self.runs[run_id] = {"dag_id": dag_id, "type": "manual", "logical_date": None}
        self.calls.append(("trigger", dag_id, conf))
        return run_id

    def backfill(self, dag_id: str, first: datetime, last: datetime, conf: dict) -> dict:
        self.calls.append(("backfill", dag_id, conf))
        self.runs[f"backfill__{dag_id}"] = {"dag_id": dag_id, "type": "backfill", "logical_date": "2026-12-06T08:00:00"}
        return {"id": len([c for c in self.calls if c[0] == "backfill"])}

    def cancel_backfill(self, backfill_id: int) -> None:
        self.calls.append(("cancel", backfill_id))

    def runs_between(self, dag_id: str, first: datetime, last: datetime) -> list[dict]:
        return [{"dag_run_id": k} for k, r in self.runs.items() if r["dag_id"] == dag_id and r["type"] == "backfill"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.runs[run_id]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        assert not self.paused[dag_id], f"{dag_id} awaited while paused: its run would never start"
        self.calls.append(("await", dag_id))
        return self.outcome.get(dag_id, "success")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        return {"resolve_day": "success", "predict_demand": "failed"}


ALL_PAUSED = {s.dag_id: True for s in plan(FIRST, LAST)}


def _orchestrator(api: RecordingApi, **kwargs) -> tuple[Orchestrator, list[str]]:
    lines: list[str] = []
    return Orchestrator(api, clock=lambda: NOW, log=lines.append, sleep=lambda s: None, **kwargs), lines


def test_paused_dags_run_one_after_the_other_and_are_paused_again():
    api = RecordingApi(ALL_PAUSED)
    orchestrator, lines = _orchestrator(api)
    results = orchestrator.run_all(plan(FIRST, LAST))
    conf = {s.dag_id: s.conf for s in plan(FIRST, LAST)}
    assert api.calls == [
        # The scheduled DAGs' backfills first: their runs wait for the unpause, the DAG processor sees them.
        ("backfill", "daily_etl", conf["daily_etl"]),
        ("backfill", "model_training", conf["model_training"]),
        ("backfill", "stock_optimization", conf["stock_optimization"]),
        ("unpause", "daily_etl"), ("await", "daily_etl"), ("pause", "daily_etl"),
        ("trigger", "feature_engineering", conf["feature_engineering"]),
        ("unpause", "feature_engineering"), ("await", "feature_engineering"), ("pause", "feature_engineering"),
        ("unpause", "model_training"), ("await", "model_training"), ("pause", "model_training"),
        ("trigger", "batch_predictions", conf["batch_predictions"]),
        ("unpause", "batch_predictions"), ("await", "batch_predictions"), ("pause", "batch_predictions"),
        ("unpause", "stock_optimization"), ("await", "stock_optimization"), ("pause", "stock_optimization"),
    ]  # fmt: skip
    assert [(r.step.dag_id, r.how, r.state) for r in results] == [
        ("daily_etl", "backfill", "success"),
        ("feature_engineering", "manual", "success"),
        ("model_training", "backfill", "success"),
        ("batch_predictions", "manual", "success"),
        ("stock_optimization", "backfill", "success"),
    ]
    assert len(lines) == 10 and lines[1].split()[:2] == ["daily_etl", "success"]


def test_an_unpaused_dag_is_left_unpaused_and_backfilled_at_its_turn():
    api = RecordingApi({**ALL_PAUSED, "stock_optimization": False})
    orchestrator, _ = _orchestrator(api)
    orchestrator.run_all(plan(FIRST, LAST))
    assert ("backfill", "stock_optimization", {"date": "2026-12-06"}) == api.calls[-2]
    assert api.calls[-1] == ("await", "stock_optimization")
    assert ("pause", "stock_optimization") not in api.calls and ("unpause", "stock_optimization") not in api.calls


def test_a_dag_is_unpaused_only_once_its_next_scheduled_run_lies_after_the_backfill():
    api = RecordingApi(ALL_PAUSED, lagging_schedule=3)
    orchestrator, _ = _orchestrator(api)
    orchestrator.run(plan(FIRST, LAST)[0])
    assert api.lagging == 0  # polled until the DAG processor saw the backfill
    assert api.calls[-3:] == [("unpause", "daily_etl"), ("await", "daily_etl"), ("pause", "daily_etl")]

    stuck = RecordingApi(ALL_PAUSED, lagging_schedule=10**9)
    orchestrator, _ = _orchestrator(stuck, schedule_wait=0.0)
    with pytest.raises(DemoBatchError, match="dag-processor"):
        orchestrator.run(plan(FIRST, LAST)[0])
    assert ("unpause", "daily_etl") not in stuck.calls  # never unpaused into a catch-up


def test_a_failed_run_stops_the_plan_naming_the_dag_and_its_failed_tasks():
    api = RecordingApi(ALL_PAUSED, outcome={"batch_predictions": "failed"})
    orchestrator, _ = _orchestrator(api)
    with pytest.raises(
        DemoBatchError, match=r"batch_predictions run manual__batch_predictions ended failed.*predict_demand failed"
    ):
        orchestrator.run_all(plan(FIRST, LAST))
    assert api.calls[-2] == ("pause", "batch_predictions")  # left as found
    assert ("await", "stock_optimization") not in api.calls
    assert api.calls[-1] == ("cancel", 3)  # stock_optimization's backfill, created ahead, will not start


def test_a_backfill_holding_other_than_one_run_is_refused():
    api = RecordingApi(ALL_PAUSED)
    api.runs_between = lambda dag_id, first, last: []  # type: ignore[method-assign]
    orchestrator, _ = _orchestrator(api)
    with pytest.raises(DemoBatchError, match="should hold one run, found 0"):
        orchestrator.run(plan(FIRST, LAST)[0])
    assert api.calls[-1] == ("cancel", 1)


# ---- the command line ---------------------------------------------------------------------------


def test_skip_batch_reaches_the_demo_and_bad_combinations_stop(monkeypatch, capsys):
    seen: dict = {}
    monkeypatch.setattr(demo, "main", lambda settings, **kwargs: seen.update(kwargs) or 0)
    assert cli.main(["demo", "--skip-batch"]) == 0
    assert seen["skip_batch"] is True and seen["history_days"] is None
    assert cli.main(["demo", "--history-days", "90"]) == 0
    assert seen["skip_batch"] is False and seen["history_days"] == 90

    with pytest.raises(SystemExit) as stop:
        cli.main(["demo", "--skip-batch", "--history-days", "90"])
    assert stop.value.code == 2
    assert "give one or the other" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["demo", "--history-days", "30"])
    assert "at least 63 days" in capsys.readouterr().err


def test_the_makefile_has_a_quick_demo_that_skips_the_batch_part():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "\tdemo --skip-batch $(DEMO_ARGS)" in makefile.replace("@$(RETAIL) ", "")
    assert "\t@$(RETAIL) demo $(DEMO_ARGS)\n" in makefile
