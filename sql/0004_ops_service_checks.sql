-- Operations: evidence that each service of the stack answered (the smoke scenario and the
-- platform_smoke DAG write one row per check, keyed by the run that made it).
--
-- Append-only and tiny; ordered by run_id so a run's evidence is one range read, partitioned by
-- month so old runs can be dropped whole (TTL) without rewriting parts.

-- migrate:up
CREATE TABLE IF NOT EXISTS {database}.ops_service_checks
(
    checked_at DateTime64(3, 'UTC') COMMENT 'when the check ran',
    run_id String COMMENT 'the smoke run (or DAG run) the check belongs to',
    component LowCardinality(String) COMMENT 'warehouse, kafka, spark or airflow',
    detail String COMMENT 'what was checked and seen, human-readable',
    rows UInt64 COMMENT 'rows or events the check moved end to end'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(checked_at)
ORDER BY (run_id, component, checked_at)
TTL toDateTime(checked_at) + INTERVAL 90 DAY
COMMENT 'Service checks of the smoke scenario; kept 90 days';

-- migrate:down
DROP TABLE IF EXISTS {database}.ops_service_checks SYNC;
