"""ABC / XYZ classes and slow movers of store/product cells (seed 000 section 4.2, "ABC Analysis").

* ABC, per store: items ranked by revenue over the history window; an item is A while the revenue share
  of the items ranked *above* it is below ``abc_a`` (80 %), B below ``abc_b`` (95 %), C otherwise. So the
  top item is always A, and A items hold about 80 % of the revenue. Ties keep the input order.
* XYZ: coefficient of variation of daily units (std / mean over the window): X <= ``xyz_x`` (steady,
  0.5), Y <= ``xyz_y`` (variable, 1.0), Z above (erratic) or without demand.
* Slow moving: sold on fewer than ``slow_min_selling_day_share`` of the window's days, or the stock on
  hand covers more than ``slow_max_days_of_cover`` days of forecast demand (or there is stock and no
  forecast demand at all).
"""

from __future__ import annotations

import numpy as np

from retail_platform.optimization.policy import OptimizationConfig


def abc_classes(revenue: np.ndarray, groups: np.ndarray, config: OptimizationConfig) -> np.ndarray:
    """'A' / 'B' / 'C' per cell; ``groups`` (store index per cell) ranks cells within each store."""
    revenue = np.maximum(np.asarray(revenue, dtype=float), 0.0)
    groups = np.asarray(groups)
    out = np.full(revenue.shape, "C", dtype="<U1")
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        total = revenue[idx].sum()
        if total <= 0:
            continue
        order = idx[np.argsort(-revenue[idx], kind="stable")]
        share_above = (np.cumsum(revenue[order]) - revenue[order]) / total
        out[order] = np.where(share_above < config.abc_a, "A", np.where(share_above < config.abc_b, "B", "C"))
        out[order[revenue[order] <= 0]] = "C"
    return out


def coefficient_of_variation(daily_units: np.ndarray) -> np.ndarray:
    """std / mean of each row (population std); inf for a row without demand."""
    units = np.asarray(daily_units, dtype=float)
    mean = units.mean(axis=1)
    std = units.std(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean > 0, std / mean, np.inf)


def xyz_classes(daily_units: np.ndarray, config: OptimizationConfig) -> np.ndarray:
    """'X' / 'Y' / 'Z' per row of ``daily_units`` (``[cell, day]``)."""
    cv = coefficient_of_variation(daily_units)
    return np.where(cv <= config.xyz_x, "X", np.where(cv <= config.xyz_y, "Y", "Z")).astype("<U1")


def slow_moving(
    daily_units: np.ndarray, on_hand: np.ndarray, forecast_daily: np.ndarray, config: OptimizationConfig
) -> np.ndarray:
    """bool per cell: rarely sold, or too much stock for the forecast demand (see the module docstring)."""
    units = np.asarray(daily_units, dtype=float)
    selling_share = (units > 0).mean(axis=1) if units.shape[1] else np.zeros(units.shape[0])
    on_hand = np.asarray(on_hand, dtype=float)
    d = np.asarray(forecast_daily, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(d > 0, on_hand / d, np.where(on_hand > 0, np.inf, 0.0))
    return (selling_share < config.slow_min_selling_day_share) | (cover > config.slow_max_days_of_cover)
