-- Threshold alerts of the operations: the ops_alerts DAG (dags/ops_alerts.py, logic in
-- retail_platform/alerts.py) measures the stream's freshness and lag and the newest daily load's
-- failed data-quality checks every few minutes against thresholds from the settings, and records
-- each episode here: one 'firing' row when a measure crosses its threshold (with the value measured
-- and the threshold), one 'resolved' row when it is back within it. An alert still breached on the
-- next check adds nothing (once per episode); its open episode is the alert's newest row being
-- 'firing'. Plain MergeTree: evidence, appended, never replaced. ORDER BY (alert, recorded_at): an
-- alert's newest row is the end of its range. Kept a year, like ops_task_failures.
--
-- v_ops_alerts: the Operations dashboard's view of it. Grain: one firing or resolution.

-- migrate:up
CREATE TABLE IF NOT EXISTS {database}.ops_alerts
(
    alert LowCardinality(String) COMMENT 'freshness, stream_lag or dq_failures',
    state LowCardinality(String) COMMENT 'firing (an episode starts) or resolved (it ends)',
    value Float64 COMMENT 'the measured value (seconds, or failed checks)',
    threshold Float64 COMMENT 'the limit from the settings at that check; firing means value > threshold',
    detail String DEFAULT '' COMMENT 'what the value was measured on, e.g. the failed checks',
    run_id String COMMENT 'Airflow run of the check (or the caller''s id)',
    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (alert, recorded_at)
TTL toDateTime(recorded_at) + INTERVAL 365 DAY
COMMENT 'Threshold alerts: one row per episode start (firing) and end (resolved); kept a year';

CREATE OR REPLACE VIEW {database}.v_ops_alerts AS
SELECT alert, state, value, threshold, detail, run_id, recorded_at
FROM {database}.ops_alerts;

-- migrate:down
DROP VIEW IF EXISTS {database}.v_ops_alerts SYNC;
DROP TABLE IF EXISTS {database}.ops_alerts SYNC;
