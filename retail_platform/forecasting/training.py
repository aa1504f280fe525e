"""Training the demand model: one Spark MLlib GBTRegressor for all seven horizons, evaluated on a
time-based hold-out beside the baselines, versioned in the registry and promoted only when better.

One model with a horizon feature rather than one per horizon: the horizons share almost everything
(the series' level, weekday profile, promotion and stock-out state); what differs (the target day's
calendar and its same-weekday lags) is in each row. One model sees 7x the rows, is trained and
versioned once, and still lets the trees split on ``horizon`` where the horizons behave differently.

Hold-out: the last ``holdout_days`` (28) target days. Training rows have target_date before the
hold-out; hold-out rows are the origins from the hold-out's first day on (feature_date >= start), so no
hold-out target is seen in training and every hold-out forecast starts after the training data.
Censored targets (the target day ended out of stock: sales understate demand) are neither trained on
nor scored.

Scored on the same hold-out rows: ``gbt``, ``seasonal_naive`` (same weekday one week before the
target), ``moving_average_7`` (mean of the 7 days before the origin), ``champion`` (the current
champion, re-scored on this hold-out when its features match) and, when the true expected demand is
known (simulated history), ``oracle``: its error is the irreducible error of the generating process.

Prediction intervals: per horizon, the 10 % and 90 % quantiles of the hold-out residuals standardised by
sqrt(max(forecast, 1)) (demand is count-like: its spread grows with the square root of the level);
lower = max(0, f + q10 sqrt(max(f, 1))), upper = f + q90 sqrt(max(f, 1)). Coverage is reported on the
same hold-out, so it is calibrated in-sample; ml_forecast_accuracy tracks it out of sample.

Reproducible: the training rows are put in a deterministic partitioning and order before fitting, and
every random choice (row subsampling, quantile binning) uses ``seed``; same rows + seed -> same model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import GBTRegressor
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from retail_platform.forecasting import features as feat
from retail_platform.forecasting import metrics as m

PREDICTORS = ("gbt", "seasonal_naive", "moving_average_7")
INTERVAL_QUANTILES = (0.1, 0.9)


@dataclass(frozen=True)
class TrainingConfig:
    seed: int = 42
    max_iter: int = 60
    max_depth: int = 6
    step_size: float = 0.1
    subsampling_rate: float = 0.8
    max_bins: int = 64
    holdout_days: int = 28
    train_days: int = 730  # target days of training data before the hold-out
    min_history: int = feat.MAX_LAG  # origins with less history are neither trained on nor scored
    series_fraction: float = 1.0  # share of store/product series used (deterministic by key hash)
    partitions: int = 4


@dataclass
class TrainingResult:
    last: date
    holdout_start: date
    train_first: date
    rows_train: int
    rows_holdout: int
    metrics: dict[str, dict[int, dict[str, float]]]  # evaluated -> horizon (0 = all) -> metric
    intervals: dict[int, tuple[float, float]]  # horizon -> (q10, q90) of standardised residuals
    interval_coverage: float
    model: PipelineModel
    config: TrainingConfig
    champion_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def wape(self, evaluated: str, horizon: int = 0) -> float:
        return self.metrics[evaluated][horizon]["wape"]


def series_sample(df: DataFrame, fraction: float) -> DataFrame:
    if fraction >= 1.0:
        return df
    bucket = F.pmod(F.xxhash64(*feat.KEYS), F.lit(10_000))
    return df.where(bucket < F.lit(int(round(fraction * 10_000))))


def _deterministic(df: DataFrame, partitions: int) -> DataFrame:
    return df.repartition(partitions, *feat.KEYS).sortWithinPartitions(*feat.KEYS, "feature_date", "horizon")


def pipeline(config: TrainingConfig) -> Pipeline:
    assembler = VectorAssembler(inputCols=list(feat.MODEL_FEATURES), outputCol="features", handleInvalid="error")
    gbt = GBTRegressor(
        featuresCol="features",
        labelCol="label",
        weightCol="weight",
        predictionCol="prediction",
        maxIter=config.max_iter,
        maxDepth=config.max_depth,
        stepSize=config.step_size,
        subsamplingRate=config.subsampling_rate,
        maxBins=config.max_bins,
        featureSubsetStrategy="all",
        seed=config.seed,
    )
    return Pipeline(stages=[assembler, gbt])


def predict_units(model: PipelineModel, rows: DataFrame, column: str = "gbt") -> DataFrame:
    """``rows`` (horizon rows) with ``column`` = the model's forecast in units (>= 0)."""
    scored = model.transform(rows)
    return scored.withColumn(column, F.greatest(F.col("prediction") * F.col("level"), F.lit(0.0))).drop(
        "prediction", "features"
    )


