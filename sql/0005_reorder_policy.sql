-- Real-time reorder policy: the reorder point and order quantity of every store/product, read by the
-- streaming job to raise restock alerts. The simulator's catalogue load writes the initial policy
-- (retail_platform.simulation.catalog: reorder point = lead-time demand + safety stock); the
-- stock-optimisation DAG later overwrites it with policies computed from the forecasts.
--
-- Engine: ReplacingMergeTree(updated_at) ordered by the key (store_id, product_id): writing a policy is
-- an upsert, so loading the same catalogue twice leaves one row per store/product, and a newer policy
-- (later updated_at) replaces an older one whichever order the inserts arrive in. Readers that must
-- see exactly one row per key use FINAL (cheap: one row per store/product, ~100k rows at most) or
-- argMax(..., updated_at). The catalogue writes its rows with updated_at = the catalogue's effective
-- date, so a policy written by the optimisation DAG (updated_at = now) is never undone by a catalogue
-- reload.
--
-- ORDER BY (store_id, product_id): the stream looks policies up per store, and the key is the row's
-- identity (ReplacingMergeTree deduplicates on the ORDER BY key). store_id first because it has far
-- fewer values (~1000) than product_id, so the primary index prunes by store.
-- PARTITION BY tuple(): a small table replaced row by row; partitions would only multiply tiny parts.

-- migrate:up
CREATE TABLE IF NOT EXISTS {database}.rt_reorder_policy
(
    store_id LowCardinality(String),
    product_id String,
    reorder_point UInt32 COMMENT 'reorder when on-hand stock falls to this level',
    order_quantity UInt32 COMMENT 'units ordered when the reorder point is reached',
    safety_stock UInt32 DEFAULT 0 COMMENT 'part of the reorder point that covers demand and lead-time variability',
    policy_source LowCardinality(String) DEFAULT '' COMMENT 'who wrote the policy: catalog, stock_optimization',
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'policy version: the newest row per key wins',
    batch_id String DEFAULT '' COMMENT 'load that wrote the row'
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY tuple()
ORDER BY (store_id, product_id)
COMMENT 'Reorder policy per store/product (one row per key under FINAL); read by the streaming job';

-- migrate:down
DROP TABLE IF EXISTS {database}.rt_reorder_policy SYNC;
