"""The stream's stock anomaly detector (retail_platform/streaming/anomalies.py): a movement that sales
and deliveries do not explain opens one episode, the next explained one closes it; nothing is flagged
without a breach of the tolerance; how the events are cut into micro-batches, their order within a
batch and a replay of a batch change nothing."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_platform.events import parse_event
from retail_platform.settings import SettingsError, load_settings
from retail_platform.streaming.anomalies import (
    CLOSED,
    OPEN,
    STOCK_UNEXPLAINED,
    AnomalyConfig,
    StockState,
    advance_stock,
    expected_level,
    opened,
    run_stock,
)
from retail_platform.streaming.batch import anomaly_message

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
KEY = ("store_001", "SKU0001")
REASONS = ("sale", "delivery", "adjustment", "shrinkage")


def event(n: int, reason: str, change: int, level: int, key: tuple[str, str] = KEY) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"inv:{key}:{n}")),
        "event_time": T0 + timedelta(seconds=n),
        "store_id": key[0],
        "product_id": key[1],
        "quantity_change": change,
        "new_quantity": level,
        "reason": reason,
    }


# A step: (reason, recorded change, unexplained units added to the level the event reports).
steps = st.lists(
    st.tuples(st.sampled_from(REASONS), st.integers(-5, 40), st.one_of(st.just(0), st.integers(-30, 30))),
    min_size=1,
    max_size=40,
)


def history(start: int, plan: list[tuple[str, int, int]]) -> tuple[list[dict[str, Any]], list[bool]]:
    """Inventory events of one key from ``plan`` and, per event after the first, whether its reported
    level differs from the explained one by more than the default tolerance."""
    events = [event(0, "delivery", start, start)]
    breaches: list[bool] = []
    level = start
    for n, (reason, change, noise) in enumerate(plan, start=1):
        level = (level + change if reason in ("sale", "delivery") else level) + noise
        events.append(event(n, reason, change, level))
        breaches.append(abs(noise) > AnomalyConfig().stock_tolerance)
    return events, breaches


def in_batches(events: list[dict[str, Any]], cuts: list[int], config: AnomalyConfig = AnomalyConfig()):
    """Run the events through run_stock cut at ``cuts``; the rows of all batches."""
    states: dict[tuple[str, str], StockState] = {}
    rows = []
    bounds = [0, *sorted({c % (len(events) + 1) for c in cuts}), len(events)]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        changed, found = run_stock(events[lo:hi], states, config)
        states = {**states, **changed}
        rows.extend(found)
    return rows, states


def edges(breaches: list[bool]) -> tuple[int, int]:
    rises = sum(1 for before, now in zip([False, *breaches], breaches, strict=False) if now and not before)
    falls = sum(1 for before, now in zip([False, *breaches], breaches, strict=False) if before and not now)
    return rises, falls


@settings(max_examples=300, deadline=None)
@given(start=st.integers(0, 500), plan=steps, cuts=st.lists(st.integers(0, 60), max_size=6))
def test_one_opening_per_episode_and_one_end_whatever_the_batches(start, plan, cuts):
    events, breaches = history(start, plan)
    rows, _ = in_batches(events, cuts)
    rises, falls = edges(breaches)
    assert [r.status for r in rows] == [OPEN, CLOSED] * falls + [OPEN] * (rises - falls)
    # An episode's end carries the id of its opening; every episode has its own id.
    for open_row, closed_row in zip(rows[::2], rows[1::2], strict=False):
        assert closed_row.anomaly_id == open_row.anomaly_id
    assert len({r.anomaly_id for r in opened(rows)}) == rises
    # What the alerts topic carries meets the anomaly_alert contract and says what the row says.
    for row in opened(rows):
        alert = parse_event(anomaly_message(row).value, expected_type="anomaly_alert")
        assert (alert["event_id"], alert["observed"], alert["expected"]) == (row.anomaly_id, row.observed, row.expected)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(0, 500), plan=steps, cuts=st.lists(st.integers(0, 60), max_size=6))
def test_no_anomaly_without_a_breach_and_an_end_only_within_the_tolerance(start, plan, cuts):
    events, _ = history(start, plan)
    rows, _ = in_batches(events, cuts)
    for row in rows:
        inside = row.lower <= row.observed <= row.upper
        assert inside == (row.status == CLOSED), row
        assert row.upper - row.expected == row.expected - row.lower == AnomalyConfig().stock_tolerance
        assert row.kind == STOCK_UNEXPLAINED
    explained = [(reason, change, 0) for reason, change, _ in plan]
    assert in_batches(history(start, explained)[0], cuts)[0] == []


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 500), plan=steps, cuts=st.lists(st.integers(0, 60), max_size=6), seed=st.integers())
def test_a_replayed_or_reordered_batch_gives_the_same_rows_and_state(start, plan, cuts, seed):
    events, _ = history(start, plan)
    rows, states = in_batches(events, cuts)
    # A replay starts from the same state with the same records: the same rows and state.
    assert in_batches(events, cuts) == (rows, states)
    # The records of a batch in any order (Kafka partitions, out-of-order producers): the same.
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    assert run_stock(shuffled, {}, AnomalyConfig()) == run_stock(events, {}, AnomalyConfig())


def test_a_stale_event_changes_nothing():
    state = StockState(20, T0 + timedelta(seconds=10), str(uuid.uuid4()))
    stale = event(5, "adjustment", 0, 500)  # older than the level the state holds
    assert advance_stock(KEY, state, [stale], AnomalyConfig()) == (state, [])


def test_a_miscount_opens_an_episode_that_the_next_explained_movement_ends():
    events = [
        event(0, "delivery", 40, 40),
        event(1, "sale", -2, 38),
        event(2, "adjustment", -1, 20),  # a stock count found 18 fewer: shrinkage
        event(3, "shrinkage", -3, 12),  # still unexplained: the same episode
        event(4, "sale", -1, 11),  # explained: the episode ends
        event(5, "sale", -1, 9),
    ]
    changed, rows = run_stock(events, {}, AnomalyConfig(stock_tolerance=5))
    assert [(r.status, r.observed, r.expected, r.source_event_id) for r in rows] == [
        (OPEN, 20.0, 38.0, events[2]["event_id"]),
        (CLOSED, 11.0, 11.0, events[4]["event_id"]),
    ]
    assert changed[KEY] == StockState(9, events[5]["event_time"], events[5]["event_id"], "")
    message = json.loads(anomaly_message(opened(rows)[0]).value)
    assert message["event_type"] == "anomaly_alert" and message["event_id"] == rows[0].anomaly_id
    assert (message["observed"], message["expected"], message["kind"]) == (20.0, 38.0, STOCK_UNEXPLAINED)
    assert message["event_time"] == "2026-03-02T10:00:02.000Z"


def test_within_the_tolerance_is_not_an_anomaly_and_the_first_level_is_not_judged():
    events = [event(0, "adjustment", 0, 500), event(1, "adjustment", 0, 495), event(2, "sale", -1, 494)]
    assert run_stock(events, {}, AnomalyConfig(stock_tolerance=5))[1] == []
    assert [r.status for r in run_stock(events, {}, AnomalyConfig(stock_tolerance=4))[1]] == [OPEN, CLOSED]


def test_keys_are_independent():
    other = ("store_002", "SKU0001")
    events = [event(0, "sale", -1, 10), event(1, "sale", -1, 0), event(0, "sale", -1, 10, other)]
    events.append(event(1, "sale", -1, 9, other))
    changed, rows = run_stock(events, {}, AnomalyConfig())
    assert [(r.store_id, r.status) for r in rows] == [("store_001", OPEN)]
    assert set(changed) == {KEY, other}


def test_expected_level_counts_sales_and_deliveries_only():
    assert expected_level(10, {"reason": "sale", "quantity_change": -3}) == 7
    assert expected_level(10, {"reason": "delivery", "quantity_change": 40}) == 50
    assert expected_level(10, {"reason": "shrinkage", "quantity_change": -3}) == 10
    assert expected_level(10, {"reason": "adjustment", "quantity_change": 2}) == 10


def test_a_negative_tolerance_is_refused():
    with pytest.raises(ValueError, match="stock_tolerance must be at least 0"):
        AnomalyConfig(stock_tolerance=-1)


def test_the_tolerance_comes_from_the_settings():
    assert load_settings({}).anomaly_stock_tolerance == 5
    assert load_settings({"RETAIL_ANOMALY_STOCK_TOLERANCE": "0"}).anomaly_stock_tolerance == 0
    assert load_settings({"RETAIL_ANOMALY_STOCK_TOLERANCE": "40"}).anomaly_stock_tolerance == 40


@pytest.mark.parametrize(
    ("raw", "message"),
    [("-1", "out of range"), ("1000001", "out of range"), ("5 units", "not an integer"), ("", "not an integer")],
)
def test_a_bad_tolerance_stops_with_the_setting_named(raw, message):
    with pytest.raises(SettingsError, match=f"RETAIL_ANOMALY_STOCK_TOLERANCE.*{message}"):
        load_settings({"RETAIL_ANOMALY_STOCK_TOLERANCE": raw})


@given(st.text(max_size=12))
def test_any_tolerance_text_is_a_bounded_whole_number_or_refused_clearly(raw):
    try:
        value = load_settings({"RETAIL_ANOMALY_STOCK_TOLERANCE": raw}).anomaly_stock_tolerance
    except SettingsError as exc:
        assert "RETAIL_ANOMALY_STOCK_TOLERANCE" in str(exc)
    else:
        assert 0 <= value <= 1_000_000