def _sum_columns(name: str, forecast: Column, actual: Column) -> list[Column]:
    err = forecast - actual
    den = F.abs(actual) + F.abs(forecast)
    smape_term = F.when(den > 0, 2 * F.abs(err) / den).otherwise(F.lit(0.0))
    return [
        F.count(forecast).alias(f"{name}__n"),
        F.sum(F.abs(err)).alias(f"{name}__abs_error"),
        F.sum(err * err).alias(f"{name}__sq_error"),
        F.sum(err).alias(f"{name}__error"),
        F.sum(F.abs(actual)).alias(f"{name}__abs_actual"),
        F.sum(smape_term).alias(f"{name}__smape_terms"),
    ]


def score(holdout: DataFrame, predictors: list[str]) -> dict[str, dict[int, dict[str, float]]]:
    """Metrics of each predictor column against actual_units, per horizon and overall (0), in one pass."""
    aggs = [c for p in predictors for c in _sum_columns(p, F.col(p), F.col("actual_units"))]
    rows = holdout.rollup("horizon").agg(*aggs).collect()
    out: dict[str, dict[int, dict[str, float]]] = {p: {} for p in predictors}
    for row in rows:
        horizon = 0 if row["horizon"] is None else int(row["horizon"])
        for p in predictors:
            sums = m.Sums(
                n=float(row[f"{p}__n"] or 0),
                abs_error=float(row[f"{p}__abs_error"] or 0),
                sq_error=float(row[f"{p}__sq_error"] or 0),
                error=float(row[f"{p}__error"] or 0),
                abs_actual=float(row[f"{p}__abs_actual"] or 0),
                smape_terms=float(row[f"{p}__smape_terms"] or 0),
            )
            out[p][horizon] = m.from_sums(sums).as_dict()
    return out


def standardised_residual(actual: Column, forecast: Column) -> Column:
    return (actual - forecast) / F.sqrt(F.greatest(forecast, F.lit(1.0)))


def interval_bounds(forecast: Column, q_low: Column, q_high: Column) -> tuple[Column, Column]:
    spread = F.sqrt(F.greatest(forecast, F.lit(1.0)))
    return F.greatest(forecast + q_low * spread, F.lit(0.0)), F.greatest(forecast + q_high * spread, F.lit(0.0))


def residual_quantiles(holdout: DataFrame, column: str = "gbt") -> dict[int, tuple[float, float]]:
    r = standardised_residual(F.col("actual_units"), F.col(column))
    rows = holdout.groupBy("horizon").agg(F.percentile_approx(r, list(INTERVAL_QUANTILES), 10_000).alias("q")).collect()
    return {int(row["horizon"]): (float(row["q"][0]), float(row["q"][1])) for row in rows}


def _interval_map(intervals: dict[int, tuple[float, float]], index: int) -> Column:
    pairs = [x for h, q in sorted(intervals.items()) for x in (F.lit(h), F.lit(q[index]))]
    return F.create_map(*pairs)[F.col("horizon")]


def with_intervals(scored: DataFrame, intervals: dict[int, tuple[float, float]], column: str = "gbt") -> DataFrame:
    lower, upper = interval_bounds(F.col(column), _interval_map(intervals, 0), _interval_map(intervals, 1))
    return scored.withColumns({"lower_units": lower, "upper_units": upper})


def split(rows: DataFrame, last: date, config: TrainingConfig) -> tuple[DataFrame, DataFrame, date, date]:
    """(training rows, hold-out rows, hold-out start, first training target day) of horizon rows."""
    holdout_start = last - timedelta(days=config.holdout_days - 1)
    train_first = holdout_start - timedelta(days=config.train_days)
    usable = rows.where(~F.col("censored") & (F.col("history_days") >= config.min_history))
    train = usable.where((F.col("target_date") < F.lit(holdout_start)) & (F.col("target_date") >= F.lit(train_first)))
    holdout = usable.where((F.col("feature_date") >= F.lit(holdout_start)) & (F.col("target_date") <= F.lit(last)))
    return train, holdout, holdout_start, train_first


