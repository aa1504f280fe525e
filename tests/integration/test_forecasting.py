"""Demand forecasting with an in-process Spark session (and the real warehouse endpoint where the
facts are involved), on simulated daily-grain history whose generating process is known:

* no leakage: perturbing every input on and after day d leaves the features of d (and before) exactly
  as they were, while perturbing the day before d changes them;
* the full path facts -> features -> GBT training beats seasonal naive WAPE by >= 20 % on the 28-day
  hold-out, and the report shows the irreducible error (the true expected demand as forecast);
* training is reproducible (same data + seed -> same metrics), the registry promotes only a better
  model, and batch predictions land in ml_demand_forecast with sane intervals and accuracy rows.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from retail_platform.forecasting import features as feat
from retail_platform.simulation import fact_history
from tests.integration.databases import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.warehouse, pytest.mark.spark]


@pytest.fixture(scope="module")
def warehouse(warehouse):
    """A database of this module's own: every series in the facts is one of this module's simulated
    history, whatever earlier modules loaded."""
    with scratch_database(warehouse, "retail_forecasting") as settings:
        yield settings


LEAK_CONFIG = fact_history.SyntheticConfig(end_date=date(2026, 6, 30), days=160, stores=2, products=6, seed=11)
CUT = LEAK_CONFIG.end_date - timedelta(days=30)  # the day d of the leakage test


def _frames(spark, tables: dict[str, pa.Table]):
    return tuple(spark.createDataFrame(tables[name].to_pandas()) for name in ("sales", "inventory", "prices"))


def _features(spark, tables: dict[str, pa.Table], config: fact_history.SyntheticConfig) -> dict[tuple, dict]:
    sales, inventory, prices = _frames(spark, tables)
    origins = feat.origin_features(feat.daily_grid(sales, inventory, prices, config.first_day, config.end_date))
    rows = origins.select(*feat.KEYS, "feature_date", "lags", *feat.ORIGIN_COLUMNS, "target_units").collect()
    return {(r.store_id, r.product_id, r.feature_date): r.asDict() for r in rows}


def _perturb(tables: dict[str, pa.Table], when, seed: int) -> dict[str, pa.Table]:
    """Scramble sales units/revenue, stock-out flags and add sales on days selected by ``when(date)``."""
    rng = np.random.default_rng(seed)
    out = dict(tables)
    sales = tables["sales"].to_pandas()
    hit = sales["date"].map(when).astype(bool)
    sales.loc[hit, "units"] = rng.integers(1, 500, int(hit.sum())).astype(float)
    sales.loc[hit, "revenue"] = sales.loc[hit, "units"] * rng.uniform(0.1, 9.0, int(hit.sum()))
    out["sales"] = pa.Table.from_pandas(sales, preserve_index=False)
    inventory = tables["inventory"].to_pandas()
    hit = inventory["date"].map(when).astype(bool)
    inventory.loc[hit, "stockout"] = ~inventory.loc[hit, "stockout"]
    out["inventory"] = pa.Table.from_pandas(inventory, preserve_index=False)
    return out


def _origin_values(row: dict) -> tuple:
    return tuple(row[c] for c in ("lags", *feat.ORIGIN_COLUMNS))


def test_features_of_a_day_use_only_the_days_before_it(spark):
    history = fact_history.generate(LEAK_CONFIG)
    tables = fact_history.daily_tables(history)
    base = _features(spark, tables, LEAK_CONFIG)

    future = _features(spark, _perturb(tables, lambda d: d >= CUT, seed=1), LEAK_CONFIG)
    assert base.keys() == future.keys()
    checked = 0
    for key, row in base.items():
        if key[2] <= CUT:
            assert _origin_values(future[key]) == _origin_values(row), f"features of {key} saw data on/after {CUT}"
            checked += 1
    assert checked == LEAK_CONFIG.stores * LEAK_CONFIG.products * (LEAK_CONFIG.days - 30)
    # The perturbation did reach the data: day d's targets (its own sales) and later features moved.
    moved_targets = [k for k in base if k[2] == CUT and base[k]["target_units"] != future[k]["target_units"]]
    moved_later = [k for k in base if k[2] > CUT and _origin_values(base[k]) != _origin_values(future[k])]
    assert moved_targets and moved_later

    # The reverse: perturbing only the day before d changes d's features (they do use the past).
    past = _features(spark, _perturb(tables, lambda d: d == CUT - timedelta(days=1), seed=2), LEAK_CONFIG)
    changed = [k for k in base if k[2] == CUT and _origin_values(past[k]) != _origin_values(base[k])]
    assert len(changed) == LEAK_CONFIG.stores * LEAK_CONFIG.products
    unchanged = [
        k for k in base if k[2] <= CUT - timedelta(days=1) and _origin_values(past[k]) != _origin_values(base[k])
    ]
    assert unchanged == []


def test_horizon_rows_use_the_targets_same_weekday_from_before_the_origin(spark):
    history = fact_history.generate(LEAK_CONFIG)
    tables = fact_history.daily_tables(history)
    sales, inventory, prices = _frames(spark, tables)
    origins = feat.origin_features(
        feat.daily_grid(sales, inventory, prices, LEAK_CONFIG.first_day, LEAK_CONFIG.end_date)
    )
    rows = (
        feat.horizon_rows(origins.where(F.col("feature_date") == F.lit(CUT)), [])
        .where((F.col("store_id") == "store_001") & (F.col("product_id") == "SKU0001"))
        .orderBy("horizon")
        .collect()
    )
    assert [r.horizon for r in rows] == list(range(1, 8))
    day = (CUT - LEAK_CONFIG.first_day).days
    sold = history.sold_units[0, 0]
    for r in rows:
        target = day + r.horizon - 1
        assert r.target_date == CUT + timedelta(days=r.horizon - 1)
        assert r.actual_units == sold[target]
        assert r.same_weekday_1w == sold[target - 7]  # always before the origin for horizons <= 7
        assert target - 7 < day


# --- the full path against the warehouse -----------------------------------------------------------

MODEL_CONFIG = fact_history.SyntheticConfig(
    end_date=date(2026, 9, 30), days=420, stores=4, products=30, seed=5, lines_per_store_hour=30.0
)


@pytest.fixture(scope="module")
def loaded(warehouse, spark):
    """Simulated history in the facts, features computed from them, the true expected demand in the lake."""
    from retail_platform import lake
    from retail_platform.forecasting import feature_store
    from retail_platform.warehouse.client import connect

    history = fact_history.generate(MODEL_CONFIG)
    client = connect(warehouse)
    try:
        counts = fact_history.load_warehouse(history, client)
    finally:
        client.close()
    oracle_uri = lake.uri(warehouse, "features", "_test_oracle")
    spark.createDataFrame(fact_history.oracle_table(history).to_pandas()).write.mode("overwrite").parquet(oracle_uri)
    run = feature_store.run(spark, warehouse, MODEL_CONFIG.end_date, start=MODEL_CONFIG.first_day)
    return {"history": history, "counts": counts, "oracle_uri": oracle_uri, "features": run}


@pytest.fixture(scope="module")
def trained(loaded, spark, warehouse):
    from retail_platform.forecasting import training

    config = training.TrainingConfig(max_iter=40, max_depth=5)
    first = training.run(spark, warehouse, config=config, oracle_uri=loaded["oracle_uri"])
    second = training.run(spark, warehouse, config=config, oracle_uri=loaded["oracle_uri"])
    return {"config": config, "first": first, "second": second}


def test_features_cover_every_series_and_day(loaded, warehouse_client_factory):
    run = loaded["features"]
    pairs = MODEL_CONFIG.stores * MODEL_CONFIG.products
    assert run.inference_rows == pairs
    assert run.training_rows == pairs * (MODEL_CONFIG.days - 6)
    client = warehouse_client_factory()
    rows = client.query(
        "SELECT count(), max(feature_date), countIf(mean_30 > 0) FROM ml_demand_features FINAL"
    ).result_rows[0]
    assert rows[0] == pairs * 7 and rows[1] == MODEL_CONFIG.end_date + timedelta(days=1) and rows[2] == rows[0]


def test_model_beats_seasonal_naive_by_20_percent_and_reports_the_irreducible_error(trained):
    meta = trained["first"]
    overall = {name: per["0"] for name, per in meta["metrics"].items()}
    gbt, naive, moving, oracle = (overall[k] for k in ("gbt", "seasonal_naive", "moving_average_7", "oracle"))
    print({k: round(v["wape"], 4) for k, v in overall.items()})
    assert gbt["wape"] <= 0.8 * naive["wape"], overall
    assert gbt["wape"] < moving["wape"]
    # The irreducible error: no forecaster beats the true mean systematically; the model comes close.
    assert oracle["rows"] == gbt["rows"] > 0
    assert 0.97 * oracle["wape"] <= gbt["wape"] <= 1.25 * oracle["wape"]
    assert meta["promoted"] is True and meta["previous_champion"] is None
    assert set(meta["data_window"]) >= {"holdout_start", "holdout_end"}
    assert date.fromisoformat(meta["data_window"]["holdout_end"]) == MODEL_CONFIG.end_date
    coverage = meta["intervals"]["holdout_coverage"]
    assert 0.7 <= coverage <= 0.9


def test_training_is_reproducible_and_promotion_needs_a_better_model(trained, warehouse_client_factory):
    first, second = trained["first"], trained["second"]
    assert second["model_version"] == "v2" and first["model_version"] == "v1"
    assert second["metrics"]["gbt"] == first["metrics"]["gbt"]  # same data + seed -> same metrics
    # v1 re-scored on the same hold-out is exactly as good as v2, so v2 is not promoted.
    assert second["metrics"]["champion"]["0"]["wape"] == second["metrics"]["gbt"]["0"]["wape"]
    assert second["promoted"] is False and second["previous_champion"] == 1
    client = warehouse_client_factory()
    rows = client.query(
        "SELECT model_version, evaluated, wape, is_champion FROM ml_model_performance FINAL WHERE horizon = 0 "
        "ORDER BY model_version, evaluated"
    ).result_rows
    by_key = {(v, e): (w, c) for v, e, w, c in rows}
    assert by_key[("v1", "gbt")] == (pytest.approx(first["metrics"]["gbt"]["0"]["wape"]), True)
    assert by_key[("v2", "gbt")][1] is False and ("v2", "champion") in by_key and ("v1", "oracle") in by_key


def test_batch_predictions_and_accuracy(trained, loaded, spark, warehouse, warehouse_client_factory):
    from retail_platform.forecasting import feature_store, predictions

    pairs = MODEL_CONFIG.stores * MODEL_CONFIG.products
    # A forecast made a week before the end (daily-mode features), so its target days have closed.
    made = MODEL_CONFIG.end_date - timedelta(days=7)
    feature_store.run(spark, warehouse, made)
    result = predictions.run(spark, warehouse, made)
    assert result == {"forecast_date": made.isoformat(), "model_version": "v1", "rows": pairs * 7}
    predictions.run(spark, warehouse, made)  # a re-run replaces, never duplicates
    client = warehouse_client_factory()
    rows = client.query(
        "SELECT count(), uniqExact(store_id, product_id, target_date), min(horizon), max(horizon), "
        "countIf(lower_units <= predicted_units AND predicted_units <= upper_units AND lower_units >= 0), "
        "countIf(target_date != forecast_date + horizon) FROM ml_demand_forecast FINAL WHERE forecast_date = %(d)s",
        parameters={"d": made},
    ).result_rows[0]
    assert rows == (pairs * 7, pairs * 7, 1, 7, pairs * 7, 0)

    day = made + timedelta(days=3)
    assert predictions.record_accuracy(warehouse, day) == pairs
    history = loaded["history"]
    sold = history.sold_units[:, :, (day - MODEL_CONFIG.first_day).days]
    actual = client.query(
        "SELECT store_id, product_id, actual_units, horizon, abs_error = abs(actual_units - predicted_units) "
        "FROM ml_forecast_accuracy FINAL WHERE target_date = %(d)s",
        parameters={"d": day},
    ).result_rows
    ids = {s: i for i, s in enumerate(history.catalog.store_ids)}
    pids = {p: i for i, p in enumerate(history.catalog.product_ids)}
    for store, product, units, horizon, consistent in actual:
        assert units == sold[ids[store], pids[product]] and horizon == 3 and consistent
    view = client.query(
        "SELECT horizon, rows, wape FROM v_ml_forecast_accuracy_daily WHERE target_date = %(d)s", parameters={"d": day}
    ).result_rows
    assert len(view) == 1 and view[0][0] == 3 and 0 < view[0][2] < 1
