"""Threshold alerts of the operations, checked by the ``ops_alerts`` DAG every few minutes.

Three measures, read from the warehouse's operations tables:

- ``freshness``: seconds from the newest event the stream has written (``ops_stream_batches``'
  ``max_event_time``) to now: grows when the stream stops or falls behind.
- ``stream_lag``: seconds from the newest event of the newest micro-batch to that batch's commit
  (the Operations dashboard's "freshness of the newest micro-batch"): the speed layer's own delay.
- ``dq_failures``: failed data-quality checks of the newest daily-load run (``dq_results``).

Each is compared with its threshold from the settings (``RETAIL_ALERT_*``); a measure above its
threshold is breached. ``evaluate`` (pure) turns measures, thresholds and the alerts whose episode is
open into transitions: ``firing`` when a measure is breached and its alert is not open, ``resolved``
when an open alert's measure is back within its threshold; nothing while a breach goes on, so each
episode is recorded once (``ops_alerts``). A measure that cannot be taken (no stream batch, no DQ
run yet) changes nothing: no data is not evidence of health, nor of a breach.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from retail_platform.settings import Settings

FRESHNESS = "freshness"
STREAM_LAG = "stream_lag"
DQ_FAILURES = "dq_failures"
ALERTS = (FRESHNESS, STREAM_LAG, DQ_FAILURES)
FIRING = "firing"
RESOLVED = "resolved"


@dataclass(frozen=True)
class Measurement:
    value: float | None  # None: nothing to measure yet
    detail: str = ""


@dataclass(frozen=True)
class Transition:
    alert: str
    state: str  # FIRING or RESOLVED
    value: float
    threshold: float
    detail: str


@dataclass(frozen=True)
class Evaluation:
    transitions: tuple[Transition, ...]
    breached: tuple[str, ...]  # every alert above its threshold now (new or ongoing)

    @property
    def fired(self) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.state == FIRING)

    def message(self) -> str:
        return "; ".join(
            f"{t.alert} {t.value:g} > {t.threshold:g}" + (f" ({t.detail})" if t.detail else "") for t in self.fired
        )


def thresholds(settings: Settings) -> dict[str, float]:
    return {
        FRESHNESS: float(settings.alert_freshness_seconds),
        STREAM_LAG: float(settings.alert_stream_lag_seconds),
        DQ_FAILURES: float(settings.alert_dq_failed_checks),
    }


def evaluate(
    measurements: Mapping[str, Measurement], limits: Mapping[str, float], open_alerts: frozenset[str]
) -> Evaluation:
    """The transitions of this check (see the module's docstring). Alerts without a threshold or a
    measurement are left as they are; a NaN measure counts as no measure."""
    transitions: list[Transition] = []
    breached: list[str] = []
    for alert in sorted(limits):
        threshold = limits[alert]
        measured = measurements.get(alert)
        if measured is None or measured.value is None or math.isnan(measured.value):
            continue
        value = measured.value
        if value > threshold:
            breached.append(alert)
            if alert not in open_alerts:
                transitions.append(Transition(alert, FIRING, value, threshold, measured.detail))
        elif alert in open_alerts:
            transitions.append(Transition(alert, RESOLVED, value, threshold, measured.detail))
    return Evaluation(tuple(transitions), tuple(breached))


def measure(client: Client) -> dict[str, Measurement]:
    """The three measures from the warehouse (the client's database)."""
    stream = client.query(
        "SELECT count() AS batches,"
        " dateDiff('millisecond', max(max_event_time), now64(3)) / 1000 AS freshness,"
        " argMax(freshness_s, finished_at) AS lag,"
        " argMax(query_name, finished_at) AS query"
        " FROM v_ops_stream_batches WHERE max_event_time IS NOT NULL"
    ).result_rows[0]
    batches, freshness, lag, query = stream
    found: dict[str, Measurement] = {}
    if batches:
        found[FRESHNESS] = Measurement(_number(freshness), "newest event the stream wrote")
        found[STREAM_LAG] = Measurement(_number(lag), f"newest micro-batch of {query}")
    dq = client.query(
        "SELECT run_id, countIf(NOT passed) AS failed,"
        " arrayStringConcat(arraySort(groupArrayIf(check_name, NOT passed)), ', ') AS checks"
        " FROM dq_results WHERE run_id = (SELECT argMax(run_id, checked_at) FROM dq_results)"
        " GROUP BY run_id"
    ).result_rows
    if dq:
        run_id, failed, checks = dq[0]
        found[DQ_FAILURES] = Measurement(float(failed), f"run {run_id}" + (f": {checks}" if checks else ""))
    return found


def open_alerts(client: Client) -> frozenset[str]:
    """Alerts whose newest row is a firing: their episode is open."""
    rows = client.query(
        "SELECT alert FROM ops_alerts GROUP BY alert HAVING argMax(state, recorded_at) = {firing:String}",
        parameters={"firing": FIRING},
    ).result_rows
    return frozenset(str(r[0]) for r in rows)


def record(client: Client, transitions: tuple[Transition, ...], run_id: str) -> None:
    if transitions:
        client.insert(
            "ops_alerts",
            [[t.alert, t.state, t.value, t.threshold, t.detail[:4000], run_id] for t in transitions],
            column_names=["alert", "state", "value", "threshold", "detail", "run_id"],
        )


def check(client: Client, limits: Mapping[str, float], run_id: str) -> Evaluation:
    """Measure, evaluate against the open episodes, record the transitions; the caller fails its
    task when ``fired`` is not empty."""
    evaluation = evaluate(measure(client), limits, open_alerts(client))
    record(client, evaluation.transitions, run_id)
    return evaluation


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number
