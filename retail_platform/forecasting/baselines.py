"""The platform's baseline demand forecasters, pure functions of daily history (oldest first, one value
per day, zeros for days without sales).

* ``seasonal_naive`` and ``moving_average``: what a model must beat on the same hold-out to be
  promoted (``training`` scores the same two from the feature columns ``same_weekday_1w`` and
  ``mean_7``). ``history[-1]`` is the last closed day (the forecast date); horizon h forecasts the day
  h days after it.
* ``baseline_forecast``: moving average times a day-of-week profile, over many series at once. Used
  where the model forecast (``ml_demand_forecast``, GBT trained in Spark) is not available for a run
  (stock optimisation), and by the closed-loop simulation, which must stay pure and deterministic.
  For store/product cell c, store g(c), over the last ``window`` days of history:

    level[c]        = mean daily units of c
    profile[g, w]   = (units of store g on weekday w) / (mean weekday units of store g), pooled over the
                      store's products (one product's weekday pattern is too noisy to estimate alone;
                      the day-of-week effect is a store's, as in the simulator's process)
    forecast[c, t]  = level[c] * profile[g(c), weekday(t)]
    sigma[c]        = standard deviation of the residuals units - level * profile over the window,
                      at least sqrt(level) (a Poisson floor, so a short quiet history never gives 0)

  The window should be whole weeks so every weekday weighs the same in the level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SEASON_DAYS = 7


def seasonal_naive(history: Sequence[float], horizon: int, season: int = SEASON_DAYS) -> float:
    """The value of the same weekday one season earlier than the target day.

    For a target h days ahead (1 <= h <= season) that is ``history[-(season - h + 1)]``: h = 1 gives the
    day 7 days before tomorrow (6 days before the last closed day). NaN when the history is too short.
    """
    if not 1 <= horizon <= season:
        raise ValueError(f"horizon {horizon}: seasonal naive covers 1..{season} days ahead")
    back = season - horizon + 1
    return float(history[-back]) if len(history) >= back else float("nan")


def seasonal_naive_forecast(history: Sequence[float], horizons: int = 7, season: int = SEASON_DAYS) -> list[float]:
    """Seasonal naive for horizons 1..``horizons``."""
    return [seasonal_naive(history, h, season) for h in range(1, horizons + 1)]


def moving_average(history: Sequence[float], window: int = 7) -> float:
    """Mean of the last ``window`` days (fewer when the history is shorter); NaN for no history.

    The same value for every horizon: a flat forecast.
    """
    if window < 1:
        raise ValueError("window must be at least 1")
    tail = np.asarray(history[-window:], dtype=np.float64)
    return float(tail.mean()) if tail.size else float("nan")


def moving_average_forecast(history: Sequence[float], horizons: int = 7, window: int = 7) -> list[float]:
    """Moving average for horizons 1..``horizons`` (flat)."""
    return [moving_average(history, window)] * horizons


WEEKDAY_PROFILE_VERSION = "baseline-ma-dow"  # model_version of its rows in ml_demand_forecast


@dataclass(frozen=True)
class Forecast:
    """Daily mean forecast ``[cell, horizon day]`` and the daily demand standard deviation ``[cell]``."""

    daily: np.ndarray
    sigma: np.ndarray


def weekday_profile(history: np.ndarray, weekdays: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """``[group, 7]`` factors averaging 1 over the weekdays present; 1 everywhere for a group without sales."""
    totals = np.zeros((n_groups, 7))
    counts = np.zeros(7)
    per_group_day = np.zeros((n_groups, history.shape[1]))
    np.add.at(per_group_day, groups, history)
    for w in range(7):
        days = weekdays == w
        counts[w] = days.sum()
        totals[:, w] = per_group_day[:, days].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_day = np.where(counts > 0, totals / counts, 0.0)  # mean units on weekday w
        mean = per_day[:, counts > 0].mean(axis=1, keepdims=True)
        profile = np.where(mean > 0, per_day / mean, 1.0)
    profile[:, counts == 0] = 1.0
    return profile


def baseline_forecast(
    history: np.ndarray,
    history_weekdays: np.ndarray,
    target_weekdays: np.ndarray,
    groups: np.ndarray,
    window: int = 28,
) -> Forecast:
    """Forecast ``len(target_weekdays)`` days for every row of ``history`` (``[cell, day]``, oldest first).

    ``history_weekdays`` (0 = Monday) label the history's days; ``groups`` maps cells to stores.
    """
    recent = np.asarray(history, dtype=float)[:, -window:]
    days_w = np.asarray(history_weekdays)[-window:]
    groups = np.asarray(groups)
    n_groups = int(groups.max()) + 1 if groups.size else 0
    profile = weekday_profile(recent, days_w, groups, n_groups)
    level = recent.mean(axis=1)
    fitted = level[:, None] * profile[groups][:, days_w]
    resid_sd = np.sqrt(((recent - fitted) ** 2).sum(axis=1) / max(recent.shape[1] - 1, 1))
    daily = level[:, None] * profile[groups][:, np.asarray(target_weekdays)]
    return Forecast(daily=daily, sigma=np.maximum(resid_sd, np.sqrt(level)))


def interval_level_error(
    history: np.ndarray,
    history_weekdays: np.ndarray,
    groups: np.ndarray,
    days: np.ndarray,
    window: int = 28,
    pools: np.ndarray | None = None,
    prior_cells: float = 1.0,
) -> np.ndarray:
    """Per cell, the relative standard error r of ``baseline_forecast``'s demand over the next ``days``
    of the cell, measured out of sample on the history itself (a rolling-origin backtest) and pooled
    over the cells of the cell's pool (the safety stock's ``level_error``, optimization/formulas.py).

    At every origin o with ``window`` days before it and ``ceil(days[c])`` days after it in the history,
    the forecast made from the window before o is compared with what cell c sold over those days:
    error e = actual - forecast total F. Part of e is the demand's own day-to-day noise, which the
    residual sigma already covers (variance n * sigma^2 over n days); the rest is the error of the
    forecast's mean, which scales with the demand. Pooled over a pool's cells and origins (method of
    moments), with ``prior_cells`` cells' worth of the same measure over all cells added to each pool
    (a pool of one cell has only a few independent intervals in its history):

        r^2(all)  = max(sum(e^2) - sum(n * sigma^2), 0) / sum(F^2)              over all cells
        r^2(pool) = max(sum_pool(e^2 - n * sigma^2) + k * r^2(all) * mean F^2, 0) / (sum_pool(F^2) + k * mean F^2)

    where k = ``prior_cells`` and mean F^2 is the pool's per cell. ``pools`` (e.g. the product, over
    its stores: a product's promotions and season are the same in every store) defaults to one pool.
    0 where nothing could be measured (no origin with enough days on both sides). Sales history is
    censored by stock-outs, which can only add to the errors: r errs on the side of stock.
    """
    hist = np.asarray(history, dtype=float)
    weekdays = np.asarray(history_weekdays)
    groups = np.asarray(groups)
    n_days = np.ceil(np.asarray(days, dtype=float) - 1e-9).astype(np.int64)
    pool = np.zeros(n_days.shape, dtype=np.int64) if pools is None else np.asarray(pools)
    if hist.ndim != 2 or n_days.shape != (hist.shape[0],) or weekdays.shape != (hist.shape[1],):
        raise ValueError(
            f"history {hist.shape}, weekdays {weekdays.shape}, days {n_days.shape}: expected [cell, day], [day], [cell]"
        )
    if pool.shape != n_days.shape:
        raise ValueError(f"pools {pool.shape}: expected one pool per cell, [cell] = {n_days.shape}")
    if np.any(n_days < 1):
        raise ValueError("days must be positive")
    if not prior_cells >= 0:
        raise ValueError(f"prior_cells {prior_cells}: expected >= 0")
    cells, total = hist.shape
    excess = np.zeros(cells)  # sum over origins of e^2 - n sigma^2
    scale = np.zeros(cells)  # sum over origins of F^2
    for origin in range(window, total):
        fits = np.flatnonzero(n_days <= total - origin)
        if fits.size == 0:
            continue
        span = int(n_days[fits].max())
        forecast = baseline_forecast(
            hist[:, origin - window : origin],
            weekdays[origin - window : origin],
            weekdays[origin : origin + span],
            groups,
            window=window,
        )
        last = n_days[fits] - 1
        predicted = np.cumsum(forecast.daily[fits], axis=1)[np.arange(fits.size), last]
        actual = np.cumsum(hist[fits, origin : origin + span], axis=1)[np.arange(fits.size), last]
        excess[fits] += (actual - predicted) ** 2 - n_days[fits] * forecast.sigma[fits] ** 2
        scale[fits] += predicted**2
    if scale.sum() <= 0:
        return np.zeros(cells)
    overall = max(excess.sum(), 0.0) / scale.sum()
    _, index = np.unique(pool, return_inverse=True)
    index = index.ravel()
    pool_excess, pool_scale = np.bincount(index, excess), np.bincount(index, scale)
    prior_scale = prior_cells * pool_scale / np.bincount(index)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = np.maximum(pool_excess + overall * prior_scale, 0.0) / (pool_scale + prior_scale)
    pooled = np.where(pool_scale > 0, pooled, overall)
    return np.sqrt(pooled[index])
