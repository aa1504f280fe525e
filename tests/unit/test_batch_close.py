"""The rule that closes a day (retail_platform/batch/close.py): pure functions, no services."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_platform.batch import close
from retail_platform.batch.close import CloseTarget, DayNotClosable

DAY = date(2026, 11, 20)
GRACE = 60


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_a_day_closes_at_its_end_plus_the_grace():
    assert close.closes_at(DAY, GRACE) == _at("2026-11-21T01:00:00")
    assert close.too_early(DAY, _at("2026-11-21T01:00:00"), GRACE) is None
    assert close.too_early(DAY, _at("2026-11-23T08:00:00"), GRACE) is None


@pytest.mark.parametrize(
    ("now", "word"),
    [("2026-11-19T12:00:00", "a future day"), ("2026-11-20T23:59:59", "today"), ("2026-11-21T00:59:59", "too recent")],
)
def test_today_a_future_day_and_the_grace_period_are_refused(now, word):
    reason = close.too_early(DAY, _at(now), GRACE)
    assert reason is not None and word in reason and "2026-11-21 01:00 UTC" in reason
    with pytest.raises(DayNotClosable, match="refused: 2026-11-20 is"):
        close.refuse_too_early([DAY - timedelta(days=3), DAY], _at(now), GRACE)


def test_only_partitions_holding_records_at_t_are_waited_for():
    target = close.target_from_offsets(
        _at("2026-11-21T02:00:00"),
        begin={"sales:0": 0, "sales:1": 40, "prices:0": 0},
        end={"sales:0": 100, "sales:1": 40, "prices:0": 0},
    )
    # sales:1 was emptied by retention, prices:0 never written: nothing to consume there.
    assert target.end_offsets == {"sales:0": 100}


def test_behind_lists_partitions_short_of_the_target():
    assert close.behind({"a:0": 10, "a:1": 5}, {"a:0": 10, "a:1": 3}) == {"a:1": 2}
    assert close.behind({"a:0": 10}, {"a:0": 12}) == {}
    assert close.behind({"a:0": 10}, {}) == {"a:0": 10}


def test_closable_once_every_partition_passed_the_snapshot():
    target = CloseTarget(_at("2026-11-21T01:30:00"), {"s:0": 100, "s:1": 50})
    ok = close.verdict(DAY, target, {"s:0": 100, "s:1": 51, "other:0": 3}, GRACE)
    assert ok.closable and ok.behind == {}
    waiting = close.verdict(DAY, target, {"s:0": 90, "s:1": 50}, GRACE)
    assert not waiting.closable
    assert waiting.behind == {"s:0": 10}
    assert "s:0 behind by 10 record(s) (at 90, needs 100)" in waiting.reason
    assert "the stream is behind" in waiting.reason


def test_no_stream_and_empty_topics_close_non_empty_topics_wait():
    empty = CloseTarget(_at("2026-11-22T08:00:00"), {})
    assert close.verdict(DAY, empty, {}, GRACE, has_stream=False).closable
    written = CloseTarget(_at("2026-11-22T08:00:00"), {"s:0": 7})
    result = close.verdict(DAY, written, {}, GRACE, has_stream=False)
    assert not result.closable and result.behind == {"s:0": 7}
    assert "no streaming query has consumed the input topics" in result.reason


def test_a_snapshot_taken_before_the_day_closes_proves_nothing():
    early = CloseTarget(_at("2026-11-21T00:30:00"), {})
    result = close.verdict(DAY, early, {}, GRACE)
    assert not result.closable and "before 2026-11-20 closes" in result.reason


def test_one_snapshot_serves_every_earlier_day():
    target = CloseTarget(_at("2026-11-25T08:00:00"), {"s:0": 5})
    for day in (date(2026, 11, 1), date(2026, 11, 24)):
        assert close.verdict(day, target, {"s:0": 5}, GRACE).closable


def test_target_round_trips_through_json():
    target = CloseTarget(_at("2026-11-21T01:30:00"), {"s:1": 5, "s:0": 9})
    assert CloseTarget.from_json(target.to_json()) == target
    naive = CloseTarget.from_json({"taken_at": "2026-11-21T01:30:00", "end_offsets": {}})
    assert naive.taken_at.tzinfo is not None


class _Settings:
    close_grace_minutes = GRACE


def test_await_closable_waits_on_one_snapshot_then_fails_naming_partitions(monkeypatch):
    positions = iter([{"s:0": 1}, {"s:0": 4}, {"s:0": 9}])
    monkeypatch.setattr(close, "stream_positions", lambda settings, client=None: (True, next(positions)))
    target = CloseTarget(_at("2026-11-22T08:00:00"), {"s:0": 9})
    slept: list[float] = []
    result = close.await_closable(
        _Settings(), [DAY], wait_seconds=60, poll_seconds=1, target=target,
        clock=lambda: _at("2026-11-22T08:00:00"), sleep=slept.append,
    )  # fmt: skip
    assert result.closable and slept == [1, 1]

    monkeypatch.setattr(close, "stream_positions", lambda settings, client=None: (True, {"s:0": 2}))
    with pytest.raises(DayNotClosable, match=r"s:0 behind by 7 record\(s\).*waited 0 s"):
        close.await_closable(
            _Settings(), [DAY], wait_seconds=0, target=target, clock=lambda: _at("2026-11-22T08:00:00")
        )


def test_await_closable_refuses_today_without_asking_any_service(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("no service may be asked")

    monkeypatch.setattr(close, "take_target", boom)
    monkeypatch.setattr(close, "stream_positions", boom)
    with pytest.raises(DayNotClosable, match="today"):
        close.await_closable(_Settings(), [DAY], wait_seconds=60, clock=lambda: _at("2026-11-20T10:00:00"))


def test_landing_files_trigger_only_days_that_may_close():
    days = [date(2026, 11, 18), DAY, date(2026, 11, 21), DAY]
    closable, later = close.split_too_early(days, _at("2026-11-21T00:30:00"), GRACE)
    assert closable == [date(2026, 11, 18)]
    assert later == [DAY, date(2026, 11, 21)]


def test_the_cli_refuses_today_and_a_future_range_before_starting_spark(capsys):
    from spark_jobs import daily_etl

    today = datetime.now(timezone.utc).date()
    assert daily_etl.main(["--date", today.isoformat()]) == 3
    assert f"{today} is today" in capsys.readouterr().err
    first, last = today - timedelta(days=3), today + timedelta(days=1)
    assert daily_etl.main(["--from", first.isoformat(), "--to", last.isoformat()]) == 3
    assert f"{last} is a future day" in capsys.readouterr().err


def test_days_group_into_runs_of_consecutive_days():
    d = date(2026, 2, 27)
    days = [d, d + timedelta(days=2), d + timedelta(days=1), d + timedelta(days=5), d + timedelta(days=5)]
    assert close.spans(days) == [(d, d + timedelta(days=2)), (d + timedelta(days=5), d + timedelta(days=5))]
    assert close.spans([]) == []


@given(st.sets(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), max_size=60))
def test_spans_cover_exactly_the_days_without_touching_each_other(days):
    found = close.spans(days)
    covered = [first + timedelta(days=n) for first, last in found for n in range((last - first).days + 1)]
    assert covered == sorted(days)  # every day once, oldest first
    assert all((b[0] - a[1]).days > 1 for a, b in itertools.pairwise(found))  # a gap between spans
