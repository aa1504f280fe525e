-- Demand forecasting: the feature table, model performance, the 7-day forecasts and their accuracy
-- (retail_platform/forecasting, spark_jobs/{feature_engineering,train_demand_model,predict_demand}.py).
--
-- Common choices:
-- * ReplacingMergeTree with the row's computation time as version and the row's identity as ORDER BY:
--   every writer here recomputes whole days (features of a day, forecasts of a day, a model's
--   evaluation), so a re-run inserts the same keys with a newer version and converges to one row per
--   key (FINAL gives exact answers before merges). Re-running a DAG never double counts.
-- * Monthly partitions on the day the rows describe (feature_date, forecast_date, target_date): readers
--   filter recent days; months keep parts few, as the facts do (sql/0003_facts.sql).
-- * Quantities are Float64: forecasts and rolling statistics are not whole units.
-- * No CHECK constraints: the warehouse endpoint may drop an insert a constraint rejects without an
--   error (see sql/0006_realtime.sql), and a silently lost forecast day is worse than a bad value.

-- migrate:up

-- Origin features per store, product and feature_date: computed from data strictly before feature_date
-- (no leakage); forecasts made on forecast_date = feature_date - 1 use them for target days
-- feature_date .. feature_date + 6. Quantities are units/day; *_days are counts of days.
-- ORDER BY (feature_date, store_id, product_id): the prediction job reads one feature_date at a time.
CREATE TABLE IF NOT EXISTS {database}.ml_demand_features
(
    feature_date Date COMMENT 'first target day; every feature uses only days < feature_date',
    store_id LowCardinality(String),
    product_id String,
    lag_1 Float64 COMMENT 'units sold on feature_date - 1',
    lag_7 Float64 COMMENT 'units sold on feature_date - 7',
    lag_14 Float64 COMMENT 'units sold on feature_date - 14',
    lag_28 Float64 COMMENT 'units sold on feature_date - 28',
    mean_7 Float64 COMMENT 'mean daily units over the 7 days before feature_date',
    mean_14 Float64,
    mean_30 Float64,
    mean_90 Float64,
    std_7 Float64 COMMENT 'population standard deviation of daily units over the 7 days before feature_date',
    std_14 Float64,
    std_30 Float64,
    std_90 Float64,
    stockout_days_7 UInt8 COMMENT 'days with end-of-day stock <= 0 (censored demand) in the last 7 days',
    stockout_days_28 UInt8,
    stockout_lag_1 Bool COMMENT 'feature_date - 1 ended out of stock: its sales understate demand',
    price_ratio_lag_1 Float64 COMMENT 'last charged price before feature_date / regular (dim_product) price',
    promo_lag_1 Bool COMMENT 'the last charged price was a promotion (below the regular price)',
    promo_days_7 UInt8 COMMENT 'days on promotion among the last 7',
    history_days UInt16 COMMENT 'days of history before feature_date (capped at 90)',
    computed_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'row version',
    run_id String DEFAULT '' COMMENT 'orchestrator run that computed the row'
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(feature_date)
ORDER BY (feature_date, store_id, product_id)
COMMENT 'Demand-forecast origin features per store/product/feature_date (data before feature_date only)';

-- Hold-out evaluation of each trained model and of the baselines on the same rows.
-- Grain: (model_version, evaluated, horizon); horizon 0 = all horizons together.
-- evaluated: 'gbt' (the new model), 'seasonal_naive', 'moving_average_7', 'champion' (the previous
-- champion scored on the new hold-out), 'oracle' (true expected demand: the irreducible error; only
-- on simulated history).
CREATE TABLE IF NOT EXISTS {database}.ml_model_performance
(
    model_name LowCardinality(String) COMMENT 'e.g. demand-forecast',
    model_version String COMMENT 'vN: folder models/<model_name>/vN/ in the lake',
    evaluated LowCardinality(String) COMMENT 'what was scored: gbt, seasonal_naive, moving_average_7, champion, oracle',
    horizon UInt8 COMMENT 'days ahead 1..7; 0 = all horizons',
    rows UInt64 COMMENT 'hold-out rows scored (uncensored targets only)',
    wape Float64 COMMENT 'sum|y - yhat| / sum|y|',
    mae Float64,
    rmse Float64,
    bias Float64 COMMENT 'sum(yhat - y) / sum(y): > 0 over-forecasts',
    smape Float64 COMMENT 'mean of 2|y - yhat| / (|y| + |yhat|), 0 where both are 0',
    interval_coverage Float64 DEFAULT nan COMMENT 'share of actuals inside the 80% interval (gbt only)',
    holdout_start Date COMMENT 'first target day of the hold-out',
    holdout_end Date COMMENT 'last target day of the hold-out',
    is_champion Bool COMMENT 'the model version was promoted to champion by this training',
    trained_at DateTime64(3, 'UTC') COMMENT 'row version'
)
ENGINE = ReplacingMergeTree(trained_at)
PARTITION BY toYYYYMM(holdout_end)
ORDER BY (model_name, model_version, evaluated, horizon)
COMMENT 'ML performance: hold-out metrics of each model version and its baselines';

-- 7-day demand forecasts: the contract with stock optimisation. A forecast made on forecast_date
-- covers target_date = forecast_date + horizon, horizon 1..7, with an 80% prediction interval.
-- ORDER BY (forecast_date, store_id, product_id, target_date): consumers read the newest forecast_date
-- for a store; a re-run of the same forecast_date replaces its rows (newer created_at).
CREATE TABLE IF NOT EXISTS {database}.ml_demand_forecast
(
    forecast_date Date COMMENT 'day the forecast was made (data up to and including it)',
    store_id LowCardinality(String),
    product_id String,
    target_date Date COMMENT 'forecast_date + horizon',
    horizon UInt8 COMMENT 'days ahead, 1..7',
    predicted_units Float64 COMMENT 'expected units demanded on target_date',
    lower_units Float64 COMMENT '10% quantile (80% interval lower bound), >= 0',
    upper_units Float64 COMMENT '90% quantile (80% interval upper bound)',
    model_version String COMMENT 'model that produced the row (models/demand-forecast/vN)',
    created_at DateTime64(3, 'UTC') COMMENT 'row version'
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(forecast_date)
ORDER BY (forecast_date, store_id, product_id, target_date)
COMMENT 'Demand forecasts per store/product/target day (7 days ahead, 80% interval)';

-- Forecast versus actual, recorded as days close: for each closed target_date, every forecast made for
-- it (one per horizon) beside the units sold. Grain: (target_date, store_id, product_id, horizon).
-- ORDER BY target_date first: accuracy dashboards read recent closed days.
CREATE TABLE IF NOT EXISTS {database}.ml_forecast_accuracy
(
    target_date Date,
    store_id LowCardinality(String),
    product_id String,
    horizon UInt8 COMMENT 'days ahead the forecast was made, 1..7',
    forecast_date Date,
    model_version String,
    predicted_units Float64,
    lower_units Float64,
    upper_units Float64,
    actual_units Float64 COMMENT 'units sold on target_date (fact_sales; 0 when nothing sold)',
    stockout Bool COMMENT 'target_date ended out of stock: actual understates demand',
    abs_error Float64 COMMENT '|actual - predicted|',
    in_interval Bool COMMENT 'lower_units <= actual_units <= upper_units',
    evaluated_at DateTime64(3, 'UTC') COMMENT 'row version'
)
ENGINE = ReplacingMergeTree(evaluated_at)
PARTITION BY toYYYYMM(target_date)
ORDER BY (target_date, store_id, product_id, horizon)
COMMENT 'Forecast accuracy: forecasts beside actual sales once their target day has closed';

-- Accuracy per closed day and horizon, over uncensored days (a stocked-out day hides demand).
CREATE VIEW IF NOT EXISTS {database}.v_ml_forecast_accuracy_daily
AS
SELECT
    target_date,
    horizon,
    count() AS rows,
    sum(abs_error) / nullIf(sum(abs(actual_units)), 0) AS wape,
    avg(abs_error) AS mae,
    (sum(predicted_units) - sum(actual_units)) / nullIf(sum(actual_units), 0) AS bias,
    avg(in_interval) AS interval_coverage
FROM {database}.ml_forecast_accuracy FINAL
WHERE NOT stockout
GROUP BY target_date, horizon;

-- migrate:down
DROP VIEW IF EXISTS {database}.v_ml_forecast_accuracy_daily SYNC;
DROP TABLE IF EXISTS {database}.ml_forecast_accuracy SYNC;
DROP TABLE IF EXISTS {database}.ml_demand_forecast SYNC;
DROP TABLE IF EXISTS {database}.ml_model_performance SYNC;
DROP TABLE IF EXISTS {database}.ml_demand_features SYNC;
