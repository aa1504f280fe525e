-- Batch sources (dags/batch_sources.py, retail_platform/sources/): the report of every landing file a
-- run looked at, and the rows of those files that could not be loaded, with their reasons.
--
-- ops_source_loads: one row per file per run (append-only evidence, like dq_results). It is also the
-- registry of processed files: a file whose (source_kind, sha256) has a 'loaded' row is not ingested
-- again (a re-dropped identical file is reported as 'skipped'; a changed file has a new sha256 and is
-- ingested). MergeTree, not Replacing: every run's verdict is kept, a skip is as much a fact as a load.
-- ORDER BY (source_kind, sha256, finished_at): "was this content loaded?" is one key-prefix read.
-- PARTITION BY month of finished_at: a handful of rows per run; monthly parts stay few.
--
-- dq_source_rejects: one row per rejected line of a file. Identity (source_kind, file_sha256, file,
-- line_number) (file, because a legacy database holds several tables, labelled db#table): ReplacingMergeTree on it, so a file re-processed after a crash (its rows rejected
-- again, with the same line numbers and reasons) converges to one row per line; read with FINAL for
-- exact counts. PARTITION BY source_kind (four values) rather than by time: the identity must fall in
-- one partition whatever day a re-run happens, or the replacing engine could not merge the copies.
-- The source files themselves stay in the landing zone, so raw_line is evidence, not the only copy.

-- migrate:up
CREATE TABLE IF NOT EXISTS {database}.ops_source_loads
(
    run_id String COMMENT 'orchestrator run (Airflow run id) or the caller''s label',
    source_kind LowCardinality(String) COMMENT 'catalogue, suppliers, sales_history or legacy',
    file String COMMENT 'path of the file relative to the landing zone of its kind',
    size_bytes UInt64,
    sha256 String COMMENT 'content hash: a file is loaded once per content',
    status LowCardinality(String) COMMENT 'loaded, skipped (content already loaded) or failed',
    rows_read UInt64 COMMENT 'data rows read (blank and repeated header lines excluded)',
    rows_loaded UInt64 COMMENT 'rows accepted: written, or already present unchanged',
    rows_quarantined UInt64 COMMENT 'rows rejected into dq_source_rejects; rows_read = loaded + quarantined',
    blank_lines UInt64 DEFAULT 0 COMMENT 'blank lines skipped',
    header_lines UInt64 DEFAULT 0 COMMENT 'header lines (the first and repeated ones) skipped',
    details Map(String, UInt64) COMMENT 'per-kind counts, e.g. versions_opened, versions_closed, unchanged',
    affected_days Array(Date) COMMENT 'UTC days of bronze that received rows (daily_etl recomputes them)',
    message String DEFAULT '' COMMENT 'why a file failed or was skipped; empty when loaded',
    started_at DateTime64(3, 'UTC'),
    finished_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(finished_at)
ORDER BY (source_kind, sha256, finished_at)
COMMENT 'Batch-source loads: one row per landing file per run, with its verdict and counts';

CREATE TABLE IF NOT EXISTS {database}.dq_source_rejects
(
    source_kind LowCardinality(String) COMMENT 'catalogue, suppliers, sales_history or legacy',
    file String COMMENT 'path relative to the landing zone of its kind (for legacy: file#table)',
    file_sha256 String COMMENT 'content hash of the file the line came from',
    line_number UInt64 COMMENT 'physical line (CSV/JSONL), element (JSON array), row (Parquet, SQLite), from 1',
    raw_line String COMMENT 'the line as read (JSON of the record for Parquet and SQLite)',
    reason LowCardinality(String) COMMENT '<code>:<field>, e.g. bad_number:quantity, bad_date:timestamp',
    detail String DEFAULT '' COMMENT 'the offending value or the parser''s message',
    run_id String COMMENT 'run that rejected it',
    rejected_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(rejected_at)
PARTITION BY source_kind
ORDER BY (source_kind, file_sha256, file, line_number)
COMMENT 'Rejected rows of batch-source files with the reason (FINAL: one row per file line)';

-- migrate:down
DROP TABLE IF EXISTS {database}.dq_source_rejects SYNC;
DROP TABLE IF EXISTS {database}.ops_source_loads SYNC;
