"""Forecast error metrics as pure functions, and the same metrics from additive sums (how Spark
computes them over millions of rows: one aggregation, then ``from_sums``).

Definitions (y actual, f forecast, n rows):

    WAPE  = sum|y - f| / sum|y|              weighted absolute percentage error; scale-free and
                                             dominated by the high-volume series, as stock is
    MAE   = sum|y - f| / n
    RMSE  = sqrt(sum (y - f)^2 / n)
    bias  = sum(f - y) / sum|y|              > 0 over-forecasts, < 0 under-forecasts
    sMAPE = mean(2|y - f| / (|y| + |f|))     a term whose y and f are both 0 counts as 0 (a correct
                                             forecast of no demand), not as 0/0

Ratios with a zero denominator (no demand at all) are NaN: undefined, not "perfect".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

METRICS = ("wape", "mae", "rmse", "bias", "smape")


@dataclass(frozen=True)
class Sums:
    """Additive sufficient statistics of the metrics: sums over rows, so partial results add up."""

    n: float
    abs_error: float
    sq_error: float
    error: float  # sum(f - y)
    abs_actual: float
    smape_terms: float

    def __add__(self, other: Sums) -> Sums:
        return Sums(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values(), strict=True)))


@dataclass(frozen=True)
class Metrics:
    rows: int
    wape: float
    mae: float
    rmse: float
    bias: float
    smape: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def smape_terms(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Per-row sMAPE terms 2|y - f| / (|y| + |f|), 0 where both are 0."""
    den = np.abs(actual) + np.abs(forecast)
    return np.divide(2.0 * np.abs(actual - forecast), den, out=np.zeros_like(den, dtype=np.float64), where=den > 0)


def sums(actual: Sequence[float] | np.ndarray, forecast: Sequence[float] | np.ndarray) -> Sums:
    y = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if y.shape != f.shape:
        raise ValueError(f"actual {y.shape} and forecast {f.shape} differ in shape")
    e = f - y
    return Sums(
        n=float(y.size),
        abs_error=float(np.abs(e).sum()),
        sq_error=float((e * e).sum()),
        error=float(e.sum()),
        abs_actual=float(np.abs(y).sum()),
        smape_terms=float(smape_terms(y, f).sum()),
    )


def from_sums(s: Sums) -> Metrics:
    return Metrics(
        rows=int(s.n),
        wape=_ratio(s.abs_error, s.abs_actual),
        mae=_ratio(s.abs_error, s.n),
        rmse=math.sqrt(s.sq_error / s.n) if s.n else math.nan,
        bias=_ratio(s.error, s.abs_actual),
        smape=_ratio(s.smape_terms, s.n),
    )


def evaluate(actual: Sequence[float] | np.ndarray, forecast: Sequence[float] | np.ndarray) -> Metrics:
    """All metrics of ``forecast`` against ``actual`` (same length)."""
    return from_sums(sums(actual, forecast))


def wape(actual: Sequence[float] | np.ndarray, forecast: Sequence[float] | np.ndarray) -> float:
    return evaluate(actual, forecast).wape


def mae(actual: Sequence[float] | np.ndarray, forecast: Sequence[float] | np.ndarray) -> float:
    return evaluate(actual, forecast).mae


def rmse(actual: Sequence[float] | np.ndarray, forecast: Sequence[float] | np.ndarray) -> float:
    return evaluate(actual, forecast).rmse


def bias(actual: Sequence[float] | np.ndarray, forecast: Sequence[float] | np.ndarray) -> float:
    return evaluate(actual, forecast).bias


def smape(actual: Sequence[float] | np.ndarray, forecast: Sequence[float] | np.ndarray) -> float:
    return evaluate(actual, forecast).smape
