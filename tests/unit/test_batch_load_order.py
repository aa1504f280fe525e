"""The order of a day's load (batch/daily.py load_day): facts and aggregates swapped in, checks
recorded, and the watermark row only when every check passed. The warehouse calls are replaced by
recorders here, for the order alone; the behaviour against the real warehouse is in
tests/integration/test_daily_etl.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pytest

from retail_platform.batch import daily, facts, quality
from retail_platform.batch.daily import TypeResult
from retail_platform.events.contracts import EVENT_TYPES

DAY = date(2026, 11, 20)


def _snapshot_rows(*a, **k) -> pa.Table:
    return pa.table(
        {
            "store_id": ["s1"],
            "product_id": ["p1"],
            "quantity_on_hand": pa.array([3], pa.int32()),
            "last_event_id": ["e1"],
            "last_event_time": pa.array([datetime(2026, 11, 20, tzinfo=timezone.utc)], facts.TIMESTAMP),
            "quantity_on_order": pa.array([0], pa.uint32()),
        }
    )


@pytest.fixture
def calls(monkeypatch):
    log: list[str] = []
    wl = daily.wl
    monkeypatch.setattr(wl, "dimensions", lambda client, db: type("D", (), {"products": {}})())
    monkeypatch.setattr(wl, "previous_snapshots", lambda client, db, day: pd.DataFrame())
    monkeypatch.setattr(wl, "is_closed", lambda client, db, day: False)  # no closed day after the range
    monkeypatch.setattr(wl, "day_snapshots", lambda client, db, day: log.append(f"kept {day}") or pd.DataFrame())
    monkeypatch.setattr(wl, "reorder_policy", lambda client, db: {})
    # Inferred dimension members (batch/inferred.py): none needed here.
    made = SimpleNamespace(stores_created=0, products_created=0, sale_lines=0, summary=lambda: "none")
    monkeypatch.setattr(daily, "create_for_day", lambda *a, **k: made, raising=False)
    monkeypatch.setattr(daily, "attached", lambda *a, **k: made, raising=False)
    monkeypatch.setattr(daily.facts, "sales_rows", lambda *a, **k: pa.table({"x": [1]}))
    monkeypatch.setattr(daily.facts, "inventory_rows", _snapshot_rows)

    def swap(client, db, table, rows):
        log.append(f"swap {table} {sorted(d.day for d in rows)}")
        return len(rows)

    monkeypatch.setattr(wl, "replace_days", swap)
    monkeypatch.setattr(daily.aggregates, "refresh", lambda client, db, a, b: log.append(f"aggregates {a.day}-{b.day}"))
    monkeypatch.setattr(
        wl, "record_checks", lambda client, db, runs: log.append(f"checks {[d.day for _, d, _ in runs]}")
    )
    monkeypatch.setattr(
        wl,
        "record_watermarks",
        lambda client, db, marks: marks and log.append(f"watermark {[m.day.day for m in marks]}"),
    )
    monkeypatch.setattr(
        wl,
        "withdraw_watermarks",
        lambda client, db, days: days and log.append(f"withdraw {[d.day for d in days]}") and days or [],
    )
    return log


def _types() -> dict[str, TypeResult]:
    return {
        t: TypeResult(rows=10, complete=10, distinct_ids=10, accepted=10, silver=pd.DataFrame()) for t in daily.TYPES
    }


def _totals(monkeypatch, speed_units):
    totals = {"rows": 5, "distinct_sale_ids": 5, "units": 10, "revenue": 100.0}
    totals |= {"speed_units": speed_units, "speed_revenue": 100.0 if speed_units is not None else None}
    monkeypatch.setattr(daily.wl, "sales_totals", lambda client, db, days: {day: dict(totals) for day in days})


def test_watermark_is_written_after_every_check_passed(calls, monkeypatch):
    _totals(monkeypatch, speed_units=10)
    result = daily.load_day(None, "db", DAY, _types(), "run")
    assert calls == [
        "swap fact_sales [20]",
        "swap fact_inventory [20]",
        "aggregates 20-20",
        "checks [20]",
        "watermark [20]",
    ]
    assert all(c.passed for c in result.checks)


def test_a_failed_post_load_check_writes_no_watermark_and_withdraws_an_old_one(calls, monkeypatch):
    _totals(monkeypatch, speed_units=50)  # the speed layer disagrees: reconciliation fails
    with pytest.raises(quality.DataQualityError, match="reconciliation:units"):
        daily.load_day(None, "db", DAY, _types(), "run")
    assert calls == [
        "swap fact_sales [20]",
        "swap fact_inventory [20]",
        "aggregates 20-20",
        "checks [20]",
        "withdraw [20]",
    ]


def test_a_failed_input_check_loads_nothing(calls, monkeypatch):
    _totals(monkeypatch, speed_units=10)
    types = _types()
    types["sales_transaction"] = TypeResult(rows=10, complete=5, distinct_ids=10, accepted=10, silver=pd.DataFrame())
    with pytest.raises(quality.DataQualityError, match="completeness:sales_transaction"):
        daily.load_day(None, "db", DAY, types, "run")
    assert calls == ["checks [20]", "kept 2026-11-20"]


def test_a_range_swaps_each_fact_once_and_closes_the_days_that_passed(calls, monkeypatch):
    """Three days in one load: one swap per fact for all of them, one aggregate rebuild, one insert of
    the checks, one of the watermark rows. The middle day fails an input check: it loads nothing (its
    stored snapshot is what the next day carries forward) and is listed as failed; the others close."""
    _totals(monkeypatch, speed_units=10)
    days = [DAY + timedelta(days=i) for i in range(3)]
    types = {day: _types() for day in days}
    types[days[1]]["sales_transaction"] = TypeResult(rows=10, complete=5, distinct_ids=10, accepted=10)
    span = daily.load_days(None, "db", types, "run", before_swaps=lambda: calls.append("claims checked"))
    assert calls == [
        "checks [21]",
        "kept 2026-11-21",
        "claims checked",
        "swap fact_sales [20, 22]",
        "swap fact_inventory [20, 22]",
        "aggregates 20-22",
        "checks [20, 22]",
        "watermark [20, 22]",
    ]
    assert [d.day for d in span.days] == [days[0], days[2]]
    assert list(span.failed) == [days[1].isoformat()] and "completeness:sales_transaction" in span.failed["2026-11-21"]
    assert len({d.batch_id for d in span.days}) == 2  # a batch id per day, as a run of each day alone


@pytest.mark.parametrize("changed", [True, False])
def test_a_load_before_a_closed_day_requests_its_recompute_when_what_it_starts_from_changed(
    calls, monkeypatch, changed
):
    """The cascade (late_arrivals): the snapshot the closed day after the range starts from is read
    before the swaps and after the watermark; a change records a request for that day, no change none."""
    _totals(monkeypatch, speed_units=10)
    wl = daily.wl
    before = _snapshot_rows().to_pandas()
    after = before.assign(quantity_on_order=[7]) if changed else before.copy()
    following = iter([before, after])  # read before the swaps, then after the watermark

    def snapshots(client, db, day):
        calls.append(f"snapshot before {day.day}")
        return pd.DataFrame() if day == DAY else next(following)

    monkeypatch.setattr(wl, "previous_snapshots", snapshots)
    monkeypatch.setattr(wl, "is_closed", lambda client, db, day: day == DAY + timedelta(days=1))
    monkeypatch.setattr(
        daily.late_arrivals, "request_recompute", lambda client, db, day, by: calls.append(f"request {day.day}")
    )
    daily.load_day(None, "db", DAY, _types(), "run")
    expected = [
        "snapshot before 20",
        "snapshot before 21",
        "swap fact_sales [20]",
        "swap fact_inventory [20]",
        "aggregates 20-20",
        "checks [20]",
        "watermark [20]",
        "snapshot before 21",
    ]
    assert calls == expected + (["request 21"] if changed else [])


def test_carry_forward_keeps_the_newest_snapshot_per_store_and_product():
    """What previous_snapshots reads (argMax by day) once a day is in: the day's rows, else the older."""
    previous = pd.DataFrame({"store_id": ["s1", "s1"], "product_id": ["p1", "p2"], "quantity_on_hand": [1, 2]})
    today = pd.DataFrame({"store_id": ["s1", "s2"], "product_id": ["p2", "p1"], "quantity_on_hand": [5, 7]})
    after = daily.carry_forward(previous, today).sort_values(["store_id", "product_id"])
    assert after.values.tolist() == [["s1", "p1", 1], ["s1", "p2", 5], ["s2", "p1", 7]]
    assert daily.carry_forward(previous, today.iloc[0:0]) is previous
    assert daily.carry_forward(previous.iloc[0:0], today).values.tolist() == today.values.tolist()


def test_completeness_counts_the_required_fields_that_cannot_be_null():
    assert daily.never_null("purchase_order") == [
        "event_id",
        "event_type",
        "schema_version",
        "event_time",
        "store_id",
        "product_id",
        "order_id",
        "status",
        "quantity",
    ]  # fmt: skip  (expected_delivery is required and null on a receipt)
    assert daily.never_null("sales_transaction") == EVENT_TYPES["sales_transaction"].schema["required"]


def test_a_type_that_never_landed_has_empty_days_with_the_silver_columns():
    frame = daily.empty_silver("purchase_order")
    assert frame.empty and {"order_id", "status", "quantity", "kafka_topic", "year", "category"} <= set(frame.columns)
    assert facts.on_order(None, frame) == {}
