-- Stock optimisation outputs: daily reorder recommendations per store/product, the inventory anomalies
-- found against the forecast, and the BI view of the newest recommendations. Written by the
-- stock_optimization DAG (retail_platform/optimization: formulas, classification, anomalies); the same
-- run upserts rt_reorder_policy (policy_source 'stock_optimization') so the speed layer's restock alerts
-- use the new reorder points.
--
-- Engines: ReplacingMergeTree(created_at) ordered by each row's identity, so re-running a day replaces
-- that day's rows (newer created_at wins; read with FINAL). Rows are small and per day; monthly
-- partitions keep parts few while whole months can be dropped or re-run.
-- ORDER BY (run_date, store_id, product_id): planners read the newest run for a store, then products;
-- run_date first makes "newest run" a range read. Anomalies lead with anomaly_date for the same reason
-- and end with anomaly_type (one row per kind of anomaly per cell and day).

-- migrate:up

-- One row per (run_date, store_id, product_id): the (s, Q) policy and today's order decision.
-- Inputs: on hand and on order from fact_inventory at run_date (the exact end-of-day snapshot the
-- forecast of run_date was made from, so a re-run of an old day gives the same answer), demand from
-- ml_demand_forecast (forecast_date = run_date, horizons 1..7) or the baseline forecaster from
-- fact_sales where the model has no forecast, lead times and case sizes from dim_supplier, shelf life
-- and cost from dim_product, storage capacity from dim_store.
CREATE TABLE IF NOT EXISTS {database}.ml_reorder_recommendations
(
    run_date Date COMMENT 'day the recommendation is for: stock at its end, forecast made on it',
    store_id LowCardinality(String),
    product_id String,
    supplier_id LowCardinality(String) COMMENT 'supplier valid on run_date',
    forecast_daily_units Float64 COMMENT 'd: mean forecast daily demand over the protection interval',
    demand_sigma_units Float64 COMMENT 'sigma_d: std of daily demand (forecast interval, or history residuals)',
    lead_time_days Float64 COMMENT 'L: supplier mean lead time',
    lead_time_stddev_days Float64 COMMENT 'sigma_L: supplier lead-time standard deviation',
    shelf_life_days UInt16 COMMENT '0 = not perishable',
    protection_days Float64 COMMENT 'L + R (R = 1: daily review): days an order placed today must cover',
    forecast_lead_time_units Float64 COMMENT 'forecast demand over the protection interval',
    safety_stock Int64 COMMENT 'ceil(Z * sqrt((L + R) sigma_d^2 + d^2 sigma_L^2))',
    reorder_point Int64 COMMENT 'ceil(forecast_lead_time_units + safety stock)',
    eoq Int64 COMMENT 'ceil(sqrt(2 * 365 d * order cost / (holding rate * unit cost)))',
    order_quantity Int64 COMMENT 'units per order at the reorder point (EOQ in whole cases, shelf-life limited)',
    quantity_on_hand Int64 COMMENT 'fact_inventory.quantity_on_hand at run_date',
    quantity_on_order Int64 COMMENT 'fact_inventory.quantity_on_order at run_date',
    inventory_position Int64 COMMENT 'on hand + on order',
    order_now Bool COMMENT 'an order is due today (inventory position <= reorder point) and is non-zero',
    recommended_quantity Int64 COMMENT 'units to order on order_by_date (today''s computed quantity when due)',
    order_by_date Nullable(Date) COMMENT 'day the next order is due at the forecast rate; NULL = no demand',
    reason LowCardinality(String) COMMENT 'stockout, below_reorder_point, shelf_life_limit, capacity_limit, scheduled, no_demand',
    is_below_reorder_point Bool COMMENT 'on hand <= reorder point: a restock alert',
    abc_class LowCardinality(String) COMMENT 'A/B/C by revenue share within the store (history window)',
    xyz_class LowCardinality(String) COMMENT 'X/Y/Z by coefficient of variation of daily units',
    is_slow_moving Bool COMMENT 'rarely sold, or more than 90 days of cover',
    service_level Float64 COMMENT 'target cycle service level of the policy',
    model_version String COMMENT 'forecast used: a model version or baseline-ma-dow',
    policy_version LowCardinality(String) COMMENT 'version of the formulas and rules',
    run_id String COMMENT 'DAG run that wrote the row',
    created_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'row version: a re-run replaces the day'
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(run_date)
ORDER BY (run_date, store_id, product_id)
COMMENT 'Reorder recommendations per run day and store/product (read with FINAL)';

-- One row per (anomaly_date, store_id, product_id, anomaly_type): sales far from the forecast
-- (sales_spike, sales_drop: |z| > 3 against the forecast's interval) and stock that does not add up or
-- is at risk (stock_discrepancy, stockout_with_demand, expiry_risk). See optimization/anomalies.py.
CREATE TABLE IF NOT EXISTS {database}.ml_inventory_anomalies
(
    anomaly_date Date COMMENT 'day the anomaly was observed',
    store_id LowCardinality(String),
    product_id String,
    anomaly_type LowCardinality(String) COMMENT 'sales_spike, sales_drop, stock_discrepancy, stockout_with_demand, expiry_risk',
    observed Float64 COMMENT 'units sold (sales) or units on hand (stock)',
    expected Float64 COMMENT 'forecast units, expected stock, or units sellable before expiry',
    score Float64 COMMENT 'z-score (sales), unexplained units (discrepancy), excess units (expiry)',
    model_version String COMMENT 'forecast the observation was judged against',
    policy_version LowCardinality(String),
    run_id String COMMENT 'DAG run that wrote the row',
    created_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'row version: a re-run replaces the day'
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(anomaly_date)
ORDER BY (anomaly_date, store_id, product_id, anomaly_type)
COMMENT 'Sales and stock anomalies per day and store/product, judged against the forecast';

-- The newest recommendations for planners and BI. Grain: (store_id, product_id) of the newest run_date.
-- Columns: run_date, store_id, store_name, product_id, product_name, category, supplier_id, the policy
-- (safety_stock, reorder_point, order_quantity, eoq), the position (quantity_on_hand, quantity_on_order),
-- the decision (order_now, recommended_quantity, order_by_date, reason, is_below_reorder_point), the
-- classes (abc_class, xyz_class, is_slow_moving), forecast_daily_units, days_of_cover (on hand / forecast
-- daily units; NULL without demand), service_level, model_version, policy_version.
CREATE VIEW IF NOT EXISTS {database}.v_reorder_recommendations AS
WITH (SELECT max(run_date) FROM {database}.ml_reorder_recommendations) AS newest
SELECT
    r.run_date AS run_date,
    r.store_id AS store_id,
    s.store_name AS store_name,
    r.product_id AS product_id,
    p.product_name AS product_name,
    p.category AS category,
    r.supplier_id AS supplier_id,
    r.safety_stock AS safety_stock,
    r.reorder_point AS reorder_point,
    r.order_quantity AS order_quantity,
    r.eoq AS eoq,
    r.quantity_on_hand AS quantity_on_hand,
    r.quantity_on_order AS quantity_on_order,
    r.order_now AS order_now,
    r.recommended_quantity AS recommended_quantity,
    r.order_by_date AS order_by_date,
    r.reason AS reason,
    r.is_below_reorder_point AS is_below_reorder_point,
    r.abc_class AS abc_class,
    r.xyz_class AS xyz_class,
    r.is_slow_moving AS is_slow_moving,
    r.forecast_daily_units AS forecast_daily_units,
    if(r.forecast_daily_units > 0, r.quantity_on_hand / r.forecast_daily_units, NULL) AS days_of_cover,
    r.service_level AS service_level,
    r.model_version AS model_version,
    r.policy_version AS policy_version
FROM
(
    SELECT * FROM {database}.ml_reorder_recommendations FINAL WHERE run_date = newest
) AS r
LEFT JOIN (SELECT store_id, store_name FROM {database}.dim_store FINAL) AS s ON r.store_id = s.store_id
LEFT JOIN
(
    SELECT product_id, product_name, category FROM {database}.dim_product FINAL WHERE is_current
) AS p ON r.product_id = p.product_id;

-- migrate:down
DROP VIEW IF EXISTS {database}.v_reorder_recommendations SYNC;
DROP TABLE IF EXISTS {database}.ml_inventory_anomalies SYNC;
DROP TABLE IF EXISTS {database}.ml_reorder_recommendations SYNC;
