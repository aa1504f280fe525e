"""Demand features in Spark: the daily grid, origin features (data strictly before the day) and the
per-horizon rows the model trains and predicts on.

Grain and timing. An *origin* row is (store_id, product_id, feature_date). Every feature of it is
computed from days < feature_date only; a forecast made on forecast_date = feature_date - 1 (after that
day closed) covers target days feature_date .. feature_date + 6 (horizons 1..7). The window frames
below all end at ``-1`` (the day before) and the current row's own units are only ever used as a
*target* (``target_units``), so no feature can see the day it predicts or later
(tests/integration/test_forecasting.py perturbs the data on and after a day and shows its features do
not move).

The daily grid: one row per store/product/day from the pair's first day in the facts to the last day
of the window, zero-filled (a day without sales lines sold 0), plus one extra day after the last
(units unknown) whose origin row is the inference row of the next forecast. Complete rows make
"k rows back" mean "k days back", so lags and rolling windows are plain row frames.

Columns of the grid: units (sum of fact_sales.quantity), stockout (fact_inventory.is_stockout: the day
ended with no stock, so its sales understate demand: censored), price (units-weighted price charged,
null without sales), regular_price (dim_product's SCD2 version valid that day), price_ratio, promo
(charged below the regular price).

Origin features (``ORIGIN_COLUMNS``): lags 1..28 (array) and 1/7/14/28 by name, rolling means and
population standard deviations over 7/14/30/90 days, stock-out days in the last 7/28 and yesterday,
last charged price ratio and promotion flag, promotion days in the last 7, history length. Training
rows also carry the targets ``target_units[1..7]`` and ``target_stockout[1..7]``.

Horizon rows (``horizon_rows``): each origin row times h = 1..7 with the target day's calendar (day
of week, month, season, day of year, holiday: all known in advance, not leakage) and the same-weekday
lags of the target (1, 2 and 4 weeks before it, and their 4-week mean; always before feature_date for
h <= 7). Quantities are divided by the series' level (30-day mean) so one model serves series whose
volumes differ by orders of magnitude: the label is units / level and the row weight is the level,
so the loss still weighs units as WAPE does.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F

HORIZONS = 7
MAX_LAG = 28
ROLLING_WINDOWS = (7, 14, 30, 90)
NAMED_LAGS = (1, 7, 14, 28)
PROMO_THRESHOLD = 0.995  # a charged price below 99.5 % of the regular price is a promotion
MIN_LEVEL = 0.1  # units/day floor of the level a series is scaled by (new or near-dead series)
KEYS = ("store_id", "product_id")

# Origin feature columns (also the ClickHouse ml_demand_features columns, beside the keys).
ORIGIN_COLUMNS = (
    *(f"lag_{k}" for k in NAMED_LAGS),
    *(f"mean_{w}" for w in ROLLING_WINDOWS),
    *(f"std_{w}" for w in ROLLING_WINDOWS),
    "stockout_days_7",
    "stockout_days_28",
    "stockout_lag_1",
    "price_ratio_lag_1",
    "promo_lag_1",
    "promo_days_7",
    "history_days",
)

# Model inputs built by horizon_rows (VectorAssembler order; part of a model's metadata).
MODEL_FEATURES = (
    "horizon",
    "target_dow",
    "target_month",
    "target_season",
    "target_doy_sin",
    "target_doy_cos",
    "target_is_holiday",
    "log_level",
    "r_lag_1",
    "r_lag_7",
    "r_lag_14",
    "r_lag_28",
    "r_same_weekday_1w",
    "r_same_weekday_2w",
    "r_same_weekday_4w",
    "r_same_weekday_mean_4w",
    *(f"r_mean_{w}" for w in ROLLING_WINDOWS),
    *(f"r_std_{w}" for w in ROLLING_WINDOWS),
    "stockout_days_7",
    "stockout_days_28",
    "stockout_lag_1_i",
    "price_ratio_lag_1",
    "promo_lag_1_i",
    "promo_days_7",
    "history_days",
)


def daily_grid(
    sales: DataFrame,
    inventory: DataFrame,
    regular_prices: DataFrame,
    first: date,
    last: date,
) -> DataFrame:
    """The zero-filled store/product/day grid over [first, last] plus the inference day last + 1.

    ``sales``: store_id, product_id, date, units, revenue (units x price charged; per day);
    ``inventory``: store_id, product_id, date, stockout; ``regular_prices``: product_id, valid_from,
    valid_to (dates, valid_to exclusive), regular_price. A pair's grid starts on its first day in
    either fact (not before ``first``).
    """
    seen = (
        sales.select(*KEYS, "date")
        .unionByName(inventory.select(*KEYS, "date"))
        .where(F.col("date").between(F.lit(first), F.lit(last)))
        .groupBy(*KEYS)
        .agg(F.min("date").alias("first_date"))
    )
    grid = seen.select(
        *KEYS,
        F.explode(F.sequence("first_date", F.lit(last + timedelta(days=1)))).alias("date"),
    )
    in_window = F.col("date").between(F.lit(first), F.lit(last))
    # Sort-merge joins, stated: Spark cannot size rows read by mapInArrow (it sees the handful of
    # slice rows) and would otherwise broadcast millions of rows of facts from the driver.
    joined = (
        grid.join(sales.where(in_window).hint("shuffle_merge"), [*KEYS, "date"], "left")
        .join(
            inventory.where(in_window).select(*KEYS, "date", "stockout").hint("shuffle_merge"),
            [*KEYS, "date"],
            "left",
        )
        .join(
            F.broadcast(regular_prices.withColumnRenamed("product_id", "rp_product_id")),
            (F.col("product_id") == F.col("rp_product_id"))
            & (F.col("date") >= F.col("valid_from"))
            & (F.col("date") < F.col("valid_to")),
            "left",
        )
    )
    known = F.col("date") <= F.lit(last)
    price = F.when(F.col("units") > 0, F.col("revenue") / F.col("units"))
    return joined.select(
        *KEYS,
        "date",
        F.when(known, F.coalesce(F.col("units").cast("double"), F.lit(0.0))).alias("units"),
        F.when(known, F.coalesce(F.col("stockout"), F.lit(False))).alias("stockout"),
        price.alias("price"),
        F.col("regular_price").cast("double").alias("regular_price"),
        (price / F.col("regular_price")).alias("price_ratio"),
    )


def _frame(order: WindowSpec, start: int, end: int = -1) -> WindowSpec:
    return order.rowsBetween(start, end)


def origin_features(grid: DataFrame) -> DataFrame:
    """One row per grid row: features from the rows before it, targets from it and the 6 after."""
    order = Window.partitionBy(*KEYS).orderBy("date")
    units = F.col("units")
    stockout_i = F.col("stockout").cast("int")
    promo_i = F.coalesce((F.col("price_ratio") < PROMO_THRESHOLD).cast("int"), F.lit(0))
    lags = [F.coalesce(F.lag(units, k).over(order), F.lit(0.0)) for k in range(1, MAX_LAG + 1)]
    columns: list[Column] = [F.array(*lags).alias("lags")]
    columns += [lags[k - 1].alias(f"lag_{k}") for k in NAMED_LAGS]
    for w in ROLLING_WINDOWS:
        frame = _frame(order, -w)
        columns.append(F.coalesce(F.avg(units).over(frame), F.lit(0.0)).alias(f"mean_{w}"))
        columns.append(F.coalesce(F.stddev_pop(units).over(frame), F.lit(0.0)).alias(f"std_{w}"))
    columns += [
        F.coalesce(F.sum(stockout_i).over(_frame(order, -7)), F.lit(0)).alias("stockout_days_7"),
        F.coalesce(F.sum(stockout_i).over(_frame(order, -28)), F.lit(0)).alias("stockout_days_28"),
        F.coalesce(F.lag("stockout", 1).over(order), F.lit(False)).alias("stockout_lag_1"),
        F.coalesce(
            F.last("price_ratio", ignorenulls=True).over(_frame(order, Window.unboundedPreceding)), F.lit(1.0)
        ).alias("price_ratio_lag_1"),
        F.coalesce(F.sum(promo_i).over(_frame(order, -7)), F.lit(0)).alias("promo_days_7"),
        F.least(F.count(F.lit(1)).over(_frame(order, -90)), F.lit(90)).alias("history_days"),
        F.array(*[F.lead(units, k).over(order) for k in range(HORIZONS)]).alias("target_units"),
        F.array(*[F.lead("stockout", k).over(order) for k in range(HORIZONS)]).alias("target_stockout"),
    ]
    return (
        grid.select(*KEYS, F.col("date").alias("feature_date"), *columns)
        .withColumn("promo_lag_1", F.col("price_ratio_lag_1") < PROMO_THRESHOLD)
        .withColumn("feature_month", F.date_format("feature_date", "yyyyMM").cast("int"))
    )


def training_rows(features: DataFrame, last: date, min_history: int = MAX_LAG) -> DataFrame:
    """Origin rows whose 7 targets are all closed (feature_date + 6 <= last) and that have at least
    ``min_history`` days of history (lags and the 30-day level are defined)."""
    return features.where(
        (F.col("feature_date") <= F.lit(last - timedelta(days=HORIZONS - 1))) & (F.col("history_days") >= min_history)
    )


def inference_rows(features: DataFrame, last: date) -> DataFrame:
    """The origin rows of the forecast made on ``last`` (feature_date = last + 1), without targets."""
    return features.where(F.col("feature_date") == F.lit(last + timedelta(days=1))).drop(
        "target_units", "target_stockout"
    )


def _season(month: Column) -> Column:
    """0 winter (Dec-Feb), 1 spring, 2 summer, 3 autumn (northern hemisphere meteorological seasons)."""
    return F.floor((month % 12) / 3).cast("int")


def horizon_rows(origins: DataFrame, holidays: list[date]) -> DataFrame:
    """Each origin row times h = 1..7 with the model inputs of ``MODEL_FEATURES``; when the origin rows
    carry targets, also ``label`` (units / level), ``actual_units``, ``censored`` and ``weight``."""
    h = F.col("horizon")
    target = F.date_add("feature_date", h - 1)
    level = F.greatest(F.col("mean_30"), F.lit(MIN_LEVEL))

    def lag_at(k: Column) -> Column:
        return F.element_at("lags", k.cast("int"))

    same_weekday = [lag_at(F.lit(7 * w + 8) - h) for w in range(4)]  # 1, 2, 3, 4 weeks before the target
    doy = F.dayofyear("target_date")
    # isin() of an empty list is not allowed, and isin(NULL) would be NULL: no holidays is 0.
    is_holiday = F.col("target_date").isin(*[F.lit(d) for d in holidays]).cast("int") if holidays else F.lit(0)
    rows = origins.withColumn("horizon", F.explode(F.sequence(F.lit(1), F.lit(HORIZONS)))).withColumns(
        {"target_date": target, "level": level}
    )
    built = rows.withColumns(
        {
            "target_dow": F.dayofweek("target_date"),
            "target_month": F.month("target_date"),
            "target_season": _season(F.month("target_date")),
            "target_doy_sin": F.sin(2 * 3.141592653589793 * doy / 365.25),
            "target_doy_cos": F.cos(2 * 3.141592653589793 * doy / 365.25),
            "target_is_holiday": is_holiday,
            "log_level": F.log1p("level"),
            "same_weekday_1w": same_weekday[0],
            "r_same_weekday_1w": same_weekday[0] / F.col("level"),
            "r_same_weekday_2w": same_weekday[1] / F.col("level"),
            "r_same_weekday_4w": same_weekday[3] / F.col("level"),
            "r_same_weekday_mean_4w": (same_weekday[0] + same_weekday[1] + same_weekday[2] + same_weekday[3])
            / 4.0
            / F.col("level"),
            **{f"r_lag_{k}": F.col(f"lag_{k}") / F.col("level") for k in NAMED_LAGS},
            **{f"r_mean_{w}": F.col(f"mean_{w}") / F.col("level") for w in ROLLING_WINDOWS},
            **{f"r_std_{w}": F.col(f"std_{w}") / F.col("level") for w in ROLLING_WINDOWS},
            "stockout_lag_1_i": F.col("stockout_lag_1").cast("int"),
            "promo_lag_1_i": F.col("promo_lag_1").cast("int"),
        }
    )
    if "target_units" in origins.columns:
        built = built.withColumns(
            {
                "actual_units": F.element_at("target_units", h),
                "censored": F.coalesce(F.element_at("target_stockout", h), F.lit(True)),
            }
        ).withColumns(
            {"label": F.col("actual_units") / F.col("level"), "weight": F.col("level")},
        )
    return built
