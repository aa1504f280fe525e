"""The speed-layer benchmark's arithmetic: latency on the timestamp shapes Spark and the warehouse
client hand back (naive UTC from ``toPandas``, zone-aware from ``query_df``, or either), and the
micro-batch summary read from the stream's log."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from bench.speed_layer import (
    batch_summary,
    event_latencies,
    latency_summary,
    progress_summary,
    stream_batches,
    stream_progress,
)


def frames(event_tz: str | None, finished_tz: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    events = pd.DataFrame(
        {
            "event_time": pd.to_datetime(["2026-12-07 10:00:00", "2026-12-07 10:00:02", "2026-12-07 10:00:04"]),
            "batch_id": [1, 1, 2],
        }
    )
    batches = pd.DataFrame(
        {
            "batch_id": [1, 2, 3],
            "finished_at": pd.to_datetime(["2026-12-07 10:00:05", "2026-12-07 10:00:10", "x"], errors="coerce"),
        }
    )
    if event_tz:
        events["event_time"] = events["event_time"].dt.tz_localize("UTC").dt.tz_convert(event_tz)
    if finished_tz:
        batches["finished_at"] = batches["finished_at"].dt.tz_localize("UTC").dt.tz_convert(finished_tz)
    return events, batches


@pytest.mark.parametrize("event_tz", [None, "UTC", "Asia/Tokyo"])
@pytest.mark.parametrize("finished_tz", [None, "UTC", "America/Los_Angeles"])
def test_latency_is_batch_finish_minus_event_time_whatever_the_zones(event_tz, finished_tz):
    events, batches = frames(event_tz, finished_tz)
    assert sorted(event_latencies(events, batches).tolist()) == [3.0, 5.0, 6.0]


def test_events_without_a_batch_are_not_measured():
    events, batches = frames(None, None)
    assert len(event_latencies(events, batches[batches.batch_id == 1])) == 2


def test_summary_percentiles():
    summary = latency_summary(np.arange(1, 101, dtype=float))
    assert summary == {"events": 100, "p50_s": 50.5, "p95_s": 95.05, "p99_s": 99.01, "max_s": 100.0}
    assert latency_summary(np.array([])) == {"events": 0}


def log_line(batch_id: int, finished_at: str, duration_ms: int, input_total: int, steps: dict[str, float]) -> str:
    summary = {
        "batch_id": batch_id,
        "finished_at": finished_at,
        "duration_ms": duration_ms,
        "input_total": input_total,
        "step_seconds": steps,
    }
    return f"2026-12-07 10:00:00,000 INFO stream_events batch {json.dumps(summary)}\n"


def test_batches_are_read_from_the_log_within_the_window_only(tmp_path):
    log = tmp_path / "stream.log"
    log.write_text(
        "=== 2026-12-07 09:59:00 starting stream\n"
        + log_line(1, "2026-12-07 09:59:59.900000+00:00", 4000, 100, {"bronze": 1.0})
        + log_line(2, "2026-12-07 10:00:03.000000+00:00", 3000, 900, {"bronze": 2.0, "collect": 0.5})
        + "2026-12-07 10:00:04,000 INFO stream_events batch {not json\n"
        + log_line(3, "2026-12-07 10:00:09.000000+00:00", 5000, 1100, {"bronze": 4.0, "collect": 1.5})
        + log_line(4, "2026-12-07 10:00:10.000000+00:00", 1000, 7, {})
    )
    since = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)
    until = datetime(2026, 12, 7, 10, 0, 10, tzinfo=timezone.utc)
    batches = stream_batches(log, since, until)
    assert [b["batch_id"] for b in batches] == [2, 3]
    summary = batch_summary(batches, seconds=10.0)
    assert summary["batches"] == 2
    assert summary["consumed"] == 2000
    assert summary["consumed_per_s"] == 200
    assert summary["duration_max_s"] == 5.0
    assert summary["mean_step_seconds"] == {"bronze": 3.0, "collect": 1.0}
    assert summary["mean_input_per_batch"] == 1000


def test_no_batches_no_rates(tmp_path):
    assert stream_batches(tmp_path / "missing.log", datetime.min, datetime.max) == []
    assert batch_summary([], seconds=10.0) == {"batches": 0}


def test_progress_reports_of_the_window_s_batches_the_last_report_of_an_id_wins(tmp_path):
    def report(batch_id: int, add_batch: int, rows: int, removed: int) -> str:
        body = {
            "batch_id": batch_id,
            "input_rows": 10,
            "duration_ms": {"addBatch": add_batch, "triggerExecution": add_batch + 100},
            "state": [{"numRowsTotal": rows, "numRowsRemoved": removed, "allRemovalsTimeMs": 5, "memoryUsedBytes": 7}],
        }
        return f"2026-12-07 10:00:00,000 INFO stream_events progress {json.dumps(body)}\n"

    log = tmp_path / "stream.log"
    log.write_text(report(1, 900, 50, 0) + report(2, 1000, 100, 10) + report(2, 3000, 120, 20) + report(3, 500, 130, 0))
    reports = stream_progress(log, {2, 3})
    assert [r["batch_id"] for r in reports] == [2, 3]
    summary = progress_summary(reports)
    assert summary["triggers"] == 2
    assert summary["mean_duration_ms"] == {"addBatch": 1750, "triggerExecution": 1850}
    assert summary["state_max"] == {"memoryUsedBytes": 7, "numRowsTotal": 130}
    assert summary["state_mean_per_trigger"] == {"allRemovalsTimeMs": 5.0, "numRowsRemoved": 10.0}
    assert progress_summary([]) == {"triggers": 0}
