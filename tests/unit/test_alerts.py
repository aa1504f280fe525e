"""The threshold alerts' logic (retail_platform.alerts.evaluate) and their settings: property tests
over arbitrary measures, thresholds and open episodes. The warehouse side (measures, episodes in
ops_alerts) is tested against the real warehouse in tests/integration/test_serving_views.py."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_platform import alerts
from retail_platform.alerts import ALERTS, FIRING, RESOLVED, Measurement, evaluate
from retail_platform.settings import SettingsError, load_settings

values = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**6), max_value=10**6).map(float),
)
measurements = st.dictionaries(
    st.sampled_from(ALERTS), st.builds(Measurement, values, st.text(max_size=20)), max_size=len(ALERTS)
)
limits = st.dictionaries(
    st.sampled_from(ALERTS), st.floats(min_value=0, max_value=1e9, allow_nan=False), max_size=len(ALERTS)
)
open_sets = st.frozensets(st.sampled_from(ALERTS))


def _measured(m: dict[str, Measurement], alert: str) -> float | None:
    value = m[alert].value if alert in m else None
    return None if value is None or math.isnan(value) else value


@given(measurements, limits, open_sets)
def test_fires_on_a_new_breach_and_resolves_an_open_episode_back_within_its_threshold(m, lim, opened):
    result = evaluate(m, lim, opened)
    fired = {t.alert for t in result.transitions if t.state == FIRING}
    resolved = {t.alert for t in result.transitions if t.state == RESOLVED}
    measured = {a: v for a in lim if (v := _measured(m, a)) is not None}
    assert set(result.breached) == {a for a, v in measured.items() if v > lim[a]}
    assert fired == set(result.breached) - opened
    assert resolved == {a for a, v in measured.items() if v <= lim[a]} & opened
    for t in result.transitions:  # each record carries what was measured and the limit it was held to
        assert t.value == measured[t.alert] and t.threshold == lim[t.alert] and t.detail == m[t.alert].detail


@given(measurements, limits, open_sets)
def test_once_per_episode_a_second_check_of_the_same_measures_records_nothing(m, lim, opened):
    first = evaluate(m, lim, opened)
    now_open = (opened | {t.alert for t in first.fired}) - {t.alert for t in first.transitions if t.state == RESOLVED}
    second = evaluate(m, lim, frozenset(now_open))
    assert second.transitions == ()
    assert second.breached == first.breached


@given(limits, open_sets)
def test_no_measure_changes_nothing(lim, opened):
    nothing = {a: Measurement(None) for a in ALERTS}
    assert evaluate(nothing, lim, opened).transitions == ()
    assert evaluate({a: Measurement(math.nan) for a in ALERTS}, lim, opened).transitions == ()


def test_the_threshold_itself_is_not_a_breach_and_infinity_is():
    lim = {alerts.FRESHNESS: 900.0, alerts.DQ_FAILURES: 0.0}
    assert (
        evaluate(
            {alerts.FRESHNESS: Measurement(900.0), alerts.DQ_FAILURES: Measurement(0.0)}, lim, frozenset()
        ).transitions
        == ()
    )
    fired = evaluate({alerts.FRESHNESS: Measurement(math.inf)}, lim, frozenset()).fired
    assert [(t.alert, t.state) for t in fired] == [(alerts.FRESHNESS, FIRING)]


def test_the_failure_message_names_value_threshold_and_detail():
    result = evaluate({alerts.DQ_FAILURES: Measurement(2.0, "run r1: a, b")}, {alerts.DQ_FAILURES: 0.0}, frozenset())
    assert result.message() == "dq_failures 2 > 0 (run r1: a, b)"


def test_thresholds_come_from_the_settings():
    settings = load_settings(
        {
            "RETAIL_ALERT_FRESHNESS_SECONDS": "60",
            "RETAIL_ALERT_STREAM_LAG_SECONDS": "5",
            "RETAIL_ALERT_DQ_FAILED_CHECKS": "2",
        }
    )
    assert alerts.thresholds(settings) == {alerts.FRESHNESS: 60.0, alerts.STREAM_LAG: 5.0, alerts.DQ_FAILURES: 2.0}
    assert alerts.thresholds(load_settings({})) == {
        alerts.FRESHNESS: 900.0,
        alerts.STREAM_LAG: 120.0,
        alerts.DQ_FAILURES: 0.0,
    }


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("RETAIL_ALERT_FRESHNESS_SECONDS", "0", "out of range"),
        ("RETAIL_ALERT_FRESHNESS_SECONDS", "15m", "not an integer"),
        ("RETAIL_ALERT_STREAM_LAG_SECONDS", "-1", "out of range"),
        ("RETAIL_ALERT_STREAM_LAG_SECONDS", "", "not an integer"),
        ("RETAIL_ALERT_DQ_FAILED_CHECKS", "-1", "out of range"),
        ("RETAIL_ALERT_DQ_FAILED_CHECKS", "1.5", "not an integer"),
    ],
)
def test_a_bad_threshold_stops_with_what_to_fix(name, raw, message):
    with pytest.raises(SettingsError, match=f"{name}.*{message}"):
        load_settings({name: raw})


@given(st.text(max_size=12))
def test_any_threshold_text_is_accepted_as_a_whole_number_or_refused_clearly(raw):
    try:
        settings = load_settings({"RETAIL_ALERT_STREAM_LAG_SECONDS": raw})
    except SettingsError as exc:
        assert "RETAIL_ALERT_STREAM_LAG_SECONDS" in str(exc)
    else:
        assert 1 <= settings.alert_stream_lag_seconds <= 86400
