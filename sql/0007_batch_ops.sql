-- Batch layer bookkeeping: the watermark the lambda views switch on, the data-quality results of every
-- daily run, and the basket id on fact_sales.
--
-- ops_batch_watermark: one row per day the daily ETL has loaded (the last load wins). The batch
-- watermark is max(day): days up to it are served from the facts, later days from the speed layer's
-- rt_* tables (v_sales_daily, v_stock_current). A row is written only after both facts of the day were
-- swapped in, so the watermark never points at a day whose facts are not there.
-- ReplacingMergeTree(loaded_at) on day: a re-run replaces the day's row (read with FINAL).
--
-- dq_results: one row per check per run (append-only evidence; failed runs keep their rows).
-- ORDER BY (day, run_id, check_name): "what happened to day D" is one range read.

-- migrate:up
CREATE TABLE IF NOT EXISTS {database}.ops_batch_watermark
(
    day Date COMMENT 'UTC day the daily ETL loaded into fact_sales and fact_inventory',
    loaded_at DateTime64(3, 'UTC') COMMENT 'when the load finished (row version: the newest load wins)',
    batch_id String COMMENT 'the load: also the batch_id of the day''s fact rows',
    run_id String DEFAULT '' COMMENT 'orchestrator run (Airflow run id) that made the load, if any',
    bronze_rows UInt64 COMMENT 'sales and inventory rows read from bronze for the day',
    duplicates_dropped UInt64 COMMENT 'rows dropped because their event_id was already seen',
    quarantined_rows UInt64 COMMENT 'rows that failed the contracts or the dimensions (lake quarantine)',
    sales_rows UInt64 COMMENT 'fact_sales rows of the day',
    inventory_rows UInt64 COMMENT 'fact_inventory rows of the day',
    duration_ms UInt64
)
ENGINE = ReplacingMergeTree(loaded_at)
PARTITION BY tuple()
ORDER BY day
COMMENT 'Batch watermark: one row per loaded day (FINAL); max(day) is the lambda views'' switch-over';

CREATE TABLE IF NOT EXISTS {database}.dq_results
(
    run_id String COMMENT 'the load (batch_id) the check belongs to',
    day Date COMMENT 'UTC day checked',
    check_name LowCardinality(String) COMMENT '<dimension>:<subject>, e.g. validity:sales_transaction',
    value Nullable(Float64) COMMENT 'measured value; NULL when the check does not apply',
    threshold Float64,
    passed Bool,
    detail String DEFAULT '' COMMENT 'counts behind the value, or why it does not apply',
    checked_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, run_id, check_name)
COMMENT 'Data-quality results of the daily ETL: one row per check and run';

-- sale_id is the sale line (event_id); transaction_id is the basket the line belongs to.
ALTER TABLE {database}.fact_sales ADD COLUMN IF NOT EXISTS transaction_id String DEFAULT ''
    COMMENT 'POS basket (transaction_id of the event): shared by the lines of one basket' AFTER sale_id;
ALTER TABLE {database}.fact_sales COMMENT COLUMN sale_id 'event_id of the sales_transaction: unique per sale line, the dedup key';

-- migrate:down
ALTER TABLE {database}.fact_sales COMMENT COLUMN sale_id 'transaction_id of the POS event: unique per sale line, the dedup key';
ALTER TABLE {database}.fact_sales DROP COLUMN IF EXISTS transaction_id;
DROP TABLE IF EXISTS {database}.dq_results SYNC;
DROP TABLE IF EXISTS {database}.ops_batch_watermark SYNC;
