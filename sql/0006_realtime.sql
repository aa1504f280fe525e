-- Speed layer: the tables the streaming job (spark_jobs/stream_events.py) keeps current, its
-- operations record, and the real-time views for BI.
--
-- Exactly once under replay: Spark re-runs the last micro-batch after a crash. The job makes one insert
-- per table per micro-batch with insert_deduplication_token = '<table>:<query id>:<batch id>', and every
-- table here sets non_replicated_deduplication_window, so ClickHouse remembers the tokens of its last
-- 1000 inserts and drops a repeated one. The job is the only writer, one insert per table per batch, so
-- 1000 covers far more than the one replayed batch. Inserts stay well under max_insert_block_size, so a
-- batch is one block per partition and a replay splits the same way (the engine deduplicates per
-- partition block). Tables whose rows have an identity are also ReplacingMergeTrees on it, which keeps
-- them exact even past the token window (e.g. a checkpoint reset that reprocesses a topic).
--
-- No CHECK constraints: the warehouse endpoint may drop an insert that a constraint rejects without
-- an error, and a silently lost micro-batch is worse than a bad value.

-- migrate:up

-- Sales per store, product and 5-minute window of event_time, as per-batch deltas.
-- SummingMergeTree adds the deltas of each (store_id, product_id, window_start) when parts merge; read
-- it with sum() ... GROUP BY (unmerged parts still hold several rows per key). A late event (event_time
-- days ago) adds to its own old window.
-- ORDER BY (store_id, product_id, window_start): the summing key; store first for the store manager's
-- dashboards, window_start last so one product's history is a contiguous range.
-- PARTITION BY day: the velocity views read the last 7 days (partition pruning); whole days expire at
-- once (ttl_only_drop_parts). After 35 days the batch layer's fact_sales is the record.
CREATE TABLE IF NOT EXISTS {database}.rt_sales_5min
(
    store_id LowCardinality(String),
    product_id String,
    window_start DateTime('UTC') COMMENT 'start of the 5-minute window holding event_time',
    units Int64 COMMENT 'units sold: sum of quantity',
    revenue Decimal(18, 2) COMMENT 'sum of quantity * unit_price (price rounded to cents, as fact_sales)',
    transactions UInt64 COMMENT 'sale lines (sales_transaction events): baskets holding the product'
)
ENGINE = SummingMergeTree((units, revenue, transactions))
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (store_id, product_id, window_start)
TTL window_start + INTERVAL 35 DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
COMMENT 'Real-time sales per store/product/5-minute window (per-batch deltas: read with sum() GROUP BY)';

