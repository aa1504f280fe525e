-- Late arrivals for closed days: what the stream appended to bronze per day, what the daily load
-- counted of it, and the recomputes the difference triggered (retail_platform.batch.late_arrivals,
-- DAG late_arrivals).
--
-- ops_stream_days: one row per micro-batch x event type x day of event_time, written by the streaming
-- job in the same micro-batch, after its bronze append: events = accepted events of that day the batch
-- appended to bronze (the bronze partition's new rows). A replayed batch repeats its insert
-- deduplication token (non_replicated_deduplication_window, as the 0006 tables) and, past the window,
-- its row has the same ORDER BY key: ReplacingMergeTree on the batch's identity keeps one (read with
-- FINAL). ORDER BY day first: the detection sums one day's rows, a range read. PARTITION BY month of
-- the day (not of the write): a replay lands in the same partition, and whole old months can be
-- dropped once their bronze is past retention.
--
-- ops_batch_watermark.stream_rows: bronze rows of the day whose kafka_topic is a contract topic (i.e.
-- from the stream, not the history generator nor landing files), sales and inventory summed, as the
-- daily load read them. A closed day whose sum(events) in ops_stream_days exceeds its latest
-- watermark row's stream_rows has stream rows the load did not see.
--
-- ops_recomputes: one row per automatic recompute: the day, why, the counts that showed it and the
-- daily_etl run triggered. Plain MergeTree: evidence, a repeated detection is a new row. ORDER BY
-- (day, detected_at): "what happened to day D" is one range read. PARTITION BY month of the day;
-- kept a year after detection (TTL on detected_at).

-- migrate:up
CREATE TABLE IF NOT EXISTS {database}.ops_stream_days
(
    query_name LowCardinality(String),
    query_id String COMMENT 'streaming query id (checkpoint)',
    batch_id UInt64 COMMENT 'micro-batch that appended the events',
    event_type LowCardinality(String) COMMENT 'sales_transaction, inventory_update or price_change',
    day Date COMMENT 'UTC day of event_time (the bronze partition)',
    events UInt64 COMMENT 'accepted events of that day the batch appended to bronze',
    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, event_type, query_name, query_id, batch_id)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Stream events appended to bronze per micro-batch, event type and day (read with FINAL)';

ALTER TABLE {database}.ops_batch_watermark ADD COLUMN IF NOT EXISTS stream_rows UInt64 DEFAULT 0
    COMMENT 'bronze rows of the day from the stream (contract topics), sales and inventory, as the load read them'
    AFTER bronze_rows;

CREATE TABLE IF NOT EXISTS {database}.ops_recomputes
(
    day Date COMMENT 'UTC day recomputed',
    reason LowCardinality(String) COMMENT 'late_stream_events: the stream appended rows the last load did not see',
    stream_events UInt64 COMMENT 'sum(events) of ops_stream_days for the day (loaded types) when detected',
    stream_rows_at_load UInt64 COMMENT 'stream_rows of the day''s latest watermark row',
    loaded_batch_id String COMMENT 'the load that closed the day (batch_id of the watermark row)',
    dag_id LowCardinality(String) COMMENT 'DAG triggered (daily_etl)',
    triggered_run_id String COMMENT 'the run triggered to recompute the day; its watermark row carries it as run_id',
    detected_by String DEFAULT '' COMMENT 'run that detected it (late_arrivals run id)',
    detected_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, detected_at)
TTL toDateTime(detected_at) + INTERVAL 365 DAY
COMMENT 'Automatic recomputes of closed days (late stream events), one row per trigger; kept a year';

-- migrate:down
DROP TABLE IF EXISTS {database}.ops_recomputes SYNC;
ALTER TABLE {database}.ops_batch_watermark DROP COLUMN IF EXISTS stream_rows;
DROP TABLE IF EXISTS {database}.ops_stream_days SYNC;
