"""The demand generating process of the simulated chain.

Demand is a set of independent Poisson processes of *sale lines*, one per store s and product p,
with a piecewise-constant intensity (lines per hour) on the grid of UTC hours h:

    lambda[s, p, h] = base_lines[s, p]          base daily rate, in lines/day (catalogue)
                    * dow[s, weekday(s, h)]      day-of-week factor, mean 1 over the week
                    * intraday[s, hour(s, h)]    share of the day's demand in that local clock hour
                    * season[s, p, day(s, h)]    yearly seasonality, mean 1 over the year
                    * uplift[p, day(s, h)]       promotion uplift, 1 without promotion

* ``base_lines = base_daily_units / MEAN_QUANTITY``; ``base_daily_units`` (catalogue) is a store's
  size factor times the product's popularity in that store times the chain's demand level.
* ``dow``: ``DOW_BASE`` (Friday/Saturday peaks) times a small per-store jitter; a store's closed
  weekdays get 0 and the rest are rescaled so the factors still sum to 7.
* ``intraday``: ``intraday_weights``: a morning, a lunch and an evening peak, damped at night,
  restricted to the store's opening hours [open_hour, close_hour) and normalised to sum to 1 over a
  day, so the store sells nothing while closed and ``sum over the day = 1`` (``dow * season * uplift``
  is then the day's multiplier of the base rate).
* ``season = 1 + A_p cos(2 pi (doy + shift_s - peak_p) / 365.25)``: amplitude and peak day per
  product (from its category), shifted by half a year for southern-hemisphere stores.
* ``uplift = (promo_price / regular_price) ** elasticity_p`` while the product is on promotion
  (promotions.py), e.g. 20 % off with elasticity -2 gives 1.56 times the demand.

Each line's quantity is drawn independently from ``QUANTITIES``/``QUANTITY_PROBABILITIES``
(mostly 1-3 units), so daily units demanded are compound Poisson with

    mean     = sum_h lambda * MEAN_QUANTITY
    variance = sum_h lambda * MEAN_SQUARED_QUANTITY.

``expected_daily_demand`` returns both per store, product and local day: the mean is the best
possible forecast and the variance the irreducible error of any forecaster (a perfect model still
has MSE = variance). What stores *sell* is this demand censored by stock (generator.py); the lost
part is recorded as lost sales.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

from retail_platform.simulation.calendar import HOUR_MS, hour_grid, local_midnight_ms

if TYPE_CHECKING:
    from retail_platform.simulation.catalog import Catalog

# Units per sale line.
QUANTITIES = np.array([1, 2, 3, 4, 6], dtype=np.int64)
QUANTITY_PROBABILITIES = np.array([0.62, 0.24, 0.09, 0.03, 0.02])
MEAN_QUANTITY = float(QUANTITIES @ QUANTITY_PROBABILITIES)
MEAN_SQUARED_QUANTITY = float((QUANTITIES**2) @ QUANTITY_PROBABILITIES)
_QUANTITY_CDF = np.cumsum(QUANTITY_PROBABILITIES)

# Monday .. Sunday.
DOW_BASE = np.array([0.92, 0.90, 0.94, 1.00, 1.12, 1.28, 0.84])


def intraday_weights(open_hour: int, close_hour: int) -> np.ndarray:
    """Share of a day's demand in each local clock hour 0..23; 0 outside [open_hour, close_hour)."""
    centre = np.arange(24) + 0.5

    def bump(mu: float, sigma: float) -> np.ndarray:
        return np.exp(-0.5 * ((centre - mu) / sigma) ** 2)

    curve = 0.35 + 0.35 * bump(9.0, 1.2) + 0.9 * bump(12.75, 1.5) + 1.0 * bump(17.75, 2.0)
    night = (centre < 6) | (centre > 23)
    curve = np.where(night, 0.1, curve)  # only 24-hour stores sell at night, and little
    hours = np.arange(24)
    curve = np.where((hours >= open_hour) & (hours < close_hour), curve, 0.0)
    return curve / curve.sum()


def dow_factors(closed_weekdays: tuple[int, ...], jitter: np.ndarray) -> np.ndarray:
    """Day-of-week factors (Monday..Sunday) summing to 7; 0 on closed weekdays (0 = Monday)."""
    factors = DOW_BASE * jitter
    factors[list(closed_weekdays)] = 0.0
    return factors * 7.0 / factors.sum()


