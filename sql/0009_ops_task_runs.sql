-- Operations of the orchestrator: every failed task try, and what each lake/warehouse maintenance run did.
--
-- ops_task_failures: written by the task-failure callback (retail_platform.orchestration, in every
-- DAG's DEFAULT_ARGS) from the task's worker, one row per failed try, whether Airflow retries it
-- (state 'up_for_retry') or gives up ('failed'). Append-only evidence, like dq_results.
-- ReplacingMergeTree on the try's identity (dag_id, task_id, run_id, map_index, try_number): a callback
-- that runs twice for one try (e.g. the worker retries the insert) still counts once under FINAL.
-- ORDER BY dag_id first: "what failed in DAG X lately" is one range read; task_id before run_id so
-- one task's history across runs is contiguous. PARTITION BY month of failed_at so the one-year TTL
-- drops whole parts; a try's row always lands in the same partition because failed_at is set once.
--
-- ops_maintenance_runs: one row per action of a maintenance run (retail_platform.maintenance) on one
-- target: a lake Delta table (OPTIMIZE, VACUUM, retention) or a warehouse table (OPTIMIZE ... FINAL,
-- partition retention), with the files/parts and bytes before and after and the partitions dropped.
-- Plain MergeTree: a retried run is new evidence, not a replacement. ORDER BY (target, action,
-- started_at): "when was this table last compacted, and what did it gain" is one range read.

-- migrate:up
CREATE TABLE IF NOT EXISTS {database}.ops_task_failures
(
    dag_id LowCardinality(String),
    task_id String,
    run_id String COMMENT 'Airflow run id (scheduled__..., manual__..., backfill__...)',
    map_index Int32 COMMENT '-1 for a task that is not mapped',
    try_number UInt32 COMMENT 'the failed try, 1-based',
    state LowCardinality(String) COMMENT 'failed (no retry left) or up_for_retry',
    logical_date Nullable(DateTime64(3, 'UTC')) COMMENT 'NULL for runs without a logical date (asset-triggered, manual)',
    data_interval_start Nullable(DateTime64(3, 'UTC')),
    data_interval_end Nullable(DateTime64(3, 'UTC')),
    failed_at DateTime64(3, 'UTC') COMMENT 'when the callback recorded the failure',
    exception_class String COMMENT 'module-qualified class of the error; empty when Airflow gave only a message',
    exception_message String COMMENT 'str(error), truncated to 4000 characters (the full log is at log_url)',
    log_url String COMMENT 'the try''s log in the Airflow UI',
    hostname String COMMENT 'worker that ran the try'
)
ENGINE = ReplacingMergeTree(failed_at)
PARTITION BY toYYYYMM(failed_at)
ORDER BY (dag_id, task_id, run_id, map_index, try_number)
TTL toDateTime(failed_at) + INTERVAL 365 DAY
COMMENT 'Failed task tries of every DAG, from the failure/retry callback (FINAL: one row per try); kept a year';

CREATE TABLE IF NOT EXISTS {database}.ops_maintenance_runs
(
    run_id String COMMENT 'the maintenance run (Airflow run id, or maintenance-<uuid> when run by hand)',
    layer LowCardinality(String) COMMENT 'lake or warehouse',
    target String COMMENT 'lake table path below the lake root (raw-data/sales), or warehouse table name',
    action LowCardinality(String) COMMENT 'optimize, vacuum, retention (lake; open when the table could not be read); optimize_final, retention (warehouse)',
    status LowCardinality(String) COMMENT 'ok, skipped or error',
    files_before UInt64 COMMENT 'data files of the Delta snapshot / active parts of the table, before',
    files_after UInt64,
    bytes_before UInt64 COMMENT 'bytes of those files or parts, before',
    bytes_after UInt64,
    files_removed UInt64 COMMENT 'files physically deleted (VACUUM); 0 for other actions',
    partitions_dropped Array(String) COMMENT 'partitions deleted by retention (year=YYYY/month=MM/day=DD or partition id)',
    cutoff Nullable(Date) COMMENT 'retention: partitions wholly before this day were dropped',
    detail String DEFAULT '' COMMENT 'parameters of the action, or the error',
    started_at DateTime64(3, 'UTC'),
    finished_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (target, action, started_at)
TTL toDateTime(started_at) + INTERVAL 365 DAY
COMMENT 'What each lake/warehouse maintenance run did, one row per target and action; kept a year';

-- migrate:down
DROP TABLE IF EXISTS {database}.ops_maintenance_runs SYNC;
DROP TABLE IF EXISTS {database}.ops_task_failures SYNC;
