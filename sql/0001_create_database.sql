-- The warehouse database and the table that records which migrations have been applied.
--
-- The bookkeeping table is created by this first migration rather than by the migrator's Python code:
-- it then appears in schema.sql like every other table, and rolling everything back removes it with
-- the database. The migrator reads "no schema_migrations table" as "nothing applied", records 0001
-- right after these statements succeed, and, when 0001 is rolled back, has nothing left to delete.
--
-- {database} is replaced by the configured database name (RETAIL_CLICKHOUSE_DATABASE, default retail);
-- tests substitute a scratch database. Every statement is idempotent (IF [NOT] EXISTS) because
-- ClickHouse DDL is not transactional: a migration that fails half-way is simply run again.

-- migrate:up
CREATE DATABASE IF NOT EXISTS {database};

-- One row per applied migration. ReplacingMergeTree keyed by version so that two migrators racing
-- on the same warehouse (each running the idempotent DDL) still leave one row per version; the
-- migrator reads it with FINAL. Tiny table: no partitioning.
CREATE TABLE IF NOT EXISTS {database}.schema_migrations
(
    version UInt32 COMMENT 'number of the sql/NNNN_name.sql file',
    name String COMMENT 'file name without the number and extension',
    checksum String COMMENT 'sha256 of the file text (line endings normalised) when it was applied',
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(applied_at)
PARTITION BY tuple()
ORDER BY version
COMMENT 'Applied schema migrations (sql/NNNN_*.sql); written only by retail_platform.warehouse.migrations';

-- migrate:down
DROP TABLE IF EXISTS {database}.schema_migrations SYNC;
DROP DATABASE IF EXISTS {database} SYNC;