def seasonal_factor(day_of_year: np.ndarray, amplitude: np.ndarray, peak_day: np.ndarray) -> np.ndarray:
    """1 + A cos(2 pi (doy - peak) / 365.25), broadcast over the inputs."""
    return 1.0 + amplitude * np.cos(2.0 * np.pi * (day_of_year - peak_day) / 365.25)


def sample_quantities(rng: np.random.Generator, n: int) -> np.ndarray:
    """Units of ``n`` sale lines."""
    return QUANTITIES[np.searchsorted(_QUANTITY_CDF, rng.random(n), side="right").clip(0, QUANTITIES.size - 1)]


def store_day_factors(catalog: Catalog, stores: np.ndarray, days: np.ndarray, day_of_year: np.ndarray) -> np.ndarray:
    """season * promotion uplift, ``[len(stores), product]``, for each store's local day."""
    season = seasonal_factor(
        (day_of_year + catalog.season_shift[stores])[:, None],
        catalog.season_amplitude[None, :],
        catalog.season_peak[None, :],
    )
    uplift = np.stack([catalog.promotions.uplift(int(d)) for d in days])
    return season * uplift


def hour_factors(catalog: Catalog, weekday: np.ndarray, local_hour: np.ndarray, stores: np.ndarray) -> np.ndarray:
    """dow * intraday for the given stores at the given local weekday/hour (same shapes)."""
    return catalog.dow[stores, weekday] * catalog.intraday[stores, local_hour]


@dataclass(frozen=True)
class ExpectedDemand:
    """Mean and variance of units demanded per store, product and local day (uncensored demand)."""

    first_day: date
    units: np.ndarray  # float [store, product, day]
    variance: np.ndarray  # float [store, product, day]
    lines: np.ndarray  # float [store, product, day]: expected sale lines

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.units.shape[2])]


def expected_daily_demand(
    catalog: Catalog, first_day: date, days: int, stores: np.ndarray | None = None
) -> ExpectedDemand:
    """The demand process's mean (and variance) per store, product and *local* calendar day.

    ``stores`` (indices) limits the computation; the result is ``[store, product, day]`` in that order.
    Exactly the intensities the generator draws from, summed over each local day's UTC hours.
    """
    store_idx = np.arange(len(catalog.stores)) if stores is None else np.asarray(stores)
    n_products = len(catalog.products)
    lines = np.zeros((store_idx.size, n_products, days))
    last_day = first_day + timedelta(days=days)
    for row, s in enumerate(store_idx):
        tz = catalog.stores[s].timezone
        start_hour = local_midnight_ms(first_day, tz) // HOUR_MS
        end_hour = local_midnight_ms(last_day, tz) // HOUR_MS
        grid = hour_grid([tz], start_hour, end_hour - start_hour)
        day_index = grid.local_date[0] - first_day.toordinal()
        per_hour = hour_factors(catalog, grid.weekday[0], grid.local_hour[0], np.full(grid.count, s))
        per_day = np.bincount(day_index, weights=per_hour, minlength=days)[:days]
        ordinals = np.arange(days) + first_day.toordinal()
        doy = np.array([date.fromordinal(int(o)).timetuple().tm_yday for o in ordinals])
        factors = store_day_factors(catalog, np.full(days, s), ordinals, doy)  # [day, product]
        lines[row] = (catalog.base_lines[s][None, :] * factors * per_day[:, None]).T
    return ExpectedDemand(first_day, lines * MEAN_QUANTITY, lines * MEAN_SQUARED_QUANTITY, lines)


def pace_per_day(catalog: Catalog, hour: int) -> np.ndarray:
    """Units a day per store and product ``[store, product]`` at the mean pace of UTC hour ``hour``
    (hours since the epoch): that hour's intensity as if the whole day went at it. What a forecast
    must say for the stream's velocity check (which scales a window's pace to a day) to find the hour's
    sales ordinary; 0 where a store is closed."""
    stores = np.arange(len(catalog.stores))
    grid = hour_grid([s.timezone for s in catalog.stores], hour, 1)
    day = store_day_factors(catalog, stores, grid.local_date[:, 0], grid.day_of_year[:, 0])
    per_hour = (
        catalog.base_lines * day * hour_factors(catalog, grid.weekday[:, 0], grid.local_hour[:, 0], stores)[:, None]
    )
    return per_hour * MEAN_QUANTITY * 24
