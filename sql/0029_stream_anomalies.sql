-- Anomalies detected by the streaming job, per store/product, one episode at a time:
-- * stock_unexplained (retail_platform/streaming/anomalies.py): a stock level its sales and deliveries
--   do not explain (shrinkage, miscounts) beyond RETAIL_ANOMALY_STOCK_TOLERANCE units;
-- * velocity_high / velocity_low (retail_platform/streaming/velocity.py): the pace of sales in a
--   trailing window, as units a day, outside the newest demand forecast's interval for the day widened
--   by RETAIL_ANOMALY_VELOCITY_FACTOR.
-- A row when an episode opens (also published once to retail-anomaly-alerts), a row when it ends.
--
-- Exactly once under replay, as every table of sql/0006_realtime.sql: one insert per table per
-- micro-batch with insert_deduplication_token = '<table>:<query id>:<batch id>' and
-- non_replicated_deduplication_window, so a replayed batch adds nothing. No CHECK constraints (see
-- 0006: the endpoint may drop a rejected insert without an error).

-- migrate:up

-- One row per episode opening (status 'open') and per episode end (status 'closed'), both with the
-- episode's anomaly_id (UUIDv5 of the event that opened it), so a replay or a reprocessed
-- topic derives the same rows. ReplacingMergeTree on (store_id, product_id, anomaly_id, status), the
-- row's identity: exactly one opening and at most one end per episode even past the token window.
-- ORDER BY store first: the store manager's "anomalies of my stores"; then the product, whose episodes
-- are one contiguous range. PARTITION BY month of the event that opened or closed the episode
-- (deterministic, so a repeated row lands in the partition the replacing merge looks in); kept a year.
CREATE TABLE IF NOT EXISTS {database}.rt_anomalies
(
    anomaly_id String COMMENT 'the episode: UUIDv5 of the event that opened it',
    kind LowCardinality(String) COMMENT 'stock_unexplained, velocity_high or velocity_low',
    status LowCardinality(String) COMMENT 'open (the episode starts) or closed (it ends)',
    event_time DateTime64(3, 'UTC') COMMENT 'event_time of the event that opened or closed it',
    store_id LowCardinality(String),
    product_id String,
    observed Float64 COMMENT 'stock: the level the event reported; velocity: units a day at the window''s pace',
    expected Float64 COMMENT 'stock: previous level + units of sales and deliveries; velocity: the forecast',
    lower Float64 COMMENT 'opening: below is a breach (stock: expected - tolerance; velocity: lower / factor)',
    upper Float64 COMMENT 'opening: above is a breach (stock: expected + tolerance; velocity: upper * factor)',
    source_event_id String COMMENT 'the inventory_update or sale that opened or closed the episode',
    query_id String,
    batch_id UInt64,
    created_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (store_id, product_id, anomaly_id, status)
TTL toDateTime(event_time) + INTERVAL 365 DAY
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Stream anomalies: one row per episode opening and per episode end';

-- The detector's state, versioned by micro-batch like rt_restock_state (sql/0006): a row per
-- store/product a batch changed. Batch N starts from argMax(..., batch_id) over batch_id < N, exact
-- even when a replay of N finds its own rows here. Plain MergeTree: versions must not collapse (a
-- replacing merge would keep only N's row and lose the N-1 state the replay needs).
-- ORDER BY (query_id, store_id, product_id, batch_id): looked up by query, then key; a key's newest
-- version is at the end of its range. Internal and small: one partition.
CREATE TABLE IF NOT EXISTS {database}.rt_anomaly_state
(
    query_id String,
    store_id LowCardinality(String),
    product_id String,
    batch_id UInt64,
    level Nullable(Int64) COMMENT 'stock level after the batch (newest inventory event); NULL before any',
    event_time Nullable(DateTime64(3, 'UTC')) COMMENT 'inventory event the level comes from',
    event_id String,
    episode String COMMENT 'anomaly_id of the open stock episode, empty when none is open',
    sales_newest_time Nullable(DateTime64(3, 'UTC')) COMMENT 'newest sale seen; NULL before any',
    sales_first_time Nullable(DateTime64(3, 'UTC')) COMMENT 'first sale seen (the window covers less until then)',
    bucket_ms UInt32 COMMENT 'width of the velocity window''s buckets (a 60th of the window)',
    bucket_numbers Array(Int64) COMMENT 'buckets (epoch milliseconds / bucket_ms) within the window',
    bucket_units Array(Int64) COMMENT 'units sold in each of those buckets',
    velocity_kind String COMMENT 'velocity_high or velocity_low while a velocity episode is open',
    velocity_episode String COMMENT 'anomaly_id of the open velocity episode, empty when none is open'
)
ENGINE = MergeTree
PARTITION BY tuple()
ORDER BY (query_id, store_id, product_id, batch_id)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Stream anomaly detector state per store/product and micro-batch (internal to the streaming job)';

-- Grain: one episode (anomaly_id). Columns: what, where, when it opened and (once it ended) closed, what
-- was observed and expected when it opened (stock: levels; velocity: units a day and the forecast), and
-- whether it is still open. The catalogue's
-- current product name beside the key (NULL for a product the catalogue never held), as v_restock_alerts.
CREATE OR REPLACE VIEW {database}.v_stream_anomalies AS
SELECT
    o.anomaly_id AS anomaly_id,
    o.kind AS kind,
    o.store_id AS store_id,
    o.product_id AS product_id,
    d.product_name AS product_name,
    o.event_time AS opened_at,
    c.event_time AS closed_at,
    if(c.event_time IS NULL, 'open', 'closed') AS status,
    o.observed AS observed,
    o.expected AS expected,
    o.observed - o.expected AS difference,
    o.lower AS lower,
    o.upper AS upper
FROM
(
    SELECT anomaly_id, kind, store_id, product_id, event_time, observed, expected, lower, upper
    FROM {database}.rt_anomalies FINAL
    WHERE status = 'open'
) AS o
LEFT JOIN
(
    SELECT anomaly_id, toNullable(event_time) AS event_time
    FROM {database}.rt_anomalies FINAL
    WHERE status = 'closed'
) AS c ON o.anomaly_id = c.anomaly_id
LEFT JOIN
(
    SELECT product_id, toNullable(product_name) AS product_name FROM {database}.dim_product FINAL WHERE is_current
) AS d ON o.product_id = d.product_id;

-- migrate:down
DROP VIEW IF EXISTS {database}.v_stream_anomalies SYNC;
DROP TABLE IF EXISTS {database}.rt_anomaly_state SYNC;
DROP TABLE IF EXISTS {database}.rt_anomalies SYNC;
