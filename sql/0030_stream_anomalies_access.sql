-- Per-store row security on a ClickHouse server (compose and cluster profiles) for the stream's anomaly
-- tables of 0029, as 0022 gives every earlier table with a store_id: a store manager
-- (retail_store_manager) sees only the rows of the stores assigned to them in bi_store_assignments,
-- everyone else every row (once a table has a row policy, users without one would see nothing). The
-- view v_stream_anomalies reads through these tables' policies.
--
-- requires: sql-access-control
-- Server-only, like 0022: the embedded engine of the local profile refuses CREATE ROW POLICY, so there
-- the runner records this migration without running it (the local endpoint and Superset's row-level
-- security limit a store manager there). tests/unit/test_access_migration.py checks its structure.

-- migrate:up

CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.rt_anomalies
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.rt_anomalies USING 1 TO ALL EXCEPT retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_assigned_stores ON {database}.rt_anomaly_state
    USING store_id IN (SELECT store_id FROM {database}.bi_store_assignments WHERE user_name = currentUser())
    TO retail_store_manager;
CREATE ROW POLICY IF NOT EXISTS retail_all_stores ON {database}.rt_anomaly_state USING 1 TO ALL EXCEPT retail_store_manager;

-- migrate:down

DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.rt_anomaly_state;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.rt_anomaly_state;
DROP ROW POLICY IF EXISTS retail_all_stores ON {database}.rt_anomalies;
DROP ROW POLICY IF EXISTS retail_assigned_stores ON {database}.rt_anomalies;
