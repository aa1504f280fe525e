"""Daily batch predictions with the champion model, and forecast-vs-actual as days close.

``run``: the forecast made on forecast_date D (after D closed): the inference origin rows of
feature_date D + 1 from the lake, horizons 1..7, the champion's forecast and its 80 % interval (the
per-horizon residual quantiles in the champion's metadata) -> ml_demand_forecast. Re-running D inserts
the same keys with a newer created_at (ReplacingMergeTree): idempotent.

``record_accuracy``: once day T has closed (its facts are loaded), every forecast made for T (one per
horizon, from D = T - 7 .. T - 1) beside the units sold and the stock-out flag -> ml_forecast_accuracy.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from retail_platform.forecasting import feature_store, training, warehouse_io
from retail_platform.forecasting import features as feat
from retail_platform.forecasting.registry import Registry
from retail_platform.settings import Settings

FORECAST_TABLE = "ml_demand_forecast"
ACCURACY_TABLE = "ml_forecast_accuracy"


class NoChampionError(RuntimeError):
    """No model has been promoted yet: train one (model_training DAG) before predicting."""


def run(spark: SparkSession, settings: Settings, forecast_date: date) -> dict[str, Any]:
    registry = Registry(spark, settings)
    version = registry.champion()
    if version is None:
        raise NoChampionError(f"no champion in {registry.root}: run the model_training DAG first")
    meta = registry.metadata(version)
    model = registry.load_model(version)
    intervals = {int(h): (float(q[0]), float(q[1])) for h, q in meta["intervals"]["by_horizon"].items()}
    origins = feature_store.read_inference(spark, settings, forecast_date)
    holidays = feature_store.holidays(settings, forecast_date, forecast_date + timedelta(days=feat.HORIZONS))
    scored = training.with_intervals(training.predict_units(model, feat.horizon_rows(origins, holidays)), intervals)
    out = scored.select(
        F.lit(forecast_date).alias("forecast_date"),
        *feat.KEYS,
        "target_date",
        F.col("horizon").cast("byte").alias("horizon"),
        F.col("gbt").alias("predicted_units"),
        "lower_units",
        "upper_units",
        F.lit(f"v{version}").alias("model_version"),
        F.lit(datetime.now(timezone.utc)).alias("created_at"),
    )
    written = warehouse_io.write(out, settings, FORECAST_TABLE)
    return {"forecast_date": forecast_date.isoformat(), "model_version": f"v{version}", "rows": written}


ACCURACY_SQL = """
INSERT INTO {db}.ml_forecast_accuracy
    (target_date, store_id, product_id, horizon, forecast_date, model_version, predicted_units, lower_units,
     upper_units, actual_units, stockout, abs_error, in_interval, evaluated_at)
SELECT f.target_date, f.store_id, f.product_id, f.horizon, f.forecast_date, f.model_version, f.predicted_units,
       f.lower_units, f.upper_units, toFloat64(s.units) AS actual, i.is_stockout,
       abs(actual - f.predicted_units), actual >= f.lower_units AND actual <= f.upper_units, now64(3)
FROM (SELECT * FROM {db}.ml_demand_forecast FINAL WHERE target_date = %(day)s) AS f
LEFT JOIN (
    SELECT store_id, product_id, sum(quantity) AS units FROM {db}.fact_sales FINAL
    WHERE date_key = %(day)s GROUP BY store_id, product_id
) AS s ON s.store_id = f.store_id AND s.product_id = f.product_id
LEFT JOIN (
    SELECT store_id, product_id, is_stockout FROM {db}.fact_inventory FINAL WHERE date_key = %(day)s
) AS i ON i.store_id = f.store_id AND i.product_id = f.product_id
SETTINGS join_use_nulls = 0
"""


def record_accuracy(settings: Settings, day: date) -> int:
    """Forecasts for ``day`` beside its actual sales (a day without sales sold 0); returns rows."""
    from retail_platform.warehouse.client import connect

    client = connect(settings)
    try:
        return write_accuracy(client, settings.clickhouse_database, day)
    finally:
        client.close()


def write_accuracy(client: Any, db: str, day: date) -> int:
    """``record_accuracy`` with an open client (an Airflow task's hook client) of database ``db``."""
    client.command(ACCURACY_SQL.format(db=db), parameters={"day": day})
    return int(
        client.query(
            f"SELECT count() FROM {db}.{ACCURACY_TABLE} FINAL WHERE target_date = %(day)s",
            parameters={"day": day},
        ).result_rows[0][0]
    )
