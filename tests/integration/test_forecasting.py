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

import os
import sys
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from retail_platform.forecasting import features as feat
from retail_platform.forecasting import synthetic

pytestmark = [pytest.mark.integration, pytest.mark.spark]

LEAK_CONFIG = synthetic.SyntheticConfig(end_date=date(2026, 6, 30), days=160, stores=2, products=6, seed=11)
CUT = LEAK_CONFIG.end_date - timedelta(days=30)  # the day d of the leakage test


@pytest.fixture(scope="module")
def spark(settings):
    from retail_platform.spark import session, submit_args

    os.environ["PYSPARK_SUBMIT_ARGS"] = " ".join([*submit_args(settings), "--driver-memory", "2g", "pyspark-shell"])
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = session("test-forecasting", settings, **{"spark.ui.enabled": "false"})
    yield spark
    spark.stop()


def _frames(spark, tables: dict[str, pa.Table]):
    return tuple(spark.createDataFrame(tables[name].to_pandas()) for name in ("sales", "inventory", "prices"))


def _features(spark, tables: dict[str, pa.Table], config: synthetic.SyntheticConfig) -> dict[tuple, dict]:
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
    history = synthetic.generate(LEAK_CONFIG)
    tables = synthetic.daily_tables(history)
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
    history = synthetic.generate(LEAK_CONFIG)
    tables = synthetic.daily_tables(history)
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
