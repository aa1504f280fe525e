"""The policy computation, classification, anomalies and the baseline forecaster on hand-computed cases."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from retail_platform.forecasting.baselines import baseline_forecast
from retail_platform.optimization import anomalies, classification
from retail_platform.optimization.policy import OptimizationConfig
from retail_platform.optimization.recommendations import (
    RECOMMENDATION_COLUMNS,
    AnomalyInputs,
    Inputs,
    PolicyInputs,
    anomaly_rows,
    compute_policy,
    mean_over_days,
    policy_rows,
    recommend,
)

CONFIG = OptimizationConfig()
Z95 = 1.6448536269514722


def _inputs(**overrides) -> PolicyInputs:
    values = dict(
        daily_forecast=np.full((1, 7), 10.0),
        sigma_d=np.array([3.0]),
        lead_time=np.array([4.0]),
        lead_time_sd=np.array([1.0]),
        on_hand=np.array([20.0]),
        on_order=np.array([30.0]),
        case_size=np.array([12.0]),
        unit_cost=np.array([4.0]),
        shelf_life=np.array([0.0]),
        store=np.array([0]),
        store_capacity=np.array([0.0]),
    )
    return PolicyInputs(**(values | overrides))


def test_policy_sizes_the_safety_stock_from_the_level_error():
    p = compute_policy(_inputs(level_error=0.1), CONFIG)
    # P = 4 + 1 = 5, d = 10: SS = 1.64485 x sqrt(5 x 3^2 + 10^2 x 1^2 + (0.1 x 10 x 5)^2)
    #   = 1.64485 x sqrt(45 + 100 + 25) = 1.64485 x sqrt(170) = 1.64485 x 13.03840 = 21.4463
    assert p.safety_stock[0] == pytest.approx(Z95 * math.sqrt(170), rel=1e-9)
    assert p.safety_stock[0] == pytest.approx(21.4463, abs=1e-4)
    # ROP = 10 x 5 + 21.4463 = 71.4463.
    assert p.reorder_point[0] == pytest.approx(71.4463, abs=1e-4)


def test_mean_over_days_prorates_and_extends_the_horizon():
    daily = np.array([[1.0, 2, 3, 4, 5, 6, 7]])
    # 2.5 days: (1 + 2 + 0.5 x 3) / 2.5 = 4.5 / 2.5 = 1.8
    assert mean_over_days(daily, np.array([2.5])) == pytest.approx([1.8])
    # 9 days: the 7 days sum to 28, two more at their mean 4: (28 + 8) / 9 = 4
    assert mean_over_days(daily, np.array([9.0])) == pytest.approx([4.0])


def test_policy_of_one_cell():
    p = compute_policy(_inputs(), CONFIG)
    # Protection interval L + R = 4 + 1 = 5 days; d = 10.
    # SS = 1.64485 x sqrt(5 x 3^2 + 10^2 x 1^2) = 1.64485 x sqrt(145) = 1.64485 x 12.04159 = 19.8066
    assert p.protection_days[0] == 5.0
    assert p.safety_stock[0] == pytest.approx(Z95 * math.sqrt(145), rel=1e-9)
    assert p.safety_stock[0] == pytest.approx(19.8066, abs=1e-4)
    # ROP = 10 x 5 + 19.8066 = 69.8066; IP = 20 + 30 = 50 <= ROP: due now.
    assert p.reorder_point[0] == pytest.approx(69.8066, abs=1e-4)
    assert p.inventory_position[0] == 50
    # EOQ = sqrt(2 x 3650 x 20 / (0.25 x 4)) = 382.0995 -> 32 cases of 12 = 384.
    assert p.eoq[0] == pytest.approx(382.0995, abs=1e-4)
    assert p.recommended_quantity[0] == 384
    assert p.order_quantity[0] == 384
    assert p.days_until_order[0] == 0
    assert p.reason[0] == "below_reorder_point"


def test_policy_not_due_tells_when():
    # IP = 150 + 0; ROP 69.8: (150 - 69.8) / 10 = 8.02 -> in 8 days; nothing ordered now.
    p = compute_policy(_inputs(on_hand=np.array([150.0]), on_order=np.array([0.0])), CONFIG)
    assert p.recommended_quantity[0] == 0
    assert p.days_until_order[0] == 8
    assert p.reason[0] == "scheduled"


def test_policy_respects_the_shelf_life():
    # Shelf life 6 days: IP = 50, leftover at arrival 50 - 10 x 4 = 10; 10 x 6 - 10 = 50 units may be
    # ordered -> 4 cases of 12 = 48 (not the EOQ's 384).
    p = compute_policy(_inputs(shelf_life=np.array([6.0])), CONFIG)
    assert p.recommended_quantity[0] == 48
    assert p.shelf_limited[0]
    assert p.reason[0] == "shelf_life_limit"


def test_policy_orders_one_case_when_a_case_exceeds_the_shelf_life_and_stock_runs_out():
    # Shelf life 1 day: cap = 10 x 1 - max(IP - 40, 0). IP = 50: cap 0 and IP >= d (L + R) = 50, so wait.
    wait = compute_policy(_inputs(shelf_life=np.array([1.0])), CONFIG)
    assert wait.recommended_quantity[0] == 0
    # IP = 20 < 50: one case (the supplier's minimum), flagged.
    p = compute_policy(_inputs(shelf_life=np.array([1.0]), on_order=np.array([0.0])), CONFIG)
    assert p.recommended_quantity[0] == 12
    assert p.shelf_limited[0]


def test_policy_fits_the_store_capacity():
    # Two cells of one store, each due for 384; capacity 500 with 2 x 50 in position: 400 free.
    # Factor 400 / 768 = 0.5208 -> 200 -> 16 cases = 192 each (384 <= 400).
    two = {k: np.repeat(v, 2, axis=0) for k, v in vars(_inputs()).items() if k != "store_capacity"}
    p = compute_policy(PolicyInputs(**two | {"store": np.array([0, 0]), "store_capacity": np.array([500.0])}), CONFIG)
    assert p.recommended_quantity.tolist() == [192.0, 192.0]
    assert p.capacity_limited.all()
    assert set(p.reason) == {"capacity_limit"}


def test_policy_without_demand_orders_nothing():
    p = compute_policy(
        _inputs(daily_forecast=np.zeros((1, 7)), on_hand=np.array([0.0]), on_order=np.array([0.0])), CONFIG
    )
    assert p.recommended_quantity[0] == 0
    assert p.days_until_order[0] == -1
    assert p.reason[0] == "no_demand"


def test_abc_classes_by_revenue_share_within_each_store():
    # Store 0 revenues 50, 30, 15, 5 (total 100); share of the items ranked above: 0, .50, .80, .95
    # -> A (0 < .8), A (.5 < .8), B (.8 < .95), C (.95). Store 1 alone: A.
    revenue = np.array([15.0, 50.0, 5.0, 30.0, 7.0])
    groups = np.array([0, 0, 0, 0, 1])
    assert classification.abc_classes(revenue, groups, CONFIG).tolist() == ["B", "A", "C", "A", "A"]


def test_xyz_classes_by_coefficient_of_variation():
    # [10,10,10,10]: cv 0 -> X. [0,20,0,20]: mean 10, std 10, cv 1.0 -> Y.
    # [0,0,0,40]: mean 10, std sqrt((3 x 100 + 900) / 4) = sqrt(300) = 17.3, cv 1.73 -> Z. No demand -> Z.
    units = np.array([[10, 10, 10, 10], [0, 20, 0, 20], [0, 0, 0, 40], [0, 0, 0, 0]], dtype=float)
    assert classification.coefficient_of_variation(units)[2] == pytest.approx(math.sqrt(300) / 10)
    assert classification.xyz_classes(units, CONFIG).tolist() == ["X", "Y", "Z", "Z"]


def test_slow_movers():
    # Row 0 sells every day, 20 on hand / 1 a day = 20 days: not slow. Row 1 sells on 2 of 10 days
    # (0.2 < 0.3): slow. Row 2 sells daily but 1000 on hand / 10 a day = 100 days > 90: slow.
    units = np.array([[1.0] * 10, [0.0] * 8 + [1.0, 1.0], [10.0] * 10])
    flags = classification.slow_moving(units, np.array([20.0, 5.0, 1000.0]), np.array([1.0, 0.2, 10.0]), CONFIG)
    assert flags.tolist() == [False, True, True]


def test_sales_anomalies_against_the_forecast():
    # predicted 10, 80 % interval [6, 14]: spread 8 / (2 x 1.2816) = 3.121, below sqrt(10) = 3.162: sigma 3.162.
    # 25 sold: z = 15 / 3.162 = 4.74 > 3 -> spike. 0 sold with stock: z = -3.16 -> drop. 0 sold without stock:
    # the empty shelf explains it (no drop). 14 sold: z = 1.26, normal.
    found = anomalies.sales_anomalies(
        np.array([25.0, 0.0, 0.0, 14.0]),
        np.full(4, 10.0),
        np.full(4, 6.0),
        np.full(4, 14.0),
        np.array([30.0, 30.0, 0.0, 30.0]),
        CONFIG,
    )
    assert list(zip(found.cell.tolist(), found.anomaly_type.tolist(), strict=True)) == [
        (0, "sales_spike"),
        (1, "sales_drop"),
    ]
    assert found.score[0] == pytest.approx(15 / math.sqrt(10))


def test_stock_anomalies():
    # Cell 0: 50 + 24 received - 10 sold = 64 expected, 50 counted: gap -14 beyond max(5, 0.2 x 64 = 12.8).
    # Cell 1: 60 counted, gap -4: within tolerance. Cell 2: empty while 3 units a day are forecast.
    # Cell 3: perishable (shelf life 2), 40 on hand vs 3 x 2 = 6 sellable before expiry: expiry risk.
    found = anomalies.stock_anomalies(
        on_hand=np.array([50.0, 60.0, 0.0, 40.0]),
        previous_on_hand=np.array([50.0, 50.0, 3.0, 43.0]),
        received=np.array([24.0, 24.0, 0.0, 0.0]),
        sold=np.array([10.0, 10.0, 3.0, 3.0]),
        next_day_forecast=np.array([10.0, 10.0, 3.0, 3.0]),
        shelf_life_days=np.array([0.0, 0.0, 0.0, 2.0]),
        forecast_daily=np.array([10.0, 10.0, 3.0, 3.0]),
        config=CONFIG,
    )
    assert sorted(zip(found.cell.tolist(), found.anomaly_type.tolist(), strict=True)) == [
        (0, "stock_discrepancy"),
        (2, "stockout_with_demand"),
        (3, "expiry_risk"),
    ]


def test_baseline_forecast_follows_level_and_weekday_profile():
    # One store, two cells over 14 days starting on a Monday: cell 0 sells 10 on weekdays and 20 at the
    # weekend, cell 1 half of that. Store weekday means: Mon-Fri 15, Sat-Sun 30, average over the week
    # (5 x 15 + 2 x 30) / 7 = 19.2857 -> profile 0.7778 (weekdays), 1.5556 (weekend).
    week = np.array([10, 10, 10, 10, 10, 20, 20], dtype=float)
    history = np.vstack([np.tile(week, 2), np.tile(week / 2, 2)])
    weekdays = np.tile(np.arange(7), 2)
    fc = baseline_forecast(history, weekdays, np.array([0, 5]), np.array([0, 0]), window=14)
    # level cell 0 = (5 x 10 + 2 x 20) / 7 = 12.857; Monday 12.857 x 0.7778 = 10, Saturday 20.
    assert fc.daily[0] == pytest.approx([10.0, 20.0])
    assert fc.daily[1] == pytest.approx([5.0, 10.0])
    # Perfect fit: residual std 0, so sigma is the Poisson floor sqrt(level) = sqrt(12.857).
    assert fc.sigma[0] == pytest.approx(math.sqrt(90 / 7))


def _frames(as_of: date) -> Inputs:
    days = pd.date_range(end=pd.Timestamp(as_of), periods=56).date
    history = pd.DataFrame(
        [("store_001", p, d, u, u * 2.0) for d in days for p, u in (("SKU0001", 10), ("SKU0002", 1))],
        columns=["store_id", "product_id", "date_key", "units", "revenue"],
    )
    return Inputs(
        as_of=as_of,
        stock=pd.DataFrame(
            {
                "store_id": ["store_001"] * 2,
                "product_id": ["SKU0001", "SKU0002"],
                "quantity_on_hand": [20, 500],
                "quantity_on_order": [30, 0],
            }
        ),
        products=pd.DataFrame(
            {
                "product_id": ["SKU0001", "SKU0002"],
                "supplier_id": ["SUP001", "SUP009"],
                "unit_cost": [4.0, 1.0],
                "unit_price": [6.0, 2.0],
                "shelf_life_days": [0, 0],
            }
        ),
        suppliers=pd.DataFrame(
            {
                "supplier_id": ["SUP001"],
                "lead_time_days": [4],
                "lead_time_stddev_days": [1.0],
                "min_order_quantity": [12],
            }
        ),
        stores=pd.DataFrame({"store_id": ["store_001"], "storage_capacity_units": [0]}),
        history=history,
        forecasts=pd.DataFrame(
            {
                "store_id": "store_001",
                "product_id": "SKU0001",
                "horizon": range(1, 8),
                "predicted_units": 10.0,
                "lower_units": 10.0 - 1.2815515655 * 4,
                "upper_units": 10.0 + 1.2815515655 * 4,
                "model_version": "gbt-v1",
            }
        ),
    )


def test_recommend_uses_the_model_forecast_and_falls_back_to_the_baseline():
    rows = recommend(_frames(date(2026, 11, 20)), CONFIG, run_id="r1")
    assert list(rows.columns) == RECOMMENDATION_COLUMNS
    one, two = rows.iloc[0], rows.iloc[1]
    # SKU0001: model forecast 10/day, 80 % interval 10 +- 1.2816 x 4, so sigma = 4 (above the floor
    # sqrt(10)). L = 4 +- 1, R = 1: SS = 1.64485 x sqrt(5 x 16 + 100 x 1) = 1.64485 x 13.4164 = 22.068,
    # ROP = 10 x 5 + 22.068 = 72.068; IP = 50: due, EOQ 382.1 -> 384.
    assert one["model_version"] == "gbt-v1"
    assert one["demand_sigma_units"] == pytest.approx(4.0, abs=1e-4)
    assert one["reorder_point"] == 73  # ceil(72.068)
    assert one["safety_stock"] == 23  # ceil(22.068)
    assert bool(one["order_now"]) and one["recommended_quantity"] == 384
    assert one["order_by_date"] == date(2026, 11, 20)
    # SKU0002: no model forecast, unknown supplier (defaults: 14 +- 3 days), baseline 1/day from history;
    # 500 on hand = 500 days of cover: slow moving, not due.
    assert two["model_version"] == "baseline-ma-dow"
    assert two["forecast_daily_units"] == pytest.approx(1.0)
    assert two["lead_time_days"] == 14.0
    assert bool(two["is_slow_moving"]) and not bool(two["order_now"])
    # ABC by revenue in the window: 20/day vs 2/day -> SKU0001 A (nothing above), SKU0002 B (share above 0.909).
    assert rows["abc_class"].tolist() == ["A", "B"]
    policy = policy_rows(rows, "b1")
    assert policy[["reorder_point", "order_quantity", "safety_stock"]].iloc[0].tolist() == [73, 384, 23]


def test_anomaly_rows_from_frames():
    recs = recommend(_frames(date(2026, 11, 20)), CONFIG)
    rows = anomaly_rows(
        AnomalyInputs(
            day=date(2026, 11, 20),
            today=pd.DataFrame(
                {
                    "store_id": ["store_001"] * 2,
                    "product_id": ["SKU0001", "SKU0002"],
                    "quantity_on_hand": [20, 500],
                    "quantity_received": [0, 0],
                    "quantity_sold": [40, 1],
                }
            ),
            yesterday=pd.DataFrame(
                {"store_id": ["store_001"] * 2, "product_id": ["SKU0001", "SKU0002"], "quantity_on_hand": [60, 501]}
            ),
            forecast_today=pd.DataFrame(
                {
                    "store_id": ["store_001"],
                    "product_id": ["SKU0001"],
                    "predicted_units": [10.0],
                    "lower_units": [6.0],
                    "upper_units": [14.0],
                    "model_version": ["gbt-v1"],
                }
            ),
        ),
        recs,
        CONFIG,
    )
    # SKU0001 sold 40 against 10 +- 3.16: z = 9.5, a spike; its stock 60 - 40 = 20 adds up.
    assert rows[["product_id", "anomaly_type"]].values.tolist() == [["SKU0001", "sales_spike"]]
    assert rows["model_version"].tolist() == ["gbt-v1"]


def test_config_overrides_are_checked():
    assert CONFIG.with_overrides({"service_level": 0.98}).service_level == 0.98
    assert CONFIG.with_overrides(None) is CONFIG
    with pytest.raises(ValueError, match="unknown"):
        CONFIG.with_overrides({"servicelevel": 0.9})
    with pytest.raises(ValueError, match="service_level"):
        OptimizationConfig(service_level=1.0)
