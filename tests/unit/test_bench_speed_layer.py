"""The speed-layer benchmark's latency arithmetic, on the timestamp shapes Spark and the warehouse
client hand back (naive UTC from ``toPandas``, zone-aware from ``query_df``, or either)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.speed_layer import event_latencies, latency_summary


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
