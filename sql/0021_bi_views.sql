-- BI views for the dashboards (Superset datasets are views only, never raw tables): restock alerts,
-- the newest demand forecast next to actuals, model versions, and the operations of the stream and
-- the DAGs. Each names its grain; every view with a store_id gets the per-store row security.

-- migrate:up

-- Grain: one restock alert (event_id). Columns: when, where, stock and reorder point at the alert.
CREATE OR REPLACE VIEW {database}.v_restock_alerts AS
SELECT event_id, event_time, store_id, product_id, current_stock, reorder_point, recommended_quantity
FROM {database}.rt_restock_alerts FINAL;

-- Grain: (store_id, product_id, target_date) of the newest forecast run. Columns: predicted units
-- with the 80 % interval (lower_units, upper_units), horizon, and the units actually sold on
-- target_date so far (v_sales_daily: batch for closed days, speed layer otherwise; NULL before any).
CREATE OR REPLACE VIEW {database}.v_demand_forecast_latest AS
WITH (SELECT max(forecast_date) FROM {database}.ml_demand_forecast) AS newest
SELECT
    f.forecast_date AS forecast_date,
    f.store_id AS store_id,
    f.product_id AS product_id,
    f.target_date AS target_date,
    f.horizon AS horizon,
    f.predicted_units AS predicted_units,
    f.lower_units AS lower_units,
    f.upper_units AS upper_units,
    f.model_version AS model_version,
    a.units AS actual_units
FROM (SELECT * FROM {database}.ml_demand_forecast FINAL WHERE forecast_date = newest) AS f
LEFT JOIN
(
    SELECT store_id, product_id, date, toNullable(sum(units)) AS units
    FROM {database}.v_sales_daily
    WHERE date > newest
    GROUP BY store_id, product_id, date
) AS a ON f.store_id = a.store_id AND f.product_id = a.product_id AND f.target_date = a.date;

-- Grain: (model_name, model_version, evaluated, horizon). Model versions, their hold-out scores and
-- whether the training promoted them to champion.
CREATE OR REPLACE VIEW {database}.v_ml_model_performance AS
SELECT model_name, model_version, evaluated, horizon, rows, wape, mae, rmse, bias, smape, interval_coverage,
       holdout_start, holdout_end, is_champion, trained_at
FROM {database}.ml_model_performance FINAL;

-- Grain: one micro-batch of a streaming query. freshness_s: seconds from the newest event of the
-- batch to the end of the batch (when its rows became queryable).
CREATE OR REPLACE VIEW {database}.v_ops_stream_batches AS
SELECT
    query_name, batch_id, started_at, finished_at, duration_ms, input_total, accepted, quarantined,
    duplicates_dropped, alerts, max_event_time,
    if(max_event_time IS NULL, NULL, dateDiff('millisecond', max_event_time, finished_at) / 1000) AS freshness_s
FROM {database}.ops_stream_batches FINAL;

-- Grain: (date, source_topic, reason). Columns: records quarantined by the stream that day.
CREATE OR REPLACE VIEW {database}.v_ops_quarantine_daily AS
SELECT toDate(ingested_at, 'UTC') AS date, source_topic, reason, count() AS records
FROM {database}.rt_quarantine FINAL
GROUP BY date, source_topic, reason;

-- Grain: one failed task try (dag_id, task_id, run_id, map_index, try_number).
CREATE OR REPLACE VIEW {database}.v_ops_task_failures AS
SELECT dag_id, task_id, run_id, map_index, try_number, state, failed_at, exception_class, exception_message
FROM {database}.ops_task_failures FINAL;

-- migrate:down
DROP VIEW IF EXISTS {database}.v_ops_task_failures SYNC;
DROP VIEW IF EXISTS {database}.v_ops_quarantine_daily SYNC;
DROP VIEW IF EXISTS {database}.v_ops_stream_batches SYNC;
DROP VIEW IF EXISTS {database}.v_ml_model_performance SYNC;
DROP VIEW IF EXISTS {database}.v_demand_forecast_latest SYNC;
DROP VIEW IF EXISTS {database}.v_restock_alerts SYNC;