def train(
    origins: DataFrame,
    last: date,
    holidays: list[date],
    config: TrainingConfig,
    oracle: DataFrame | None = None,
    champion: PipelineModel | None = None,
) -> TrainingResult:
    """Fit on the training rows of ``origins`` (training origin rows with targets) and score the
    hold-out. ``oracle``: store_id, product_id, date, expected_units (true expected demand)."""
    rows = feat.horizon_rows(series_sample(origins, config.series_fraction), holidays)
    train_rows, holdout_rows, holdout_start, train_first = split(rows, last, config)
    train_rows = _deterministic(train_rows, config.partitions).persist()
    try:
        model = pipeline(config).fit(train_rows)
        rows_train = train_rows.count()
    finally:
        train_rows.unpersist()

    scored = predict_units(model, _deterministic(holdout_rows, config.partitions)).withColumns(
        {"seasonal_naive": F.col("same_weekday_1w"), "moving_average_7": F.col("mean_7")}
    )
    predictors = list(PREDICTORS)
    if champion is not None:
        scored = predict_units(champion, scored, "champion")
        predictors.append("champion")
    if oracle is not None:
        truth = oracle.select(*feat.KEYS, F.col("date").alias("target_date"), F.col("expected_units").alias("oracle"))
        scored = scored.join(truth, [*feat.KEYS, "target_date"], "left")
        predictors.append("oracle")
    scored = scored.persist()
    try:
        rows_holdout = scored.count()
        results = score(scored, predictors)
        intervals = residual_quantiles(scored)
        covered = with_intervals(scored, intervals).agg(
            F.avg(
                (
                    (F.col("actual_units") >= F.col("lower_units")) & (F.col("actual_units") <= F.col("upper_units"))
                ).cast("double")
            )
        )
        row = covered.first()  # an aggregate without grouping: always one row
        coverage = float(row[0] or math.nan) if row is not None else math.nan
    finally:
        scored.unpersist()
    return TrainingResult(
        last=last,
        holdout_start=holdout_start,
        train_first=train_first,
        rows_train=rows_train,
        rows_holdout=rows_holdout,
        metrics=results,
        intervals=intervals,
        interval_coverage=coverage,
        model=model,
        config=config,
    )


def promotion_decision(result: TrainingResult, champion_wape: float | None) -> tuple[bool, str]:
    """Promote when the model beats both baselines and the current champion (on WAPE, all horizons)."""
    wape = result.wape("gbt")
    for baseline in ("seasonal_naive", "moving_average_7"):
        if not wape < result.wape(baseline):
            return False, f"WAPE {wape:.4f} does not beat {baseline} ({result.wape(baseline):.4f})"
    if champion_wape is not None and not wape < champion_wape:
        return False, f"WAPE {wape:.4f} does not beat the champion ({champion_wape:.4f})"
    return True, f"WAPE {wape:.4f} beats the baselines" + (
        f" and the champion ({champion_wape:.4f})" if champion_wape is not None else " (no champion yet)"
    )


def metadata(result: TrainingResult, version: int, extra: dict[str, Any]) -> dict[str, Any]:
    """The registry's metadata.json of a trained model."""
    return {
        "model_version": f"v{version}",
        "created_at": datetime.now(timezone.utc).isoformat(),
        "algorithm": "spark.ml GBTRegressor, one model for horizons 1..7 (horizon is a feature)",
        "target": "units demanded on target_date / level (level = max(mean_30, 0.1)); weight = level",
        "seed": result.config.seed,
        "parameters": asdict(result.config),
        "features": list(feat.MODEL_FEATURES),
        "data_window": {
            "first_training_target_date": result.train_first.isoformat(),
            "last_training_target_date": (result.holdout_start - timedelta(days=1)).isoformat(),
            "holdout_start": result.holdout_start.isoformat(),
            "holdout_end": result.last.isoformat(),
        },
        "rows": {"train": result.rows_train, "holdout": result.rows_holdout},
        "metrics": {k: {str(h): v for h, v in per.items()} for k, per in result.metrics.items()},
        "intervals": {
            "method": "per-horizon quantiles of hold-out residuals / sqrt(max(forecast, 1))",
            "quantiles": list(INTERVAL_QUANTILES),
            "by_horizon": {str(h): list(q) for h, q in sorted(result.intervals.items())},
            "holdout_coverage": result.interval_coverage,
        },
        **extra,
    }


