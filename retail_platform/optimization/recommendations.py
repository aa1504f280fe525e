"""From forecasts and stock positions to reorder recommendations.

Two layers:

* ``compute_policy`` works on numpy arrays, one entry per store/product cell: safety stock, reorder
  point, EOQ, the order to place now and when the next one is due (formulas.py). The closed-loop
  simulation calls exactly this function every simulated day.
* ``recommend`` turns the warehouse's input frames (stock snapshot, products, suppliers, stores, sales
  history, model forecasts) into the rows of ``ml_reorder_recommendations``; ``anomaly_rows`` into those
  of ``ml_inventory_anomalies``. Pure pandas: the DAG reads the frames (optimization/warehouse.py).

Demand over the protection interval P = L + R (lead time plus the daily review period) is the sum of
the daily forecasts of the next ceil(P) days, prorated for a fractional P; beyond the forecast's horizon
(7 days for the model) the mean of the forecast days is assumed. ``d`` below is that mean daily demand.

The safety stock covers the forecast's error over P (formulas.py): the daily sigma around the forecast
(the baseline's residuals, or the upper half of the model's 80 % interval) and the relative error r of
the forecast's mean over P, measured by a rolling-origin backtest of the baseline forecaster over the
run's sales history, pooled per product over its stores (``baselines.interval_level_error``). The
model's own multi-day error is not stored; the baseline's stands in for it (a model is promoted only
when it beats the baselines on the hold-out, so it is likely no worse).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from retail_platform.forecasting.baselines import WEEKDAY_PROFILE_VERSION as BASELINE_VERSION
from retail_platform.forecasting.baselines import baseline_forecast, interval_level_error
from retail_platform.optimization import anomalies as anomaly_rules
from retail_platform.optimization import classification, formulas
from retail_platform.optimization.policy import OptimizationConfig

# Supplier attributes assumed for a product whose supplier is unknown: a long, uncertain lead time,
# so the missing data errs on the side of stock rather than of stock-outs.
UNKNOWN_SUPPLIER = {"lead_time_days": 14.0, "lead_time_stddev_days": 3.0, "min_order_quantity": 1.0}

REASONS = ("stockout", "below_reorder_point", "shelf_life_limit", "capacity_limit", "scheduled", "no_demand")


@dataclass(frozen=True)
class PolicyInputs:
    """Arrays over cells (``[cell]``) except ``daily_forecast`` (``[cell, day]``, day 1 first),
    ``store_capacity`` (``[store]``, 0 = unknown: no limit) and ``level_error``: the forecast's relative
    standard error of the mean demand over the protection interval (one pooled value or one per cell;
    0 = the forecast's mean is taken as exact)."""

    daily_forecast: np.ndarray
    sigma_d: np.ndarray
    lead_time: np.ndarray
    lead_time_sd: np.ndarray
    on_hand: np.ndarray
    on_order: np.ndarray
    case_size: np.ndarray
    unit_cost: np.ndarray
    shelf_life: np.ndarray
    store: np.ndarray
    store_capacity: np.ndarray
    level_error: float | np.ndarray = 0.0


@dataclass(frozen=True)
class Policy:
    """Per cell: the policy (safety stock, reorder point, policy order quantity) and today's decision."""

    mean_daily: np.ndarray
    protection_days: np.ndarray
    lead_demand: np.ndarray
    safety_stock: np.ndarray
    reorder_point: np.ndarray
    eoq: np.ndarray
    order_quantity: np.ndarray  # units per order at the reorder point (rt_reorder_policy)
    inventory_position: np.ndarray
    recommended_quantity: np.ndarray  # units to order now (0 unless due)
    days_until_order: np.ndarray  # 0 = now, -1 = never at the forecast rate
    shelf_limited: np.ndarray
    capacity_limited: np.ndarray
    reason: np.ndarray


def mean_over_days(daily: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Mean daily forecast over the first ``days`` (fractional) days; past the horizon, the horizon's mean."""
    daily = np.asarray(daily, dtype=float)
    n_cells, horizon = daily.shape
    if horizon == 0:
        return np.zeros(n_cells)
    days = np.maximum(np.asarray(days, dtype=float), 1e-9)
    cum = np.concatenate([np.zeros((n_cells, 1)), np.cumsum(daily, axis=1)], axis=1)
    horizon_mean = cum[:, -1] / horizon
    whole = np.minimum(np.floor(days).astype(int), horizon)
    frac = np.where(days <= horizon, days - np.floor(days), 0.0)
    nxt = daily[np.arange(n_cells), np.minimum(whole, horizon - 1)]
    total = cum[np.arange(n_cells), whole] + frac * nxt + np.maximum(days - horizon, 0.0) * horizon_mean
    return total / days


def compute_policy(inputs: PolicyInputs, config: OptimizationConfig) -> Policy:
    """The (s, Q) policy and today's order for every cell (formulas in formulas.py)."""
    z = formulas.z_for_service_level(config.service_level)
    lead = np.asarray(inputs.lead_time, dtype=float)
    protection = formulas.protection_interval(lead, config.review_period_days)
    d = mean_over_days(inputs.daily_forecast, protection)
    lead_demand = d * protection
    level_error = np.broadcast_to(np.asarray(inputs.level_error, dtype=float), lead.shape)
    safety = formulas.safety_stock(z, inputs.sigma_d, protection, d, inputs.lead_time_sd, level_error)
    rop = formulas.reorder_point(d, protection, safety)
    economic = formulas.eoq(d, config.order_cost, config.holding_rate * np.asarray(inputs.unit_cost, dtype=float))
    case = np.maximum(np.asarray(inputs.case_size, dtype=float), 1.0)
    shelf = np.asarray(inputs.shelf_life, dtype=float)

    # The quantity ordered when the reorder point is reached (what the speed layer's alerts recommend).
    policy_q = formulas.order_quantity(
        rop, rop, np.maximum(economic, 1.0), case, formulas.shelf_life_cap(d, lead, shelf, rop)
    )

    ip = np.asarray(inputs.on_hand, dtype=float) + np.asarray(inputs.on_order, dtype=float)
    due = (ip <= rop) & (d > 0)
    unlimited = formulas.order_quantity(ip, rop, economic, case)
    qty = formulas.order_quantity(ip, rop, economic, case, formulas.shelf_life_cap(d, lead, shelf, ip))
    # One exception to the shelf-life limit: when even one case (the supplier's minimum) is more than
    # sells before expiry, never ordering would mean a permanent stock-out. One case is ordered once the
    # stock in hand and on order no longer covers the expected demand until an order placed tomorrow
    # could arrive (IP < d * (L + R)); the row stays flagged shelf-limited so the waste risk is visible.
    one_case = due & (qty == 0) & (ip < lead_demand)
    qty = np.where(one_case, case, qty)
    qty = np.where(due, qty, 0.0)
    shelf_limited = due & (qty < unlimited) | one_case

    # Storage capacity is a store's: scale the store's orders into its free space.
    capped = qty.copy()
    store = np.asarray(inputs.store)
    capacity = np.asarray(inputs.store_capacity, dtype=float)
    for s in np.unique(store):
        if capacity[s] <= 0:
            continue
        idx = np.flatnonzero(store == s)
        free = capacity[s] - np.maximum(ip[idx], 0.0).sum()
        capped[idx] = formulas.fit_to_capacity(qty[idx], case[idx], free)
    capacity_limited = capped < qty
    qty = capped

    days_until = np.where(d > 0, formulas.days_until_reorder(ip, rop, d), -1.0)
    on_hand = np.asarray(inputs.on_hand, dtype=float)
    reason = np.select(
        [
            d <= 0,
            due & capacity_limited,
            due & shelf_limited,
            due & (on_hand <= 0),
            due,
        ],
        ["no_demand", "capacity_limit", "shelf_life_limit", "stockout", "below_reorder_point"],
        default="scheduled",
    )
    return Policy(
        mean_daily=d,
        protection_days=protection,
        lead_demand=lead_demand,
        safety_stock=safety,
        reorder_point=rop,
        eoq=economic,
        order_quantity=policy_q,
        inventory_position=ip,
        recommended_quantity=qty,
        days_until_order=days_until,
        shelf_limited=shelf_limited,
        capacity_limited=capacity_limited,
        reason=reason,
    )


# --- frames ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """The warehouse's inputs of one run (see optimization/warehouse.py for the queries).

    stock       store_id, product_id, quantity_on_hand, quantity_on_order (the universe of cells)
    products    product_id, supplier_id, unit_cost, unit_price, shelf_life_days
    suppliers   supplier_id, lead_time_days, lead_time_stddev_days, min_order_quantity
    stores      store_id, storage_capacity_units
    history     store_id, product_id, date_key, units, revenue (days without sales may be absent)
    forecasts   store_id, product_id, horizon, predicted_units, lower_units, upper_units, model_version
    """

    as_of: date
    stock: pd.DataFrame
    products: pd.DataFrame
    suppliers: pd.DataFrame
    stores: pd.DataFrame
    history: pd.DataFrame
    forecasts: pd.DataFrame


@dataclass(frozen=True)
class Cells:
    frame: pd.DataFrame  # one row per cell with its attributes
    history: np.ndarray  # [cell, day] units, oldest first
    days: list[date]
    store_index: np.ndarray
    store_ids: list[str]


def _cells(inputs: Inputs, config: OptimizationConfig) -> Cells:
    frame = inputs.stock[["store_id", "product_id", "quantity_on_hand", "quantity_on_order"]].copy()
    frame = frame.merge(inputs.products, on="product_id", how="inner")
    frame = frame.merge(inputs.suppliers, on="supplier_id", how="left")
    for column, default in UNKNOWN_SUPPLIER.items():
        frame[column] = frame[column].astype(float).fillna(default)
    frame = frame.sort_values(["store_id", "product_id"], kind="stable").reset_index(drop=True)
    store_ids = sorted(frame["store_id"].unique())
    store_index = frame["store_id"].map({s: i for i, s in enumerate(store_ids)}).to_numpy(dtype=np.int64)

    days = [inputs.as_of - timedelta(days=config.history_days - 1 - i) for i in range(config.history_days)]
    history = np.zeros((len(frame), len(days)))
    revenue = np.zeros(len(frame))
    if len(inputs.history):
        h = inputs.history.copy()
        h["date_key"] = pd.to_datetime(h["date_key"]).dt.date
        h = h[h["date_key"].isin(set(days))]
        key = frame.reset_index()[["index", "store_id", "product_id"]]
        h = h.merge(key, on=["store_id", "product_id"], how="inner")
        day_pos = h["date_key"].map({d: i for i, d in enumerate(days)}).to_numpy()
        np.add.at(history, (h["index"].to_numpy(), day_pos), h["units"].astype(float).to_numpy())
        np.add.at(revenue, h["index"].to_numpy(), h["revenue"].astype(float).to_numpy())
    frame["revenue_window"] = revenue
    return Cells(frame, history, days, store_index, store_ids)


def _forecast(
    cells: Cells, inputs: Inputs, config: OptimizationConfig, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(daily forecast [cell, horizon], sigma_d [cell], model_version [cell]): the model's where it
    forecast the cell, the baseline (forecasting/baselines.py) elsewhere."""
    n = len(cells.frame)
    target_weekdays = np.array([(inputs.as_of + timedelta(days=h)).weekday() for h in range(1, horizon + 1)])
    history_weekdays = np.array([d.weekday() for d in cells.days])
    window = min(28, config.history_days) // 7 * 7
    base = baseline_forecast(cells.history, history_weekdays, target_weekdays, cells.store_index, window=window)
    daily, sigma = base.daily.copy(), base.sigma.copy()
    version = np.full(n, BASELINE_VERSION, dtype=object)
    f = inputs.forecasts
    if len(f):
        key = cells.frame.reset_index()[["index", "store_id", "product_id"]]
        f = f.merge(key, on=["store_id", "product_id"], how="inner")
        f = f[(f["horizon"] >= 1) & (f["horizon"] <= horizon)]
        if len(f):
            model = np.full((n, horizon), np.nan)
            spread = np.full((n, horizon), np.nan)
            idx, hz = f["index"].to_numpy(), f["horizon"].to_numpy(dtype=int) - 1
            pred = f["predicted_units"].to_numpy(dtype=float).clip(min=0.0)
            model[idx, hz] = pred
            spread[idx, hz] = anomaly_rules.upper_interval_sigma(
                pred, f["lower_units"].to_numpy(float), f["upper_units"].to_numpy(float)
            )
            have = np.isfinite(model).any(axis=1)
            # Horizons a cell's forecast lacks take the mean of the ones it has.
            filled = np.where(
                np.isfinite(model), model, np.nanmean(np.where(have[:, None], model, 0.0), axis=1, keepdims=True)
            )
            daily[have] = filled[have]
            rms = np.sqrt(np.nanmean(np.where(have[:, None], spread, 0.0) ** 2, axis=1))
            sigma[have] = rms[have]
            versions = f.groupby("index")["model_version"].first()
            version[versions.index.to_numpy()] = versions.to_numpy()
    return daily, sigma, version


def recommend(inputs: Inputs, config: OptimizationConfig, run_id: str = "") -> pd.DataFrame:
    """Rows of ml_reorder_recommendations for ``inputs.as_of`` (one per stocked store/product)."""
    cells = _cells(inputs, config)
    frame = cells.frame
    if frame.empty:
        return pd.DataFrame(columns=RECOMMENDATION_COLUMNS)
    horizon = max(7, int(np.ceil(frame["lead_time_days"].max() + config.review_period_days)))
    daily, sigma, version = _forecast(cells, inputs, config, horizon)
    stores = inputs.stores.set_index("store_id")["storage_capacity_units"].astype(float)
    capacity = np.array([stores.get(s, 0.0) for s in cells.store_ids])
    # Days before the first sale of any cell are days before the warehouse holds sales, not days
    # without demand: the backtest starts at the first day with data.
    selling = np.flatnonzero(cells.history.sum(axis=0) > 0)
    since = int(selling[0]) if selling.size else len(cells.days)
    level_error = interval_level_error(
        cells.history[:, since:],
        np.array([d.weekday() for d in cells.days[since:]]),
        cells.store_index,
        frame["lead_time_days"].to_numpy(float) + config.review_period_days,
        window=min(28, config.history_days) // 7 * 7,
        pools=frame["product_id"].to_numpy(),
    )
    policy = compute_policy(
        PolicyInputs(
            daily_forecast=daily,
            sigma_d=sigma,
            lead_time=frame["lead_time_days"].to_numpy(float),
            lead_time_sd=frame["lead_time_stddev_days"].to_numpy(float),
            on_hand=frame["quantity_on_hand"].to_numpy(float),
            on_order=frame["quantity_on_order"].to_numpy(float),
            case_size=frame["min_order_quantity"].to_numpy(float),
            unit_cost=frame["unit_cost"].to_numpy(float),
            shelf_life=frame["shelf_life_days"].to_numpy(float),
            store=cells.store_index,
            store_capacity=capacity,
            level_error=level_error,
        ),
        config,
    )
    on_hand = frame["quantity_on_hand"].to_numpy(float)
    due = policy.days_until_order == 0
    order_by = [inputs.as_of + timedelta(days=int(d)) if d >= 0 else None for d in policy.days_until_order]
    out = pd.DataFrame(
        {
            "run_date": inputs.as_of,
            "store_id": frame["store_id"],
            "product_id": frame["product_id"],
            "supplier_id": frame["supplier_id"],
            "forecast_daily_units": policy.mean_daily.round(4),
            "demand_sigma_units": np.asarray(sigma, dtype=float).round(4),
            "lead_time_days": frame["lead_time_days"].to_numpy(float),
            "lead_time_stddev_days": frame["lead_time_stddev_days"].to_numpy(float),
            "shelf_life_days": frame["shelf_life_days"].to_numpy(np.int64),
            "protection_days": policy.protection_days,
            "forecast_lead_time_units": policy.lead_demand.round(4),
            "safety_stock": np.ceil(policy.safety_stock).astype(np.int64),
            "reorder_point": np.ceil(policy.reorder_point).astype(np.int64),
            "eoq": np.ceil(policy.eoq).astype(np.int64),
            "order_quantity": policy.order_quantity.astype(np.int64),
            "quantity_on_hand": on_hand.astype(np.int64),
            "quantity_on_order": frame["quantity_on_order"].to_numpy(np.int64),
            "inventory_position": policy.inventory_position.astype(np.int64),
            "order_now": due & (policy.recommended_quantity > 0),
            "recommended_quantity": np.where(due, policy.recommended_quantity, policy.order_quantity).astype(np.int64),
            "order_by_date": order_by,
            "reason": policy.reason,
            "is_below_reorder_point": on_hand <= np.ceil(policy.reorder_point),
            "abc_class": classification.abc_classes(frame["revenue_window"].to_numpy(), cells.store_index, config),
            "xyz_class": classification.xyz_classes(cells.history, config),
            "is_slow_moving": classification.slow_moving(cells.history, on_hand, policy.mean_daily, config),
            "service_level": config.service_level,
            "model_version": version,
            "policy_version": config.policy_version,
            "run_id": run_id,
        }
    )
    return out[RECOMMENDATION_COLUMNS]


RECOMMENDATION_COLUMNS = [
    "run_date", "store_id", "product_id", "supplier_id", "forecast_daily_units", "demand_sigma_units",
    "lead_time_days", "lead_time_stddev_days", "shelf_life_days", "protection_days", "forecast_lead_time_units",
    "safety_stock", "reorder_point", "eoq", "order_quantity", "quantity_on_hand", "quantity_on_order",
    "inventory_position", "order_now", "recommended_quantity", "order_by_date", "reason", "is_below_reorder_point",
    "abc_class", "xyz_class", "is_slow_moving", "service_level", "model_version", "policy_version", "run_id",
]  # fmt: skip


def policy_rows(recommendations: pd.DataFrame, batch_id: str) -> pd.DataFrame:
    """rt_reorder_policy rows (policy_source 'stock_optimization') from the recommendations."""
    r = recommendations
    return pd.DataFrame(
        {
            "store_id": r["store_id"],
            "product_id": r["product_id"],
            "reorder_point": r["reorder_point"].clip(lower=0).astype(np.uint32),
            "order_quantity": r["order_quantity"].clip(lower=0).astype(np.uint32),
            "safety_stock": r["safety_stock"].clip(lower=0).astype(np.uint32),
            "batch_id": batch_id,
        }
    )


@dataclass(frozen=True)
class AnomalyInputs:
    """One day D's observations. ``today`` has store_id, product_id, quantity_on_hand, quantity_received,
    quantity_sold (fact_inventory of D); ``yesterday`` store_id, product_id, quantity_on_hand (D-1);
    ``forecast_today``: store_id, product_id, predicted_units, lower_units, upper_units, model_version
    (forecast of D made before D)."""

    day: date
    today: pd.DataFrame
    yesterday: pd.DataFrame
    forecast_today: pd.DataFrame


def anomaly_rows(inputs: AnomalyInputs, recommendations: pd.DataFrame, config: OptimizationConfig) -> pd.DataFrame:
    """Rows of ml_inventory_anomalies for day ``inputs.day``."""
    cells = recommendations[["store_id", "product_id", "forecast_daily_units", "shelf_life_days", "model_version"]]
    frame = inputs.today.merge(cells, on=["store_id", "product_id"], how="left")
    frame = frame.merge(
        inputs.yesterday.rename(columns={"quantity_on_hand": "previous_on_hand"}),
        on=["store_id", "product_id"],
        how="left",
    )
    f = inputs.forecast_today.rename(columns={"model_version": "forecast_model_version"})
    frame = frame.merge(f, on=["store_id", "product_id"], how="left")
    sold = frame["quantity_sold"].to_numpy(float)
    on_hand = frame["quantity_on_hand"].to_numpy(float)
    # Stock on hand at some point of the day: the previous close, or what arrived.
    before = np.nan_to_num(frame["previous_on_hand"].to_numpy(float)) + frame["quantity_received"].to_numpy(float)
    sales = anomaly_rules.sales_anomalies(
        sold,
        frame["predicted_units"].to_numpy(float),
        frame["lower_units"].to_numpy(float),
        frame["upper_units"].to_numpy(float),
        before,
        config,
    )
    d = frame["forecast_daily_units"].to_numpy(float)
    stock = anomaly_rules.stock_anomalies(
        on_hand,
        frame["previous_on_hand"].to_numpy(float),
        frame["quantity_received"].to_numpy(float),
        sold,
        d,
        frame["shelf_life_days"].to_numpy(float),
        d,
        config,
    )
    parts = []
    for found in (sales, stock):
        if len(found):
            rows = frame.iloc[found.cell.astype(int)]
            parts.append(
                pd.DataFrame(
                    {
                        "anomaly_date": inputs.day,
                        "store_id": rows["store_id"].to_numpy(),
                        "product_id": rows["product_id"].to_numpy(),
                        "anomaly_type": found.anomaly_type,
                        "observed": found.observed,
                        "expected": found.expected,
                        "score": np.round(found.score, 4),
                        "model_version": rows["forecast_model_version"]
                        .fillna(rows["model_version"])
                        .fillna("")
                        .to_numpy(),
                    }
                )
            )
    if not parts:
        return pd.DataFrame(columns=ANOMALY_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["policy_version"] = config.policy_version
    return out[ANOMALY_COLUMNS]


ANOMALY_COLUMNS = [
    "anomaly_date", "store_id", "product_id", "anomaly_type", "observed", "expected", "score", "model_version",
    "policy_version",
]  # fmt: skip
