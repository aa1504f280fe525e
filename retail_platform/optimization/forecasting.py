"""The baseline demand forecaster: moving average times a day-of-week profile.

Used where the model forecast (``ml_demand_forecast``, GBT trained in Spark) is not available for a run,
and by the closed-loop simulation, which must stay pure and deterministic. For store/product cell c,
store g(c), over the last ``window`` days of history:

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

from dataclasses import dataclass

import numpy as np

MODEL_VERSION = "baseline-ma-dow"


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
