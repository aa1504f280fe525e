"""The ops_stream_batches row: reconciliation (input = accepted + quarantined + duplicates), offsets
per partition, lag and health."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from retail_platform.streaming import tables
from retail_platform.streaming.ops import BatchStats, PartitionInput, StreamStatus, batch_row, lag

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def stats() -> BatchStats:
    return BatchStats(
        inputs={
            ("retail-sales-transactions", 0): PartitionInput(60, 159),
            ("retail-sales-transactions", 1): PartitionInput(40, 39),
            ("retail-inventory-updates", 0): PartitionInput(50, 49),
        },
        accepted_by_type={"sales_transaction": 90, "inventory_update": 48},
        quarantined=7,
        max_event_time=T0,
    )


def test_duplicates_are_what_the_batch_read_but_neither_accepted_nor_quarantined():
    s = stats()
    assert s.input_total == 150
    assert s.accepted == 138
    assert s.duplicates_dropped == 5
    assert s.input_by_topic() == {"retail-inventory-updates": 50, "retail-sales-transactions": 100}
    assert s.max_offsets() == {
        "retail-inventory-updates:0": 49,
        "retail-sales-transactions:0": 159,
        "retail-sales-transactions:1": 39,
    }


def test_a_batch_covers_the_partitions_its_offset_log_names_even_those_it_read_nothing_from():
    s = stats()
    s.covered = {
        "retail-sales-transactions:0": 160,  # = its rows' highest + 1: unchanged
        "retail-sales-transactions:1": 45,  # records up to 44 were in the batch's range
        "retail-inventory-updates:0": 10,  # lower than its rows: rows win (never moves back)
        "retail-price-changes:0": 7,  # read nothing there, yet covered offsets 0..6
        "retail-price-changes:1": 0,  # an empty partition has no offset to record
    }
    assert s.max_offsets() == {
        "retail-inventory-updates:0": 49,
        "retail-price-changes:0": 6,
        "retail-sales-transactions:0": 159,
        "retail-sales-transactions:1": 44,
    }
    assert s.input_total == 150  # coverage never changes the counts


def test_more_output_than_input_is_an_error_not_a_negative_count():
    s = stats()
    s.quarantined = 100
    with pytest.raises(ValueError, match="accounts for more records"):
        _ = s.duplicates_dropped


def test_batch_row_matches_the_table():
    row = batch_row(
        query_name="stream_events",
        query_id="qid",
        batch_id=3,
        started_at=T0,
        queryable_at=T0 + timedelta(seconds=0.5),
        finished_at=T0 + timedelta(seconds=1.5),
        stats=stats(),
        alerts=2,
        rows_written={"rt_sales_5min": 10},
    )
    named = dict(zip(tables.STREAM_BATCHES.column_names, row, strict=True))
    assert named["duration_ms"] == 1500
    assert named["queryable_at"] == T0 + timedelta(seconds=0.5)
    assert named["input_total"] == named["accepted"] + named["quarantined"] + named["duplicates_dropped"]
    assert named["alerts"] == 2 and named["rows_written"] == {"rt_sales_5min": 10}
    assert named["max_event_time"] == T0


def test_lag_per_partition():
    ends = {"t:0": 100, "t:1": 5, "t:2": 0}
    assert lag(ends, {"t:0": 90, "t:1": 5}) == {"t:0": 10, "t:1": 0, "t:2": 0}


def test_health_is_caught_up_or_recently_active():
    now = T0 + timedelta(minutes=10)
    caught_up = StreamStatus("s", "q", 3, 2, T0, {}, {"t:0": 0})
    behind_recent = StreamStatus("s", "q", 3, 2, now - timedelta(seconds=30), {}, {"t:0": 5})
    behind_stale = StreamStatus("s", "q", 3, 2, T0, {}, {"t:0": 5})
    never = StreamStatus("s", None, 0, None, None, {}, {"t:0": 5})
    assert caught_up.healthy(now) and behind_recent.healthy(now)
    assert not behind_stale.healthy(now) and not never.healthy(now)
