"""The demand process: what the generator draws agrees with ``expected_daily_demand`` within the
compound-Poisson variance the module documents, the day-of-week pattern shows over simulated weeks,
and promotions raise demand through the price elasticity."""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pandas as pd
import pytest

from retail_platform.simulation import batch as b
from retail_platform.simulation import demand
from retail_platform.simulation.calendar import zone
from retail_platform.simulation.catalog import CatalogConfig, generate_catalog
from retail_platform.simulation.generator import EventGenerator, GeneratorConfig
from retail_platform.simulation.promotions import PromotionCalendar

# The generated window covers the compared local days entirely in every time zone (offsets < 14 h).
WINDOW = (datetime(2025, 6, 1, tzinfo=timezone.utc), datetime(2025, 8, 1, tzinfo=timezone.utc))
FIRST_DAY, DAYS = date(2025, 6, 2), 56  # eight whole weeks, Monday 2025-06-02 .. Sunday 2025-07-27
Z = 4.0  # tolerance in standard deviations: a false alarm per comparison has probability ~6e-5


@pytest.fixture(scope="module")
def observed():
    """(catalog, units demanded [store, product, day]) for London and Tokyo stores of a small fleet."""
    catalog = generate_catalog(CatalogConfig(seed=3, stores=3, products=6, lines_per_store_hour=20))
    generator = EventGenerator(catalog, GeneratorConfig(start=WINDOW[0], end=WINDOW[1], step_seconds=3600))
    rows = b.EventBatch.concat(list(generator.batches()))
    demanded = np.isin(rows.kind, [b.SALE, b.LOST])  # units sold plus units lost to stock-outs
    units = np.zeros((len(catalog.stores), len(catalog.products), DAYS))
    for s, store in enumerate(catalog.stores):
        mine = demanded & (rows.store == s)
        local = pd.to_datetime(rows.time_ms[mine], unit="ms", utc=True).tz_convert(zone(store.timezone))
        day = (local.tz_localize(None).normalize() - pd.Timestamp(FIRST_DAY)).days.to_numpy()
        keep = (day >= 0) & (day < DAYS)
        np.add.at(units[s], (rows.product[mine][keep], day[keep]), rows.quantity[mine][keep])
    return catalog, units


@pytest.fixture(scope="module")
def expected(observed):
    return demand.expected_daily_demand(observed[0], FIRST_DAY, DAYS)


def test_day_of_week_pattern_matches_the_model(observed, expected):
    catalog, units = observed
    weekday = np.array([d.weekday() for d in expected.days])
    for s, store in enumerate(catalog.stores):
        obs = np.array([units[s][:, weekday == w].sum() for w in range(7)])
        mean = np.array([expected.units[s][:, weekday == w].sum() for w in range(7)])
        sd = np.sqrt([expected.variance[s][:, weekday == w].sum() for w in range(7)])
        assert np.all(np.abs(obs - mean) <= Z * sd), (store.store_id, obs, mean, sd)
        # The pattern is visible, not just consistent: Saturday beats Monday..Thursday by more than
        # the noise allows, in the model and in the data.
        saturday = 5
        for w in range(4):
            assert mean[saturday] - mean[w] > Z * np.hypot(sd[saturday], sd[w])
            assert obs[saturday] > obs[w]


def test_totals_per_store_and_product_match_the_expected_demand(observed, expected):
    _, units = observed
    obs, mean, sd = units.sum(axis=2), expected.units.sum(axis=2), np.sqrt(expected.variance.sum(axis=2))
    assert np.all(np.abs(obs - mean) <= Z * sd), (obs, mean, sd)


def test_expected_demand_is_the_documented_product(observed, expected):
    catalog, _ = observed
    s, p, i = 1, 2, 10
    day = expected.days[i]
    store = catalog.stores[s]
    doy = day.timetuple().tm_yday + catalog.season_shift[s]
    season = demand.seasonal_factor(doy, catalog.season_amplitude[p], catalog.season_peak[p])
    uplift = catalog.promotions.uplift(day.toordinal())[p]
    # A day without a clock change: the intraday shares sum to one.
    lines = catalog.base_lines[s, p] * store.dow_factors[day.weekday()] * season * uplift
    assert expected.lines[s, p, i] == pytest.approx(lines)
    assert expected.units[s, p, i] == pytest.approx(lines * demand.MEAN_QUANTITY)
    assert expected.variance[s, p, i] == pytest.approx(lines * demand.MEAN_SQUARED_QUANTITY)


def test_intraday_weights_cover_the_opening_hours_only():
    weights = demand.intraday_weights(7, 22)
    assert weights.sum() == pytest.approx(1.0)
    assert np.all(weights[:7] == 0) and np.all(weights[22:] == 0) and np.all(weights[7:22] > 0)
    assert weights.argmax() in (12, 17, 18)  # lunch or evening peak
    full_day = demand.intraday_weights(0, 24)
    assert full_day[3] < full_day[12] / 5  # a 24-hour store sells little at night


def test_promotions_lower_the_price_and_raise_demand_by_the_elasticity():
    regular = np.array([199, 1099, 349] * 20, dtype=np.int64)
    elasticity = np.array([-2.0, -1.5, -3.0] * 20)
    calendar = PromotionCalendar(5, regular, elasticity)
    again = PromotionCalendar(5, regular, elasticity)
    seen = 0
    for day in range(date(2025, 1, 6).toordinal(), date(2025, 3, 3).toordinal()):
        on = calendar.on_promotion(day)
        prices, uplift = calendar.prices(day), calendar.uplift(day)
        assert np.array_equal(on, again.on_promotion(day))  # a function of the seed and the date
        assert np.all(prices[~on] == regular[~on]) and np.all(uplift[~on] == 1.0)
        assert np.all(prices[on] < regular[on])
        assert np.allclose(uplift[on], (prices[on] / regular[on]) ** elasticity[on])
        assert np.all(uplift[on] > 1.0)
        seen += int(on.sum())
    assert seen > 0