def performance_rows(
    result: TrainingResult, model_name: str, version: int, promoted: bool
) -> tuple[list[str], list[list[Any]]]:
    """ml_model_performance rows: one per evaluated predictor and horizon (0 = all)."""
    now = datetime.now(timezone.utc)
    columns = [
        "model_name", "model_version", "evaluated", "horizon", "rows", "wape", "mae", "rmse", "bias", "smape",
        "interval_coverage", "holdout_start", "holdout_end", "is_champion", "trained_at",
    ]  # fmt: skip
    rows = []
    for evaluated, per in result.metrics.items():
        for horizon, values in sorted(per.items()):
            coverage = result.interval_coverage if evaluated == "gbt" and horizon == 0 else math.nan
            rows.append(
                [model_name, f"v{version}", evaluated, horizon, values["rows"], values["wape"], values["mae"],
                 values["rmse"], values["bias"], values["smape"], coverage, result.holdout_start, result.last,
                 promoted, now]
            )  # fmt: skip
    return columns, rows


def run(
    spark: Any,
    settings: Any,
    last: date | None = None,
    config: TrainingConfig | None = None,
    oracle_uri: str | None = None,
) -> dict[str, Any]:
    """The weekly training: features from the lake, fit, score, register vN, promote if better, and
    record ml_model_performance. ``last``: the last closed target day to use (default: the newest the
    training features cover). Returns a report (also the metadata's content)."""
    from retail_platform.forecasting import feature_store
    from retail_platform.forecasting.registry import Registry
    from retail_platform.warehouse.client import connect

    config = config or TrainingConfig()
    table = spark.read.format("delta").load(feature_store_uri(settings))
    newest = table.agg(F.max("feature_date")).first()[0]
    if newest is None:
        raise RuntimeError("features/training is empty: run the feature_engineering DAG first")
    covered = newest + timedelta(days=feat.HORIZONS - 1)
    last = min(last, covered) if last else covered
    first_feature = last - timedelta(days=config.holdout_days + config.train_days + feat.HORIZONS)
    origins = feature_store.read_training(spark, settings, first_feature, last)
    features_version = _delta_version(spark, feature_store_uri(settings))

    registry = Registry(spark, settings)
    champion_version = registry.champion()
    champion_model, champion_wape = None, None
    if champion_version is not None:
        champion_meta = registry.metadata(champion_version)
        champion_wape = float(champion_meta["metrics"]["gbt"]["0"]["wape"])
        if champion_meta["features"] == list(feat.MODEL_FEATURES):
            champion_model = registry.load_model(champion_version)
    oracle = spark.read.parquet(oracle_uri) if oracle_uri else None
    hol = feature_store.holidays(settings, first_feature, last + timedelta(days=feat.HORIZONS))
    result = train(origins, last, hol, config, oracle=oracle, champion=champion_model)
    if champion_model is not None:
        champion_wape = result.wape("champion")  # the champion on *this* hold-out: a fair comparison
    promoted, reason = promotion_decision(result, champion_wape)

    version = registry.next_version()
    extra = {
        "features_table": {"uri": feature_store_uri(settings), "delta_version": features_version},
        "previous_champion": champion_version,
        "promoted": promoted,
        "promotion_reason": reason,
    }
    meta = metadata(result, version, extra)
    registry.save(version, result.model, meta)
    if promoted:
        registry.promote(version, reason)
    columns, rows = performance_rows(result, registry.model_name, version, promoted)
    client = connect(settings)
    try:
        client.insert("ml_model_performance", rows, column_names=columns)
    finally:
        client.close()
    return meta


def feature_store_uri(settings: Any) -> str:
    from retail_platform import lake
    from retail_platform.forecasting.feature_store import TRAINING_ZONE

    return lake.uri(settings, *TRAINING_ZONE)


def _delta_version(spark: Any, uri: str) -> int:
    """The Delta table version trained on: time travel (versionAsOf) re-reads exactly this data."""
    return int(spark.sql(f"DESCRIBE HISTORY delta.`{uri}` LIMIT 1").first()["version"])
