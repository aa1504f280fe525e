"""Pure parts of training and the warehouse I/O: promotion rule, performance rows, month slices,
feature lists."""

from __future__ import annotations

import math
from datetime import date

from retail_platform.forecasting import features as feat
from retail_platform.forecasting import training, warehouse_io


def _result(gbt: float, naive: float, moving: float) -> training.TrainingResult:
    def metric(w: float) -> dict[int, dict[str, float]]:
        return {0: {"rows": 10, "wape": w, "mae": 1.0, "rmse": 1.5, "bias": 0.0, "smape": 0.3}}

    return training.TrainingResult(
        last=date(2026, 9, 30),
        holdout_start=date(2026, 9, 3),
        train_first=date(2024, 9, 3),
        rows_train=100,
        rows_holdout=10,
        metrics={"gbt": metric(gbt), "seasonal_naive": metric(naive), "moving_average_7": metric(moving)},
        intervals={1: (-1.5, 1.5)},
        interval_coverage=0.8,
        model=None,  # type: ignore[arg-type]
        config=training.TrainingConfig(),
    )


def test_promoted_only_when_better_than_baselines_and_champion():
    assert training.promotion_decision(_result(0.2, 0.3, 0.25), None)[0] is True
    assert training.promotion_decision(_result(0.2, 0.3, 0.25), 0.21)[0] is True
    ok, reason = training.promotion_decision(_result(0.2, 0.3, 0.25), 0.2)
    assert ok is False and "champion" in reason  # equal is not better
    ok, reason = training.promotion_decision(_result(0.26, 0.3, 0.25), None)
    assert ok is False and "moving_average_7" in reason
    assert training.promotion_decision(_result(0.31, 0.3, 0.4), None)[0] is False


def test_performance_rows_one_per_predictor_and_horizon():
    columns, rows = training.performance_rows(_result(0.2, 0.3, 0.25), "demand-forecast", 3, True)
    assert len(rows) == 3 and all(len(r) == len(columns) for r in rows)
    named = [dict(zip(columns, r, strict=True)) for r in rows]
    gbt = next(r for r in named if r["evaluated"] == "gbt")
    assert gbt["model_version"] == "v3" and gbt["interval_coverage"] == 0.8 and gbt["is_champion"] is True
    assert all(math.isnan(r["interval_coverage"]) for r in named if r["evaluated"] != "gbt")


def test_month_slices_clip_to_the_range():
    assert warehouse_io.month_slices(date(2025, 11, 20), date(2026, 1, 5)) == [
        (date(2025, 11, 20), date(2025, 11, 30)),
        (date(2025, 12, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 1, 5)),
    ]
    assert warehouse_io.month_slices(date(2026, 2, 3), date(2026, 2, 3)) == [(date(2026, 2, 3), date(2026, 2, 3))]


def test_feature_lists_have_no_duplicates_and_no_target():
    assert len(set(feat.MODEL_FEATURES)) == len(feat.MODEL_FEATURES)
    assert not {"label", "actual_units", "target_units", "censored", "weight"} & set(feat.MODEL_FEATURES)
    assert len(set(feat.ORIGIN_COLUMNS)) == len(feat.ORIGIN_COLUMNS)
