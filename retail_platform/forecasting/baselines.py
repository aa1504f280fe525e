"""Baseline forecasts as pure functions of a daily history (oldest first, one value per day, zeros
for days without sales). Any forecaster must beat these on the same hold-out to be worth using; the
stock-optimisation side may call them directly for series the model does not cover.

``history[-1]`` is the last closed day (the forecast date); horizon h forecasts day ``len + h - 1``
counted from the first day, i.e. h days after the last closed day.
"""

from __future__ import annotations

from collections.abc import Sequence

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
