"""Sales and stock anomalies of one day, judged against the forecast for that day.

Sales (per store/product, day D, forecast made before D for D):

    sigma = (upper - lower) / (2 * 1.2816)  the 80 % interval of the forecast as a normal's spread,
            at least sqrt(predicted) and at least 1 unit (so a near-zero forecast does not flag 1 sale)
    z     = (units sold - predicted) / sigma
    sales_spike  z >  anomaly_z       sales_drop  z < -anomaly_z (only while stock was on hand:
                                      an empty shelf explains low sales; that is a stock-out instead)

Stock (end-of-day snapshots of D-1 and D):

    expected = on hand (D-1) + received (D) - sold (D)
    stock_discrepancy   |on hand (D) - expected| > max(min units, share * expected): stock moved
                        without a sale or delivery (shrinkage, miscounts, unrecorded receipts)
    stockout_with_demand on hand (D) <= 0 while the forecast for D+1 expects sales
    expiry_risk         perishable stock above what the forecast sells within the shelf life
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_platform.optimization.policy import OptimizationConfig

Z_80 = 1.2815515655446004  # standard normal quantile of 0.9: an 80 % central interval is +-1.2816 sigma


@dataclass(frozen=True)
class Anomalies:
    """Parallel arrays, one entry per anomaly: the index of the cell it concerns and what was seen."""

    cell: np.ndarray
    anomaly_type: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return int(self.cell.size)


def _collect(parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> Anomalies:
    cells, types, observed, expected, score = [], [], [], [], []
    for name, mask, obs, exp, sc in parts:
        idx = np.flatnonzero(mask)
        cells.append(idx)
        types.append(np.full(idx.size, name, dtype=object))
        observed.append(np.asarray(obs, dtype=float)[idx])
        expected.append(np.asarray(exp, dtype=float)[idx])
        score.append(np.asarray(sc, dtype=float)[idx])
    return Anomalies(*(np.concatenate(x) if x else np.zeros(0) for x in (cells, types, observed, expected, score)))


def interval_sigma(predicted: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The forecast's daily standard deviation implied by its 80 % interval, floored as documented."""
    spread = (np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)) / (2.0 * Z_80)
    return np.maximum.reduce([spread, np.sqrt(np.maximum(predicted, 0.0)), np.ones_like(spread)])


def upper_interval_sigma(predicted: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The spread of demand above the forecast, for the safety stock: the upper half of the 80 % interval
    (upper - predicted) / 1.2816, at least ``interval_sigma``.

    Units are never negative, so a low forecast's interval is cut at 0 below (lower = 0 where
    predicted - 1.2816 sigma < 0) and its full width understates sigma; its upper half does not. For a
    symmetric interval the two agree.
    """
    upper_half = (np.asarray(upper, dtype=float) - np.maximum(np.asarray(predicted, dtype=float), 0.0)) / Z_80
    return np.maximum(upper_half, interval_sigma(predicted, lower, upper))


def sales_anomalies(
    units_sold: np.ndarray,
    predicted: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    on_hand_before: np.ndarray,
    config: OptimizationConfig,
) -> Anomalies:
    """Spikes and drops of one day's sales against the forecast (NaN forecasts are skipped)."""
    sold = np.asarray(units_sold, dtype=float)
    pred = np.asarray(predicted, dtype=float)
    known = np.isfinite(pred)
    sigma = interval_sigma(np.where(known, pred, 0.0), np.where(known, lower, 0.0), np.where(known, upper, 0.0))
    z = np.where(known, (sold - np.where(known, pred, 0.0)) / sigma, 0.0)
    in_stock = np.asarray(on_hand_before, dtype=float) > 0
    return _collect(
        [
            ("sales_spike", known & (z > config.anomaly_z), sold, pred, z),
            ("sales_drop", known & in_stock & (z < -config.anomaly_z), sold, pred, z),
        ]
    )


def stock_anomalies(
    on_hand: np.ndarray,
    previous_on_hand: np.ndarray,
    received: np.ndarray,
    sold: np.ndarray,
    next_day_forecast: np.ndarray,
    shelf_life_days: np.ndarray,
    forecast_daily: np.ndarray,
    config: OptimizationConfig,
) -> Anomalies:
    """Stock discrepancies, stock-outs facing forecast demand and perishable overstock (expiry risk)."""
    on_hand = np.asarray(on_hand, dtype=float)
    prev = np.asarray(previous_on_hand, dtype=float)
    expected = prev + np.asarray(received, dtype=float) - np.asarray(sold, dtype=float)
    gap = on_hand - expected
    tolerance = np.maximum(config.stock_discrepancy_min_units, config.stock_discrepancy_share * np.abs(expected))
    has_prev = np.isfinite(prev)
    next_day = np.nan_to_num(np.asarray(next_day_forecast, dtype=float))
    d = np.nan_to_num(np.asarray(forecast_daily, dtype=float))
    shelf = np.asarray(shelf_life_days, dtype=float)
    sellable = d * shelf
    return _collect(
        [
            ("stock_discrepancy", has_prev & (np.abs(np.nan_to_num(gap)) > tolerance), on_hand, expected, gap),
            ("stockout_with_demand", (on_hand <= 0) & (next_day >= 1.0), on_hand, next_day, next_day),
            ("expiry_risk", (shelf > 0) & (on_hand > np.maximum(sellable, 1.0)), on_hand, sellable, on_hand - sellable),
        ]
    )
