-- Warehouse accounts and per-store row security on a ClickHouse server (compose and cluster profiles),
-- with SQL-driven access control. The ETL account (retail, RETAIL_CLICKHOUSE_USER) comes from the server's
-- users.d file (infra/compose/clickhouse/users.d/retail.xml, access_management on) because it must
-- exist before any migration can run; this migration adds the rest:
--   * role retail_bi_reader: SELECT on the database, and a settings profile fixing readonly = 1
--     (CONST: a query's SETTINGS or a SET cannot change it). No other grant, so no table function
--     that reads files or the network (they need source grants such as FILE, URL, S3, REMOTE).
--   * user {bi_user} (RETAIL_CLICKHOUSE_BI_USER, password RETAIL_CLICKHOUSE_BI_PASSWORD, substituted
--     by the migration runner from the settings, never written here) with that role: what Superset
--     and the inventory API use.
--   * role retail_store_manager: the reader's rights, but every table with a store_id shows only the
--     stores assigned to the logged-in user in bi_store_assignments (row policies), so any BI tool
--     gets per-store security from the server itself. Everyone else sees every row (retail_all_stores:
--     once a table has a row policy, users without one would otherwise see nothing).
--
-- requires: sql-access-control
-- The embedded engine of the local profile has no writable access storage (CREATE USER/ROLE/ROW POLICY
-- are refused; measured, see README "Warehouse accounts"): there the runner records this migration
-- without running it, and the local endpoint enforces the two accounts itself. Not run here: no
-- ClickHouse server is available on the development machine; tests/unit/test_access_migration.py
-- checks its structure.

-- migrate:up

CREATE TABLE IF NOT EXISTS {database}.bi_store_assignments
(
    user_name String COMMENT 'warehouse user (currentUser()) of a store manager',
    store_id String COMMENT 'a store that user may see'
)
ENGINE = ReplacingMergeTree
PARTITION BY tuple()
ORDER BY (user_name, store_id);

CREATE ROLE IF NOT EXISTS retail_bi_reader;
GRANT SELECT ON {database}.* TO retail_bi_reader;
CREATE SETTINGS PROFILE IF NOT EXISTS retail_bi_readonly SETTINGS readonly = 1 CONST TO retail_bi_reader;
CREATE USER IF NOT EXISTS {bi_user} IDENTIFIED WITH sha256_password BY {bi_password} DEFAULT ROLE retail_bi_reader;
GRANT retail_bi_reader TO {bi_user};

CREATE ROLE IF NOT EXISTS retail_store_manager;
GRANT retail_bi_reader TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_own_assignments ON {database}.bi_store_assignments
    USING user_name = currentUser()
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.bi_store_assignments USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.agg_sales_daily
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.agg_sales_daily USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.agg_store_daily
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.agg_store_daily USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.dim_store
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.dim_store USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.fact_inventory
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.fact_inventory USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.fact_sales
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.fact_sales USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.ml_demand_features
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.ml_demand_features USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.ml_demand_forecast
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.ml_demand_forecast USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.ml_forecast_accuracy
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.ml_forecast_accuracy USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.ml_inventory_anomalies
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.ml_inventory_anomalies USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.ml_reorder_recommendations
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.ml_reorder_recommendations USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.ops_api_audit
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.ops_api_audit USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.rt_reorder_policy
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.rt_reorder_policy USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.rt_restock_alerts
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.rt_restock_alerts USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.rt_restock_state
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.rt_restock_state USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.rt_sales_5min
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.rt_sales_5min USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.rt_stock
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.rt_stock USING 1 TO ALL EXCEPT retail_store_manager;

-- migrate:down

DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.rt_stock;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.rt_stock;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.rt_sales_5min;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.rt_sales_5min;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.rt_restock_state;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.rt_restock_state;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.rt_restock_alerts;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.rt_restock_alerts;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.rt_reorder_policy;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.rt_reorder_policy;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.ops_api_audit;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.ops_api_audit;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.ml_reorder_recommendations;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.ml_reorder_recommendations;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.ml_inventory_anomalies;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.ml_inventory_anomalies;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.ml_forecast_accuracy;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.ml_forecast_accuracy;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.ml_demand_forecast;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.ml_demand_forecast;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.ml_demand_features;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.ml_demand_features;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.fact_sales;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.fact_sales;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.fact_inventory;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.fact_inventory;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.dim_store;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.dim_store;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.agg_store_daily;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.agg_store_daily;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.agg_sales_daily;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.agg_sales_daily;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.bi_store_assignments;
DROP ROW POLICY IF EXISTS retail_own_assignments ON {database}.bi_store_assignments;
DROP ROLE IF EXISTS retail_store_manager;
DROP USER IF EXISTS {bi_user};
DROP SETTINGS PROFILE IF EXISTS retail_bi_readonly;
DROP ROLE IF EXISTS retail_bi_reader;
DROP TABLE IF EXISTS {database}.bi_store_assignments;