-- Current stock per store/product: the newest inventory_update by (event_time, event_id).
-- ReplacingMergeTree(version) keeps the row with the highest version per ORDER BY key; version packs
-- event_time (microseconds) above the event id's 128 bits, so a late or out-of-order event never
-- replaces a newer level and two events at the same instant resolve the same way everywhere. Read with
-- FINAL (one row per store/product; the table is small).
-- ORDER BY (store_id, product_id): the row's identity. No partitions: one current row per key.
CREATE TABLE IF NOT EXISTS {database}.rt_stock
(
    store_id LowCardinality(String),
    product_id String,
    quantity Int64 COMMENT 'units on hand after the event (new_quantity)',
    quantity_change Int64 COMMENT 'the change the event recorded',
    reason LowCardinality(String) COMMENT 'sale, delivery, adjustment or shrinkage',
    event_time DateTime64(3, 'UTC') COMMENT 'when the stock was at this level',
    event_id String COMMENT 'the inventory_update event',
    version UInt256 COMMENT '(event_time in microseconds << 128) | event id as a 128-bit number',
    batch_id UInt64 COMMENT 'micro-batch that wrote the row',
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
-- One row per store/product once merged: small, so one partition (FINAL then never merges across).
PARTITION BY tuple()
ORDER BY (store_id, product_id)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Real-time stock per store/product: newest inventory event wins (read with FINAL)';

-- Records the stream rejected (malformed JSON, contract violations), one row per Kafka record.
-- ReplacingMergeTree on (source_topic, source_partition, source_offset), the record's identity: exactly
-- one row per record. PARTITION BY the record's Kafka month: deterministic (a reprocessed record lands
-- in the same partition, where the replacing merge finds it).
CREATE TABLE IF NOT EXISTS {database}.rt_quarantine
(
    source_topic LowCardinality(String),
    source_partition Int32,
    source_offset Int64,
    reason LowCardinality(String) COMMENT 'contracts.rejection_reason, e.g. out_of_range:quantity',
    raw_value String COMMENT 'the record value exactly as consumed (any bytes)',
    kafka_timestamp DateTime64(3, 'UTC'),
    query_id String COMMENT 'streaming query (checkpoint) that quarantined it',
    batch_id UInt64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(kafka_timestamp)
ORDER BY (source_topic, source_partition, source_offset)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Rejected stream records with their reason; one row per topic/partition/offset';

-- Restock alerts the stream raised (also published to retail-restock-alerts and kept in the lake's
-- raw-data/events). event_id is derived from the inventory event that crossed the reorder point, so
-- ReplacingMergeTree on (store_id, product_id, event_id) holds each alert once.
-- ORDER BY store first: the store manager's "my open alerts". PARTITION BY month of the alert.
CREATE TABLE IF NOT EXISTS {database}.rt_restock_alerts
(
    event_id String COMMENT 'restock_alert event id: UUIDv5 of source_event_id',
    event_time DateTime64(3, 'UTC') COMMENT 'event_time of the inventory event that crossed',
    store_id LowCardinality(String),
    product_id String,
    current_stock Int64,
    reorder_point Int64,
    recommended_quantity Nullable(Int64) COMMENT 'order_quantity of the reorder policy',
    source_event_id String COMMENT 'the inventory_update that reached the reorder point',
    query_id String,
    batch_id UInt64,
    created_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (store_id, product_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Restock alerts: one per store/product each time stock reaches the reorder point';

-- The alert state machine's state, versioned by micro-batch: a row per store/product a batch changed.
-- Batch N starts from argMax(..., batch_id) over batch_id < N, which is exact even when a replay of N
-- finds its own rows already here. Plain MergeTree: versions must not collapse (a replacing merge
-- would keep only N's row and lose the N-1 state the replay needs).
-- ORDER BY (query_id, store_id, product_id, batch_id): the lookup is by query, then key; the newest
-- version of a key is at the end of its range.
CREATE TABLE IF NOT EXISTS {database}.rt_restock_state
(
    query_id String,
    store_id LowCardinality(String),
    product_id String,
    batch_id UInt64,
    stock Int64 COMMENT 'stock level after the batch',
    event_time DateTime64(3, 'UTC') COMMENT 'inventory event the level comes from',
    event_id String,
    alerted UInt8 COMMENT '1 = an alert is outstanding (not restocked above the reorder point since)'
)
ENGINE = MergeTree
-- Internal and small (one row per store/product a batch changed): one partition.
PARTITION BY tuple()
ORDER BY (query_id, store_id, product_id, batch_id)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Restock-alert state per store/product and micro-batch (internal to the streaming job)';

-- One row per micro-batch that consumed input, written after every other sink: the evidence the batch
-- is complete. input_total = accepted + quarantined + duplicates_dropped in every row. Lag: one past
-- max(max_offsets[partition]) over the current query's rows is the stream's position in a partition.
-- ReplacingMergeTree on (query_name, query_id, batch_id), the batch's identity. Partitioned by month
-- of finished_at so the TTL drops whole parts. A replay's row repeats the token of a row already
-- written and is dropped; only when two attempts of a batch finish in different months do both rows
-- land, in different partitions, so readers use FINAL (which merges across partitions) or max().
CREATE TABLE IF NOT EXISTS {database}.ops_stream_batches
(
    query_name LowCardinality(String),
    query_id String COMMENT 'streaming query id (stable across restarts; new for a new checkpoint)',
    batch_id UInt64,
    started_at DateTime64(3, 'UTC'),
    finished_at DateTime64(3, 'UTC'),
    duration_ms UInt64,
    input_rows Map(String, UInt64) COMMENT 'records consumed per topic',
    input_total UInt64,
    accepted UInt64 COMMENT 'valid, first-seen events',
    accepted_by_type Map(String, UInt64),
    quarantined UInt64 COMMENT 'rejected records (rt_quarantine, dead-letter topic)',
    duplicates_dropped UInt64 COMMENT 'valid events whose event_id was already seen within the watermark',
    alerts UInt64 COMMENT 'restock alerts raised',
    rows_written Map(String, UInt64) COMMENT 'rows sent per table, lake folder and output topic',
    max_event_time Nullable(DateTime64(3, 'UTC')),
    max_offsets Map(String, Int64) COMMENT '"topic:partition" -> highest offset consumed in the batch'
)
ENGINE = ReplacingMergeTree
-- By month so the 90-day TTL drops whole parts.
PARTITION BY toYYYYMM(finished_at)
ORDER BY (query_name, query_id, batch_id)
TTL toDateTime(finished_at) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Streaming micro-batches: counts, offsets, duration; exactly one row per batch';

-- Kafka end offsets the job saw before it first published a batch's dead letters or alerts; a replay
-- reads the topic from there to skip what it already published (retail_platform.streaming.outbox).
-- Only the latest batches matter: kept 7 days.
CREATE TABLE IF NOT EXISTS {database}.ops_stream_outbox
(
    query_id String,
    batch_id UInt64,
    topic LowCardinality(String),
    partition Int32,
    start_offset Int64,
    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
-- A few rows per batch, kept 7 days: one partition.
PARTITION BY tuple()
ORDER BY (query_id, batch_id, topic, partition)
TTL toDateTime(recorded_at) + INTERVAL 7 DAY
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Publish markers of the streaming job (internal)';

-- Sales velocity per store/product over the last 7 days of rt_sales_5min.
-- demand_per_day is the higher of the last 24 hours and the 7-day daily average: a product that
-- started selling fast today is not hidden by a quiet week (and a young stream with one day of data
-- is not divided by 7).
CREATE VIEW IF NOT EXISTS {database}.v_rt_sales_velocity AS
SELECT
    store_id,
    product_id,
    sumIf(units, window_start >= now() - INTERVAL 1 HOUR) AS units_1h,
    sumIf(units, window_start >= now() - INTERVAL 24 HOUR) AS units_24h,
    sum(units) AS units_7d,
    sumIf(revenue, window_start >= now() - INTERVAL 24 HOUR) AS revenue_24h,
    sum(revenue) AS revenue_7d,
    sum(transactions) AS transactions_7d,
    units_7d / 7 AS avg_daily_units_7d,
    greatest(toFloat64(units_24h), avg_daily_units_7d) AS demand_per_day,
    max(window_start) AS last_sale_window
FROM {database}.rt_sales_5min
WHERE window_start >= now() - INTERVAL 7 DAY
GROUP BY store_id, product_id;

-- Stock-out risk per store/product: current stock (rt_stock FINAL), its reorder policy and the demand
-- of v_rt_sales_velocity. days_of_cover = current stock / demand per day (NULL without recent sales).
-- risk_level: out_of_stock (stock <= 0), below_reorder_point, then by days of cover: high (< 3),
-- medium (< 7), low. risk_score: 1 when out of stock, falling linearly to 0 at 14 days of cover.
CREATE VIEW IF NOT EXISTS {database}.v_rt_stock_risk AS
SELECT
    s.store_id AS store_id,
    s.product_id AS product_id,
    s.quantity AS current_stock,
    s.event_time AS stock_as_of,
    p.reorder_point AS reorder_point,
    p.order_quantity AS order_quantity,
    v.units_24h AS units_24h,
    v.avg_daily_units_7d AS avg_daily_units_7d,
    v.demand_per_day AS demand_per_day,
    if(v.demand_per_day > 0, s.quantity / v.demand_per_day, NULL) AS days_of_cover,
    multiIf(
        s.quantity <= 0, 'out_of_stock',
        ifNull(s.quantity <= p.reorder_point, 0), 'below_reorder_point',
        ifNull(days_of_cover < 3, 0), 'high',
        ifNull(days_of_cover < 7, 0), 'medium',
        'low'
    ) AS risk_level,
    multiIf(
        s.quantity <= 0, 1.,
        days_of_cover IS NULL, 0.,
        greatest(0., least(1., 1. - days_of_cover / 14))
    ) AS risk_score
FROM
(
    SELECT store_id, product_id, quantity, event_time FROM {database}.rt_stock FINAL
) AS s
LEFT JOIN
(
    SELECT store_id, product_id, toNullable(reorder_point) AS reorder_point,
           toNullable(order_quantity) AS order_quantity
    FROM {database}.rt_reorder_policy FINAL
) AS p ON s.store_id = p.store_id AND s.product_id = p.product_id
LEFT JOIN
(
    SELECT store_id, product_id, toNullable(units_24h) AS units_24h,
           toNullable(avg_daily_units_7d) AS avg_daily_units_7d, toNullable(demand_per_day) AS demand_per_day
    FROM {database}.v_rt_sales_velocity
) AS v ON s.store_id = v.store_id AND s.product_id = v.product_id;

-- migrate:down
DROP VIEW IF EXISTS {database}.v_rt_stock_risk SYNC;
DROP VIEW IF EXISTS {database}.v_rt_sales_velocity SYNC;
DROP TABLE IF EXISTS {database}.ops_stream_outbox SYNC;
DROP TABLE IF EXISTS {database}.ops_stream_batches SYNC;
DROP TABLE IF EXISTS {database}.rt_restock_state SYNC;
DROP TABLE IF EXISTS {database}.rt_restock_alerts SYNC;
DROP TABLE IF EXISTS {database}.rt_quarantine SYNC;
DROP TABLE IF EXISTS {database}.rt_stock SYNC;
DROP TABLE IF EXISTS {database}.rt_sales_5min SYNC;
