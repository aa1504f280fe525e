-- Late duplicates: the event ids the stream accepted, kept two days, so that a redelivery arriving
-- after the stream's own deduplication window (15 minutes of arrival, in Spark state) is still
-- recognised and dropped before it reaches the real-time tables or bronze.
--
-- Why the warehouse and not Spark state: at the fleet's 8,300 events/s a day is 717M ids; keeping
-- them in the dedup operator's RocksDB state would mean tens of GB of state per query and an
-- eviction pass over all of it every trigger. Here the ids are appended (one insert per micro-batch,
-- with the batch's deduplication token, like every rt_* table) and only a few records per batch are
-- looked up (retail_platform/streaming/late_duplicates.py explains which ones, and why that is exact).
--
-- ORDER BY (early, event_hour, event_id): a duplicate carries its original's event_time, hence its
-- hour, so a lookup is a point range of the primary key; `early` first keeps the few events that
-- arrived ahead of their own event_time in one small contiguous range (on-time records are checked
-- against that range only). index_granularity 1024: a point lookup reads one small granule.
-- PARTITION BY the arrival day and a TTL of 2 days on arrival: a whole day's part is dropped once all
-- of it is older than 2 days, so every id is remembered for at least 48 hours (the dedup horizon).
-- Plain MergeTree: a replayed micro-batch's insert repeats its token and is dropped; lookups exclude
-- the current batch's own rows (batch_id >= N of the same query), so a replay decides the same.

-- migrate:up

CREATE TABLE IF NOT EXISTS {database}.rt_event_ids
(
    early UInt8 COMMENT '1 = event_time was ahead of arrival by more than the on-time band',
    event_hour UInt32 COMMENT 'toStartOfHour(event_time) as a Unix timestamp',
    event_id String,
    event_type LowCardinality(String),
    arrival DateTime64(3, 'UTC') COMMENT 'Kafka timestamp as the stream clamps it (streaming/topology.py)',
    query_id String,
    batch_id UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(arrival)
ORDER BY (early, event_hour, event_id)
TTL toDateTime(arrival) + INTERVAL 2 DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1, index_granularity = 1024
COMMENT 'Event ids the stream accepted in the last two days (late-duplicate lookups; internal)';

-- migrate:down

DROP TABLE IF EXISTS {database}.rt_event_ids;
