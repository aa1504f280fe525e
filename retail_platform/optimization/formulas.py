"""Inventory formulas of the (s, Q) reorder policy (seed 000 sections 4.2 and 10.2).

Every function accepts floats or numpy arrays (broadcast element-wise) and returns the same. Symbols:

    d        mean daily demand (units/day), from the forecast
    sigma_d  standard deviation of daily demand around the forecast (units)
    r        relative standard error of the forecast's mean demand over the protection interval
             (measured out of sample, forecasting/baselines.py ``interval_level_error``)
    L        mean supplier lead time (days); sigma_L its standard deviation (days)
    R        review period (days): recommendations run daily, so R = 1
    Z        standard normal quantile of the target cycle service level (95 % -> 1.645)

    safety stock (demand variability only)   SS = Z * sigma_d * sqrt(L)
    safety stock (with lead-time variability) SS = Z * sqrt(L * sigma_d^2 + d^2 * sigma_L^2)
    safety stock (forecast error)            SS = Z * sqrt(L * sigma_d^2 + d^2 * sigma_L^2 + (r * d * L)^2)
    reorder point                            ROP = d * L + SS
    economic order quantity                  EOQ = sqrt(2 * D * S / H),  D = 365 d, H = holding rate * unit cost
    inventory position                       IP = on hand + on order

The last form is the one the policy uses: the safety stock covers the forecast's error over the
protection interval, not only the demand's variability around a known mean. That error has three
independent parts: day-to-day demand noise (independent days, variance L * sigma_d^2), the error of the
forecast's mean itself, which is the same on every day of the interval (a level or season the forecast
misses shifts all L days together, so its standard deviation grows with L, not sqrt(L): r * d * L),
and the lead time's variability (d^2 * sigma_L^2). With r = 0 it is seed 000's supply-variability form.

An order is due when IP <= ROP. The policy uses the protection interval L + R in place of L (an order
placed today must last until the order the next daily run can place has arrived), which is the
periodic-review form of the same formulas. The quantity is max(EOQ, ROP - IP) rounded up to the
supplier's case size (min_order_quantity), then limited by shelf life and storage capacity.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import TypeVar

import numpy as np

Num = TypeVar("Num", float, np.ndarray)

DAYS_PER_YEAR = 365.0


def z_for_service_level(service_level: float) -> float:
    """Standard normal quantile: the Z that leaves ``1 - service_level`` in the upper tail."""
    if not 0.0 < service_level < 1.0:
        raise ValueError(f"service level {service_level} is not a probability in (0, 1)")
    return NormalDist().inv_cdf(service_level)


def safety_stock_demand_only(z: float, sigma_d: Num, lead_time_days: Num) -> Num:
    """SS = Z * sigma_d * sqrt(L): demand variability over a fixed lead time."""
    return z * np.asarray(sigma_d, dtype=float) * np.sqrt(np.asarray(lead_time_days, dtype=float)) + 0.0


def safety_stock(
    z: float, sigma_d: Num, lead_time_days: Num, mean_demand: Num, sigma_lead_time: Num, level_error: Num = 0.0
) -> Num:
    """SS = Z * sqrt(L * sigma_d^2 + d^2 * sigma_L^2 + (r * d * L)^2): demand noise, lead-time
    variability and the forecast's relative error r of the mean demand over the L days.

    Equals seed 000's ``Z * sqrt(L * sigma_d^2 + d^2 * sigma_L^2)`` when r = 0, and
    ``safety_stock_demand_only`` when also sigma_L = 0.
    """
    sigma_d, lead, d, sigma_l, r = (
        np.asarray(x, dtype=float) for x in (sigma_d, lead_time_days, mean_demand, sigma_lead_time, level_error)
    )
    if np.any(r < 0) or np.any(~np.isfinite(r)):
        raise ValueError(f"level_error {level_error}: a relative standard error must be finite and >= 0")
    return z * np.sqrt(lead * sigma_d**2 + d**2 * sigma_l**2 + (r * d * lead) ** 2) + 0.0


def reorder_point(mean_demand: Num, lead_time_days: Num, safety: Num) -> Num:
    """ROP = d * L + SS: expected demand over the lead time plus the safety stock."""
    return np.asarray(mean_demand, dtype=float) * np.asarray(lead_time_days, dtype=float) + safety + 0.0


def eoq(daily_demand: Num, order_cost: float, holding_cost_per_unit_year: Num) -> Num:
    """EOQ = sqrt(2 * D * S / H) with D = 365 * daily demand; 0 without demand or holding cost."""
    d = np.asarray(daily_demand, dtype=float)
    h = np.asarray(holding_cost_per_unit_year, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.sqrt(2.0 * DAYS_PER_YEAR * d * order_cost / h)
    return np.where((d > 0) & (h > 0), q, 0.0) + 0.0


def round_up_to_case(quantity: Num, case_size: Num) -> Num:
    """Smallest multiple of the case size >= quantity (0 stays 0)."""
    case = np.maximum(np.asarray(case_size, dtype=float), 1.0)
    return np.ceil(np.maximum(np.asarray(quantity, dtype=float), 0.0) / case - 1e-9) * case + 0.0


def round_down_to_case(quantity: Num, case_size: Num) -> Num:
    """Largest multiple of the case size <= quantity (never negative)."""
    case = np.maximum(np.asarray(case_size, dtype=float), 1.0)
    return np.floor(np.maximum(np.asarray(quantity, dtype=float), 0.0) / case + 1e-9) * case + 0.0


def shelf_life_cap(daily_demand: Num, lead_time_days: Num, shelf_life_days: Num, inventory_position: Num) -> Num:
    """Most units an order may hold so that all of it sells before it expires (inf if not perishable).

    Stock sells first in, first out. When the order arrives (after L days) the stock left from before is
    about IP - d * L; the order's last unit sells (leftover + q) / d days after arrival, which must not
    exceed the shelf life: q <= d * shelf_life - max(IP - d * L, 0).
    """
    d = np.asarray(daily_demand, dtype=float)
    shelf = np.asarray(shelf_life_days, dtype=float)
    leftover = np.maximum(np.asarray(inventory_position, dtype=float) - d * lead_time_days, 0.0)
    cap = np.maximum(d * shelf - leftover, 0.0)
    return np.where(shelf > 0, cap, np.inf) + 0.0


def order_quantity(
    inventory_position: Num,
    reorder_pt: Num,
    economic_quantity: Num,
    case_size: Num,
    max_units: Num = np.inf,
) -> Num:
    """Units to order now: 0 while IP > ROP; otherwise max(EOQ, ROP - IP) rounded up to the case size,
    then limited to ``max_units`` (shelf life, capacity) rounded down to whole cases, so a limit is never
    exceeded by the rounding. May be 0 when the limit is below one case."""
    ip = np.asarray(inventory_position, dtype=float)
    rop = np.asarray(reorder_pt, dtype=float)
    wanted = round_up_to_case(np.maximum(economic_quantity, rop - ip), case_size)
    limit = np.asarray(max_units, dtype=float)
    limited = np.where(
        np.isfinite(limit), round_down_to_case(np.where(np.isfinite(limit), limit, 0.0), case_size), np.inf
    )
    return np.where(ip <= rop, np.minimum(wanted, limited), 0.0) + 0.0


def days_until_reorder(inventory_position: Num, reorder_pt: Num, daily_demand: Num) -> Num:
    """Whole days until IP falls to the ROP at the forecast rate: 0 when due now; -1 (never) without
    demand while above the reorder point."""
    ip = np.asarray(inventory_position, dtype=float)
    rop = np.asarray(reorder_pt, dtype=float)
    d = np.asarray(daily_demand, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        days = np.floor((ip - rop) / d)
    days = np.where(ip <= rop, 0.0, np.where(d > 0, days, -1.0))
    return days + 0.0


def fit_to_capacity(quantities: np.ndarray, case_sizes: np.ndarray, free_capacity: float) -> np.ndarray:
    """Scale one store's orders down so they fit its free storage capacity (units).

    Every order shrinks by the same factor free / total, rounded down to whole cases, so the total never
    exceeds the free space and no item is sacrificed entirely for another. Unchanged when they fit.
    """
    q = np.asarray(quantities, dtype=float)
    total = float(q.sum())
    if total <= free_capacity or total == 0:
        return q + 0.0
    factor = max(free_capacity, 0.0) / total
    return round_down_to_case(q * factor, case_sizes)


def protection_interval(lead_time_days: Num, review_period_days: float) -> Num:
    """L + R: the days an order placed today must cover (see the module docstring)."""
    return np.asarray(lead_time_days, dtype=float) + review_period_days + 0.0
