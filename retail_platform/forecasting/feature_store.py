"""The feature-engineering run: facts from the warehouse -> daily grid -> origin features -> the lake's
``features/training`` and ``features/inference`` Delta tables and the warehouse's ml_demand_features.

Daily (the DAG, after daily_etl loaded day D): the window is the last ``LOOKBACK_DAYS`` days up to D,
enough for the 90-day windows of every feature_date written. Training rows are rewritten for the
``refresh_days`` newest feature_dates whose 7 targets have closed (D - 6 and the days before it: a
late event recomputed by daily_etl changes them), the inference row for D + 1.
Full (``start`` given: a rebuild or the first run): every feature_date from ``start`` on.

Idempotent: the Delta tables are overwritten by ``replaceWhere`` on the feature_date range written,
and the warehouse rows are a ReplacingMergeTree keyed by (feature_date, store_id, product_id).

Lake tables (both partitioned by feature_month = yyyyMM of feature_date):
  features/training   one row per store/product/feature_date: keys, ORIGIN_COLUMNS, lags[1..28],
                      target_units[1..7], target_stockout[1..7]
  features/inference  the same without targets, for feature_date = forecast_date + 1
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DateType, DoubleType, StringType, StructField, StructType

from retail_platform import lake
from retail_platform.forecasting import features as feat
from retail_platform.forecasting import warehouse_io
from retail_platform.settings import Settings

LOOKBACK_DAYS = 90 + feat.HORIZONS + 14  # the 90-day window of the oldest refreshed feature_date
TRAINING_ZONE = ("features", "training")
INFERENCE_ZONE = ("features", "inference")

SALES_SQL = """
SELECT toString(store_id) AS store_id, product_id, date_key AS date,
       toFloat64(sum(quantity)) AS units, toFloat64(sum(quantity * unit_price)) AS revenue
FROM {database}.fact_sales FINAL
WHERE date_key BETWEEN '{start}' AND '{end}'
GROUP BY store_id, product_id, date_key
"""
SALES_SCHEMA = StructType(
    [
        StructField("store_id", StringType()),
        StructField("product_id", StringType()),
        StructField("date", DateType()),
        StructField("units", DoubleType()),
        StructField("revenue", DoubleType()),
    ]
)
INVENTORY_SQL = """
SELECT toString(store_id) AS store_id, product_id, date_key AS date, is_stockout AS stockout
FROM {database}.fact_inventory FINAL
WHERE date_key BETWEEN '{start}' AND '{end}'
"""
INVENTORY_SCHEMA = StructType(
    [
        StructField("store_id", StringType()),
        StructField("product_id", StringType()),
        StructField("date", DateType()),
        StructField("stockout", BooleanType()),
    ]
)
# SCD2 versions at day grain: a version applies from the day it starts (valid_to is exclusive).
PRICES_SQL = """
SELECT product_id, toDate32(valid_from) AS valid_from, toDate32(valid_to) AS valid_to,
       toFloat64(unit_price) AS regular_price
