"""Sales velocity against the forecast (retail_platform/streaming/velocity.py): a burst opens one
episode that ends once the pace is back inside the forecast's interval; nothing opens without a breach
of the band; too few units, too short a window or no forecast are never judged; how the sales are cut
into micro-batches, their order within a batch and a replay change nothing."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_platform.events import parse_event
from retail_platform.settings import SettingsError, load_settings
from retail_platform.streaming.anomalies import CLOSED, OPEN
from retail_platform.streaming.batch import anomaly_message
from retail_platform.streaming.velocity import (
    INSIDE,
    MARGIN,
    UNJUDGED,
    VELOCITY_HIGH,
    VELOCITY_LOW,
    Forecast,
    VelocityConfig,
    add_sale,
    covered_seconds,
    judge,
    rate_per_day,
    run_velocity,
    window_units,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
DAY = T0.date()
KEY = ("store_001", "SKU0001")
CONFIG = VelocityConfig(window_seconds=3600, factor=3.0, min_units=20)
# 1,440 units a day: one a minute on an even day; the band is [1000/3, 6000] units a day.
FORECAST = Forecast(predicted=1440.0, lower=1000.0, upper=2000.0)


def sale(seconds: float, quantity: int = 1, key: tuple[str, str] = KEY, n: int = 0) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sale:{key}:{seconds}:{quantity}:{n}")),
        "event_time": T0 + timedelta(seconds=seconds),
        "store_id": key[0],
        "product_id": key[1],
        "quantity": quantity,
    }


def forecasts(forecast: Forecast = FORECAST, key: tuple[str, str] = KEY, day: date = DAY):
    return {(key[0], key[1], day): forecast}


def steady(per_minute: int, minutes: float, start: float = 0.0) -> list[dict[str, Any]]:
    """``per_minute`` single-unit sales a minute, evenly spaced."""
    step = 60.0 / per_minute
    return [sale(start + i * step, n=i) for i in range(int(minutes * per_minute))]


def in_batches(sales, cuts, fc=None, config=CONFIG):
    states: dict = {}
    rows = []
    bounds = [0, *sorted({c % (len(sales) + 1) for c in cuts}), len(sales)]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        changed, found = run_velocity(sales[lo:hi], states, forecasts() if fc is None else fc, config)
        states = {**states, **changed}
        rows.extend(found)
    return rows, states


def test_a_pace_inside_the_band_is_no_anomaly():
    # 3 a minute = 4,320 a day: above the interval's upper bound (2,000) but inside the band (6,000).
    rows, states = in_batches(steady(3, 120), [])
    assert rows == []
    assert judge(states[KEY], FORECAST, CONFIG) == MARGIN
    assert rate_per_day(states[KEY]) == pytest.approx(4320, rel=0.02)


def test_a_burst_opens_one_episode_that_ends_back_inside_the_interval():
    calm = steady(1, 60)  # 1,440/day: inside the interval
    burst = [sale(3600 + i / 5, n=10_000 + i) for i in range(300)]  # 300 units in a minute on top
    after = [sale(3660 + i * 60, n=20_000 + i) for i in range(70)]  # 1,440/day again; the burst leaves the hour
    rows, _ = in_batches(calm + burst + after, [])
    assert [(r.kind, r.status) for r in rows] == [(VELOCITY_HIGH, OPEN), (VELOCITY_HIGH, CLOSED)]
    opened, closed = rows
    assert opened.observed > opened.upper == 6000.0 and opened.expected == 1440.0
    assert closed.anomaly_id == opened.anomaly_id
    assert FORECAST.lower <= closed.observed <= FORECAST.upper
    assert closed.event_time > opened.event_time


def test_a_slow_pace_is_low_velocity_once_it_may_be_judged():
    config = VelocityConfig(window_seconds=3600, factor=3.0, min_units=20)
    fast = Forecast(predicted=100_000.0, lower=90_000.0, upper=110_000.0)  # band from 30,000 a day
    rows, _ = in_batches(steady(10, 60), [], forecasts(fast), config)  # 14,400 a day
    assert [(r.kind, r.status) for r in rows] == [(VELOCITY_LOW, OPEN)]
    # Opened once the window covers a bucket (a minute; the forecast expects 69 units by then), not
    # on the first few sales.
    assert timedelta(seconds=60) <= rows[0].event_time - T0 < timedelta(seconds=66)


def test_a_slow_mover_no_forecast_or_a_single_instant_are_not_judged():
    state = None
    for s in steady(1, 10):
        state = add_sale(state, s, CONFIG)
    # The forecast expects 9 units in the 9 minutes covered: fewer than min_units, not judged.
    assert window_units(state) == 10 and judge(state, FORECAST, CONFIG) == UNJUDGED
    assert in_batches(steady(60, 5), [], {})[0] == []  # no forecast for the day
    instant = [sale(0.0, 5, n=i) for i in range(10)]  # 50 units at one moment: no time covered
    state = None
    for s in instant:
        state = add_sale(state, s, CONFIG)
    assert covered_seconds(state) == 0 and judge(state, FORECAST, CONFIG) == UNJUDGED


def test_sales_leave_the_window_and_a_late_sale_counts_only_within_it():
    config = VelocityConfig(window_seconds=600)
    state = None
    for s in steady(1, 30):
        state = add_sale(state, s, config)
    assert window_units(state) == 10  # the last 10 minutes of 30
    assert covered_seconds(state) == pytest.approx(600, abs=10)
    late_inside = add_sale(state, sale(29 * 60 - 30, n=-1), config)
    assert window_units(late_inside) == 11 and late_inside.newest == state.newest
    late_outside = add_sale(state, sale(60, n=-2), config)
    assert late_outside.buckets == state.buckets


def test_a_changed_window_setting_counts_afresh():
    state = None
    for s in steady(1, 30):
        state = add_sale(state, s, CONFIG)
    other = VelocityConfig(window_seconds=1200)
    moved = add_sale(state, sale(1801, n=-3), other)
    assert window_units(moved) == 1 and moved.bucket_ms == other.bucket_ms


# ---- invariants ---------------------------------------------------------------------------------

# Minutes of sales at some pace each: (sales per minute, minutes).
paces = st.lists(st.tuples(st.integers(0, 40), st.integers(1, 15)), min_size=1, max_size=8)
bands = st.tuples(st.floats(0, 20_000), st.floats(0, 20_000)).map(sorted)


def paced(plan: list[tuple[int, int]], keys: int = 1) -> list[dict[str, Any]]:
    sales, at = [], 0.0
    for per_minute, minutes in plan:
        for i in range(per_minute * minutes):
            for k in range(keys):
                sales.append(sale(at + i * 60.0 / per_minute, 1 + i % 3, ("store_001", f"SKU000{k}"), n=len(sales)))
        at += minutes * 60
    return sales


@settings(max_examples=150, deadline=None)
@given(plan=paces, band=bands, cuts=st.lists(st.integers(0, 2000), max_size=5))
def test_episodes_open_only_on_a_breach_and_alternate_with_their_ends(plan, band, cuts):
    lower, upper = band
    fc = forecasts(Forecast((lower + upper) / 2, lower, upper))
    rows, _ = in_batches(paced(plan), cuts, fc)
    assert [r.status for r in rows] == [OPEN, CLOSED] * (len(rows) // 2) + [OPEN] * (len(rows) % 2)
    for open_row, closed_row in zip(rows[::2], rows[1::2], strict=False):
        assert closed_row.anomaly_id == open_row.anomaly_id and closed_row.kind == open_row.kind
    for row in rows:
        if row.status == OPEN:
            assert not row.lower <= row.observed <= row.upper, row
            assert (row.kind == VELOCITY_HIGH) == (row.observed > row.upper)
            # What the alerts topic carries meets the anomaly_alert contract and says what the row says.
            alert = parse_event(anomaly_message(row).value, expected_type="anomaly_alert")
            assert (alert["event_id"], alert["kind"], alert["observed"]) == (row.anomaly_id, row.kind, row.observed)
    assert len({r.anomaly_id for r in rows if r.status == OPEN}) == len([r for r in rows if r.status == OPEN])


@settings(max_examples=150, deadline=None)
@given(plan=paces, band=bands, cuts=st.lists(st.integers(0, 2000), max_size=5), seed=st.integers())
def test_batches_order_and_replays_change_nothing(plan, band, cuts, seed):
    lower, upper = band
    fc = forecasts(Forecast((lower + upper) / 2, lower, upper))
    sales = paced(plan)
    whole = in_batches(sales, [], fc)
    assert in_batches(sales, cuts, fc) == whole  # however the stream cut them into batches
    assert in_batches(sales, cuts, fc) == in_batches(sales, cuts, fc)  # a replay: the same
    shuffled = list(sales)
    random.Random(seed).shuffle(shuffled)
    assert run_velocity(shuffled, {}, fc, CONFIG) == run_velocity(sales, {}, fc, CONFIG)


@settings(max_examples=100, deadline=None)
@given(plan=paces)
def test_a_band_that_holds_every_pace_never_flags(plan):
    wide = forecasts(Forecast(1000.0, 0.0, 1e12))
    assert in_batches(paced(plan, keys=2), [0], wide)[0] == []


def test_keys_and_days_are_judged_against_their_own_forecast():
    other = ("store_002", "SKU0001")
    sales = [sale(i, key=KEY, n=i) for i in range(120)] + [sale(i, key=other, n=i) for i in range(120)]
    fc = {**forecasts(Forecast(20_000, 15_000, 25_000)), **forecasts(Forecast(1e6, 5e5, 2e6), other)}
    _, rows = run_velocity(sales, {}, fc, CONFIG)
    assert [(r.store_id, r.kind) for r in rows] == [("store_001", VELOCITY_HIGH), ("store_002", VELOCITY_LOW)]
    tomorrow = forecasts(Forecast(20_000, 15_000, 25_000), day=DAY + timedelta(days=1))
    assert run_velocity(sales[:120], {}, tomorrow, CONFIG)[1] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_seconds": 9}, "window_seconds must be within"),
        ({"window_seconds": 86_401}, "window_seconds must be within"),
        ({"factor": 0.5}, "factor must be at least 1"),
        ({"min_units": 0}, "min_units must be at least 1"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VelocityConfig(**kwargs)


def test_inside_is_the_interval_itself():
    state = None
    for s in steady(1, 30):
        state = add_sale(state, s, CONFIG)
    assert judge(state, Forecast(1440, 1000, 2000), CONFIG) == INSIDE


def test_the_velocity_settings_come_from_the_environment():
    defaults = load_settings({})
    assert (
        defaults.anomaly_velocity_window_seconds,
        defaults.anomaly_velocity_factor,
        defaults.anomaly_velocity_min_units,
    ) == (3600, 3.0, 20)
    custom = load_settings(
        {
            "RETAIL_ANOMALY_VELOCITY_WINDOW_SECONDS": "30",
            "RETAIL_ANOMALY_VELOCITY_FACTOR": "2.5",
            "RETAIL_ANOMALY_VELOCITY_MIN_UNITS": "50",
        }
    )
    assert (custom.anomaly_velocity_window_seconds, custom.anomaly_velocity_factor) == (30, 2.5)
    assert custom.anomaly_velocity_min_units == 50


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("RETAIL_ANOMALY_VELOCITY_WINDOW_SECONDS", "9", "out of range"),
        ("RETAIL_ANOMALY_VELOCITY_WINDOW_SECONDS", "1h", "not an integer"),
        ("RETAIL_ANOMALY_VELOCITY_FACTOR", "0.9", "out of range"),
        ("RETAIL_ANOMALY_VELOCITY_FACTOR", "nan", "out of range"),
        ("RETAIL_ANOMALY_VELOCITY_FACTOR", "three", "not a number"),
        ("RETAIL_ANOMALY_VELOCITY_MIN_UNITS", "0", "out of range"),
    ],
)
def test_a_bad_velocity_setting_stops_with_the_setting_named(name, raw, message):
    with pytest.raises(SettingsError, match=f"{name}.*{message}"):
        load_settings({name: raw})


@given(st.text(max_size=12))
def test_any_factor_text_is_a_bounded_number_or_refused_clearly(raw):
    try:
        value = load_settings({"RETAIL_ANOMALY_VELOCITY_FACTOR": raw}).anomaly_velocity_factor
    except SettingsError as exc:
        assert "RETAIL_ANOMALY_VELOCITY_FACTOR" in str(exc)
    else:
        assert 1.0 <= value <= 1000.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_forecast_that_is_not_finite_judges_nothing(bad):
    fast = steady(per_minute=40, minutes=90)  # far above FORECAST's band
    for forecast in (Forecast(bad, 1000.0, 2000.0), Forecast(1440.0, bad, 2000.0), Forecast(1440.0, 1000.0, bad)):
        rows, _ = in_batches(fast, [], forecasts(forecast))
        assert rows == []
    assert in_batches(fast, [], forecasts())[0]  # the same sales against a finite forecast are an anomaly
