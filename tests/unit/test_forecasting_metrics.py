"""Forecast metrics and baselines against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retail_platform.forecasting import baselines, metrics


def test_metrics_hand_computed():
    # y = [10, 0, 5, 5], f = [8, 1, 5, 7]: errors f - y = [-2, 1, 0, 2]
    m = metrics.evaluate([10, 0, 5, 5], [8, 1, 5, 7])
    assert m.rows == 4
    assert m.wape == pytest.approx(5 / 20)
    assert m.mae == pytest.approx(5 / 4)
    assert m.rmse == pytest.approx(math.sqrt((4 + 1 + 0 + 4) / 4))
    assert m.bias == pytest.approx(1 / 20)
    # sMAPE terms: 2*2/18, 2*1/1, 0, 2*2/12
    assert m.smape == pytest.approx((4 / 18 + 2 + 0 + 4 / 12) / 4)


def test_smape_counts_a_correct_zero_forecast_as_zero_error():
    assert metrics.smape([0, 0, 4], [0, 0, 4]) == 0.0
    assert metrics.smape([0], [3]) == pytest.approx(2.0)


def test_ratios_without_demand_are_undefined_not_perfect():
    m = metrics.evaluate([0, 0], [0, 1])
    assert math.isnan(m.wape) and math.isnan(m.bias)
    assert m.mae == pytest.approx(0.5)


def test_sums_add_up_to_the_metrics_of_the_union():
    rng = np.random.default_rng(3)
    y, f = rng.poisson(5, 100).astype(float), rng.normal(5, 2, 100)
    parts = metrics.sums(y[:37], f[:37]) + metrics.sums(y[37:], f[37:])
    whole = metrics.evaluate(y, f)
    for name in metrics.METRICS:
        assert getattr(metrics.from_sums(parts), name) == pytest.approx(getattr(whole, name))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        metrics.sums([1, 2], [1])


def test_over_and_under_forecast_have_opposite_bias():
    assert metrics.bias([10, 10], [12, 12]) == pytest.approx(0.2)
    assert metrics.bias([10, 10], [8, 8]) == pytest.approx(-0.2)


def test_seasonal_naive_takes_the_same_weekday_a_week_before_the_target():
    history = list(range(1, 15))  # day i has value i; the last closed day is day 14
    # tomorrow is day 15; the same weekday a week before is day 8
    assert baselines.seasonal_naive(history, 1) == 8
    assert baselines.seasonal_naive(history, 7) == 14
    assert baselines.seasonal_naive_forecast(history) == [8, 9, 10, 11, 12, 13, 14]
    assert math.isnan(baselines.seasonal_naive([1, 2], 1))
    with pytest.raises(ValueError):
        baselines.seasonal_naive(history, 8)


def test_moving_average_is_flat_over_the_last_window():
    assert baselines.moving_average([100, 1, 2, 3], window=3) == pytest.approx(2.0)
    assert baselines.moving_average([4], window=7) == pytest.approx(4.0)
    assert math.isnan(baselines.moving_average([], window=7))
    assert baselines.moving_average_forecast([1, 2, 3], horizons=3, window=2) == [2.5, 2.5, 2.5]
