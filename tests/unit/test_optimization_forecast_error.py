"""The safety stock's forecast error: the baseline's backtested level error over the protection interval
(baselines.interval_level_error), the upper half of a model's interval (anomalies.upper_interval_sigma),
and how both reach the policy and the recommendation rows."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from retail_platform.forecasting.baselines import interval_level_error
from retail_platform.optimization import anomalies
from retail_platform.optimization.policy import OptimizationConfig
from retail_platform.optimization.recommendations import Inputs, recommend

CONFIG = OptimizationConfig()
Z95 = 1.6448536269514722
Z80 = anomalies.Z_80


def test_level_error_of_a_hand_computed_history():
    # One cell, weekdays Mon..Tue over 9 days, window 7, 1-day interval: 4 a day for 8 days, then 10.
    # Origin 7 (window days 0..6, all 4): forecast 4, sigma = Poisson floor sqrt(4) = 2; day 7 sold 4: e = 0.
    # Origin 8 (days 1..7, all 4): forecast 4, sigma 2; day 8 sold 10: e = 6.
    # r^2 = (sum e^2 - sum n sigma^2) / sum F^2 = (0 + 36 - (4 + 4)) / (16 + 16) = 28 / 32.
    history = np.array([[4.0] * 8 + [10.0]])
    weekdays = np.arange(9) % 7
    r = interval_level_error(history, weekdays, np.array([0]), np.array([1.0]), window=7)
    assert r == pytest.approx([math.sqrt(28 / 32)])


def test_level_error_pools_per_product_with_a_share_of_all_cells():
    # Two products in one store, window 7, 1-day interval, 9 days. Product A as above (excess 28, scale
    # 32); product B sells 4 every day (excess 0 - 8 = -8, scale 32). All cells: r^2 = (28 - 8) / 64.
    # With one cell's worth of the overall measure in each pool (prior_cells = 1, mean F^2 of a pool 32):
    #   A: (28 + 20/64 x 32) / (32 + 32) = 38 / 64       B: max(-8 + 10, 0) / 64 = 2 / 64
    history = np.array([[4.0] * 8 + [10.0], [4.0] * 9])
    weekdays, groups, days = np.arange(9) % 7, np.array([0, 0]), np.array([1.0, 1.0])
    pooled = interval_level_error(history, weekdays, groups, days, window=7, pools=np.array(["A", "B"]))
    assert pooled == pytest.approx([math.sqrt(38 / 64), math.sqrt(2 / 64)])
    # One pool (the default): both cells get the overall measure.
    assert interval_level_error(history, weekdays, groups, days, window=7) == pytest.approx([math.sqrt(20 / 64)] * 2)
    # Without the prior each pool stands alone: A as in the hand-computed case, B below 0 -> 0.
    alone = interval_level_error(history, weekdays, groups, days, window=7, pools=np.array([1, 2]), prior_cells=0)
    assert alone == pytest.approx([math.sqrt(28 / 32), 0.0])


def test_level_error_is_zero_where_the_forecast_is_exact_or_cannot_be_tested():
    weekdays = np.arange(20) % 7
    flat = np.full((3, 20), 9.0)
    # Exact forecasts: the errors are all 0, below the noise the residual sigma already covers: r = 0.
    assert interval_level_error(flat, weekdays, np.zeros(3, int), np.full(3, 5.0), window=7).tolist() == [0.0] * 3
    # No origin with 7 days before and 14 after in 20 days: nothing measured, r = 0.
    rising = flat * np.arange(20)
    assert interval_level_error(rising, weekdays, np.zeros(3, int), np.full(3, 14.0), window=7).tolist() == [0.0] * 3
    # A fractional interval is tested over its whole days (2.2 -> 3).
    step = np.hstack([np.full((1, 14), 5.0), np.full((1, 6), 50.0)])
    assert interval_level_error(step, weekdays, np.array([0]), np.array([2.2]), window=7) == pytest.approx(
        interval_level_error(step, weekdays, np.array([0]), np.array([3.0]), window=7)
    )


def test_level_error_separates_a_missed_level_from_demand_noise():
    """Poisson demand around a constant mean: the forecast's mean is right up to its own sampling error,
    r is small. The same demand doubling in the last three weeks: the moving average lags and r is large.
    Per product over 20 stores, as the recommendations pool it."""
    rng = np.random.default_rng(7)
    cells, days = 400, 56
    weekdays = np.arange(days) % 7
    groups, products = np.repeat(np.arange(20), 20), np.tile(np.arange(20), 20)
    mean = rng.uniform(2.0, 40.0, size=(cells, 1))
    stationary = rng.poisson(np.broadcast_to(mean, (cells, days))).astype(float)
    shifted = rng.poisson(mean * np.where(np.arange(days) >= 35, 2.0, 1.0)).astype(float)
    protection = np.full(cells, 8.0)
    calm = interval_level_error(stationary, weekdays, groups, protection, pools=products)
    missed = interval_level_error(shifted, weekdays, groups, protection, pools=products)
    assert calm.max() < 0.1
    assert missed.min() > 0.3


def test_level_error_refuses_inputs_that_do_not_line_up():
    history = np.ones((2, 30))
    with pytest.raises(ValueError, match="expected \\[cell, day\\]"):
        interval_level_error(history, np.arange(29) % 7, np.zeros(2, int), np.ones(2))
    with pytest.raises(ValueError, match="expected \\[cell, day\\]"):
        interval_level_error(history, np.arange(30) % 7, np.zeros(2, int), np.ones(3))
    with pytest.raises(ValueError, match="days must be positive"):
        interval_level_error(history, np.arange(30) % 7, np.zeros(2, int), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="one pool per cell"):
        interval_level_error(history, np.arange(30) % 7, np.zeros(2, int), np.ones(2), pools=np.zeros(3))
    with pytest.raises(ValueError, match="prior_cells"):
        interval_level_error(history, np.arange(30) % 7, np.zeros(2, int), np.ones(2), prior_cells=-1.0)


HISTORIES = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(1, 40)),
    elements=st.integers(0, 500).map(float),
)


@settings(max_examples=60, deadline=None)
@given(history=HISTORIES, data=st.data())
def test_level_error_is_a_pooled_nonnegative_measure(history, data):
    """Any sales history: r is finite and >= 0 for every cell, the same for the cells of a pool, and the
    order of the cells does not matter."""
    cells, days = history.shape
    weekdays = (np.arange(days) + data.draw(st.integers(0, 6))) % 7
    groups = np.array(data.draw(st.lists(st.integers(0, 2), min_size=cells, max_size=cells)))
    pools = np.array(data.draw(st.lists(st.integers(0, 2), min_size=cells, max_size=cells)))
    protection = np.array(data.draw(st.lists(st.floats(1.0, 16.0), min_size=cells, max_size=cells)))
    window = data.draw(st.sampled_from([7, 14, 28]))
    prior = data.draw(st.floats(0.0, 5.0))
    r = interval_level_error(history, weekdays, groups, protection, window=window, pools=pools, prior_cells=prior)
    assert r.shape == (cells,) and np.isfinite(r).all() and (r >= 0).all()
    for p in np.unique(pools):
        assert np.ptp(r[pools == p]) == 0
    order = np.array(data.draw(st.permutations(range(cells))))
    again = interval_level_error(
        history[order], weekdays, groups[order], protection[order], window=window, pools=pools[order], prior_cells=prior
    )
    assert again == pytest.approx(r[order], rel=1e-9, abs=1e-12)


@given(predicted=st.floats(0.0, 1000.0), extra=st.floats(0.0, 100.0))
def test_upper_interval_sigma_gives_back_sigma_even_when_the_interval_is_cut_at_zero(predicted, extra):
    """Intervals written as predicted +- 1.2816 sigma with the lower bound cut at 0 (units are never
    negative): the upper half gives sigma back; the full width understates it exactly when cut."""
    sigma = max(1.0, math.sqrt(predicted)) + extra  # at or above interval_sigma's floors
    lower, upper = max(predicted - Z80 * sigma, 0.0), predicted + Z80 * sigma
    p, lo, up = np.array([predicted]), np.array([lower]), np.array([upper])
    assert anomalies.upper_interval_sigma(p, lo, up)[0] == pytest.approx(sigma, rel=1e-9)
    both = anomalies.interval_sigma(p, lo, up)[0]
    assert anomalies.upper_interval_sigma(p, lo, up)[0] >= both
    if predicted - Z80 * sigma < -1e-9 and (upper - lower) / (2 * Z80) > max(1.0, math.sqrt(predicted)) + 1e-9:
        assert both < sigma


def _inputs(units: list[float], as_of: date, forecast: tuple[float, float] | None = None) -> Inputs:
    """One store, one product from a known supplier (4 +- 1 days), its daily sales (oldest first) and
    optionally a model forecast (predicted, sigma) written with its 80 % interval cut at 0."""
    days = pd.date_range(end=pd.Timestamp(as_of), periods=len(units)).date
    history = pd.DataFrame(
        [("store_001", "SKU0001", d, u, u * 2.0) for d, u in zip(days, units, strict=True)],
        columns=["store_id", "product_id", "date_key", "units", "revenue"],
    )
    forecasts = pd.DataFrame(
        columns=["store_id", "product_id", "horizon", "predicted_units", "lower_units", "upper_units", "model_version"]
    )
    if forecast is not None:
        predicted, sigma = forecast
        forecasts = pd.DataFrame(
            {
                "store_id": "store_001",
                "product_id": "SKU0001",
                "horizon": range(1, 8),
                "predicted_units": predicted,
                "lower_units": max(predicted - Z80 * sigma, 0.0),
                "upper_units": predicted + Z80 * sigma,
                "model_version": "gbt-v1",
            }
        )
    return Inputs(
        as_of=as_of,
        stock=pd.DataFrame(
            {"store_id": ["store_001"], "product_id": ["SKU0001"], "quantity_on_hand": [0], "quantity_on_order": [0]}
        ),
        products=pd.DataFrame(
            {
                "product_id": ["SKU0001"],
                "supplier_id": ["SUP001"],
                "unit_cost": [4.0],
                "unit_price": [6.0],
                "shelf_life_days": [0],
            }
        ),
        suppliers=pd.DataFrame(
            {
                "supplier_id": ["SUP001"],
                "lead_time_days": [4],
                "lead_time_stddev_days": [1.0],
                "min_order_quantity": [12],
            }
        ),
        stores=pd.DataFrame({"store_id": ["store_001"], "storage_capacity_units": [0]}),
        history=history,
        forecasts=forecasts,
    )


def _without_level_error(row: pd.Series) -> float:
    p, d = row["protection_days"], row["forecast_daily_units"]
    return Z95 * math.sqrt(p * row["demand_sigma_units"] ** 2 + d**2 * row["lead_time_stddev_days"] ** 2)


def test_recommendations_carry_the_backtested_level_error():
    as_of = date(2026, 11, 20)
    # Steady demand (every day alike): the baseline's mean is exact, no level error, seed 000's form.
    steady = recommend(_inputs([10.0] * 56, as_of), CONFIG).iloc[0]
    assert steady["safety_stock"] == math.ceil(_without_level_error(steady) - 1e-9)
    # Demand growing by 0.5 a day: the 28-day moving average lags 7 units a day behind, every day of the
    # protection interval; the backtest over the history measures that and the safety stock covers it.
    units = [10.0 + 0.5 * i for i in range(56)]
    rising = recommend(_inputs(units, as_of), CONFIG).iloc[0]
    weekdays = np.array([d.weekday() for d in pd.date_range(end=pd.Timestamp(as_of), periods=56).date])
    r = interval_level_error(np.array([units]), weekdays, np.array([0]), np.array([5.0]))[0]
    assert r > 0.1
    p, d = rising["protection_days"], rising["forecast_daily_units"]
    expected = math.sqrt(_without_level_error(rising) ** 2 + (Z95 * r * d * p) ** 2)
    assert rising["safety_stock"] == math.ceil(expected - 1e-9)
    assert rising["safety_stock"] > math.ceil(_without_level_error(rising))
    assert rising["policy_version"] == "sq-v2"


def test_days_before_the_warehouse_holds_sales_are_not_backtested_as_days_without_demand():
    # 28 days of steady sales in a 56-day history window: the 28 days before them are no data, not 28 days
    # of 0 (a backtest over them would see the forecast lag far behind). Nothing is left to backtest with
    # 28 days before and 5 after an origin: no level error, seed 000's form.
    row = recommend(_inputs([10.0] * 28, date(2026, 11, 20)), CONFIG).iloc[0]
    assert row["safety_stock"] == math.ceil(_without_level_error(row) - 1e-9)


def test_recommendations_read_a_low_forecasts_sigma_from_the_upper_half_of_its_interval():
    # Model forecast 2 a day, sigma 3: lower 2 - 3.84 is cut to 0. The full width would give
    # (5.84 - 0) / 2.563 = 2.28; the upper half gives (5.84 - 2) / 1.2816 = 3, the forecaster's sigma.
    row = recommend(_inputs([2.0] * 56, date(2026, 11, 20), forecast=(2.0, 3.0)), CONFIG).iloc[0]
    assert row["model_version"] == "gbt-v1"
    assert row["demand_sigma_units"] == pytest.approx(3.0, abs=1e-4)