FROM {database}.dim_product FINAL
WHERE '{start}' <= '{end}'
"""
PRICES_SCHEMA = StructType(
    [
        StructField("product_id", StringType()),
        StructField("valid_from", DateType()),
        StructField("valid_to", DateType()),
        StructField("regular_price", DoubleType()),
    ]
)


@dataclass(frozen=True)
class FeatureRun:
    first: date  # first day of facts read
    last: date  # last closed day (the forecast date)
    write_from: date  # first feature_date of training rows written
    training_rows: int
    inference_rows: int
    warehouse_rows: int

    def summary(self) -> dict[str, object]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items()}


def holidays(settings: Settings, first: date, last: date) -> list[date]:
    """Holidays of dim_date in [first, last] (a few rows: read on the driver)."""
    from retail_platform.warehouse.client import connect

    client = connect(settings)
    try:
        rows = client.query(
            "SELECT date_key FROM dim_date FINAL WHERE is_holiday AND date_key BETWEEN %(a)s AND %(b)s",
            parameters={"a": first, "b": last},
        ).result_rows
    finally:
        client.close()
    return sorted(r[0] for r in rows)


def read_facts(spark: SparkSession, settings: Settings, first: date, last: date) -> tuple[DataFrame, ...]:
    """(daily sales, inventory stock-outs, regular prices) of [first, last], read by the executors."""
    slices = warehouse_io.month_slices(first, last)
    sales = warehouse_io.read_sliced(spark, settings, SALES_SQL, slices, SALES_SCHEMA)
    inventory = warehouse_io.read_sliced(spark, settings, INVENTORY_SQL, slices, INVENTORY_SCHEMA)
    prices = warehouse_io.read_sliced(spark, settings, PRICES_SQL, [(first, last)], PRICES_SCHEMA)
    return sales, inventory, prices


def compute(sales: DataFrame, inventory: DataFrame, prices: DataFrame, first: date, last: date) -> DataFrame:
    """Origin features of every grid day in [first, last + 1] (targets where closed)."""
    return feat.origin_features(feat.daily_grid(sales, inventory, prices, first, last))


def _write_delta(df: DataFrame, uri: str, start: date, end: date) -> None:
    (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"feature_date >= '{start.isoformat()}' AND feature_date <= '{end.isoformat()}'")
        .partitionBy("feature_month")
        .save(uri)
    )


def warehouse_frame(origins: DataFrame, run_id: str) -> DataFrame:
    """Origin rows in ml_demand_features' columns."""
    return origins.select(
        "feature_date",
        *feat.KEYS,
        *feat.ORIGIN_COLUMNS,
        F.lit(datetime.now(timezone.utc)).alias("computed_at"),
        F.lit(run_id).alias("run_id"),
    )


def run(
    spark: SparkSession,
    settings: Settings,
    last: date,
    start: date | None = None,
    refresh_days: int = 7,
    warehouse_days: int = 7,
    run_id: str = "",
) -> FeatureRun:
    """Compute and write features for the forecast made on ``last`` (see the module docstring)."""
    newest_training = last - timedelta(days=feat.HORIZONS - 1)
    if start is None:
        write_from = newest_training - timedelta(days=refresh_days - 1)
        first = write_from - timedelta(days=LOOKBACK_DAYS - feat.HORIZONS - refresh_days)
    else:
        first = write_from = start
    sales, inventory, prices = read_facts(spark, settings, first, last)
    origins = compute(sales, inventory, prices, first, last).persist()
    try:
        training = feat.training_rows(origins, last, min_history=0).where(F.col("feature_date") >= F.lit(write_from))
        inference = feat.inference_rows(origins, last)
        _write_delta(training, lake.uri(settings, *TRAINING_ZONE), write_from, newest_training)
        _write_delta(inference, lake.uri(settings, *INFERENCE_ZONE), last + timedelta(days=1), last + timedelta(days=1))
        recent = origins.where(F.col("feature_date") > F.lit(last + timedelta(days=1 - warehouse_days)))
        written = warehouse_io.write(warehouse_frame(recent, run_id), settings, "ml_demand_features")
        n_training = training.count()
        n_inference = inference.count()
    finally:
        origins.unpersist()
    return FeatureRun(first, last, write_from, n_training, n_inference, written)


def read_training(spark: SparkSession, settings: Settings, first: date, last: date) -> DataFrame:
    """Training origin rows with feature_date in [first, last] from the lake."""
    return (
        spark.read.format("delta")
        .load(lake.uri(settings, *TRAINING_ZONE))
        .where(F.col("feature_date").between(F.lit(first), F.lit(last)))
    )


def read_inference(spark: SparkSession, settings: Settings, forecast_date: date) -> DataFrame:
    """Inference origin rows of the forecast made on ``forecast_date``."""
    return (
        spark.read.format("delta")
        .load(lake.uri(settings, *INFERENCE_ZONE))
        .where(F.col("feature_date") == F.lit(forecast_date + timedelta(days=1)))
    )
