-- One writer per month partition (retail_platform/batch/warehouse_load.py, MonthClaims).
--
-- The daily load rebuilds a day by copying its month partition of the facts and the serving
-- aggregates into a stage table and swapping the month back (REPLACE PARTITION). Two writers on the
-- same month at the same time (a CLI backfill and a DAG run, say) would each swap in a month holding
-- only their own change, silently reverting the other. A writer therefore claims every month it may
-- swap before loading, here, in the warehouse, so the claim is seen by every process and machine.
--
-- ops_month_claims: an append-only log of claim events. A claim is (month, generation): the n-th
-- claim of the month. A writer reads the newest generation g of the month; if g is released or
-- expired it inserts a 'claim' row for g + 1 with insert_deduplication_token 'claim:<month>:<g+1>'.
-- Two writers racing for the same generation send the same token: the engine keeps the first insert
-- and silently drops the second (non_replicated_deduplication_window), so exactly one row exists for
-- a generation, and each writer reads it back to learn whether its token won. The winner then
-- inserts 'renew' rows (heartbeat) while it works and a 'release' row at the end. A claim whose
-- newest claim/renew row is older than its ttl_seconds (server time: recorded_at is set by the
-- server) is stale: the next writer takes the next generation.
-- MergeTree, not Replacing: every event is evidence ("who held 2026-11 last night?"), and the rows
-- must never be merged away (a forgotten generation could reuse a token still in the dedup window).
-- ORDER BY (month, generation, recorded_at): the state of a month is one key-prefix read.
-- PARTITION BY tuple(): a few rows per load; no retention (see above), the table stays small.

-- migrate:up
CREATE TABLE IF NOT EXISTS {database}.ops_month_claims
(
    month UInt32 COMMENT 'month partition (YYYYMM) of the facts and serving aggregates the writer swaps',
    generation UInt64 COMMENT 'n-th claim of the month; exactly one claim row per generation',
    event Enum8('claim' = 1, 'renew' = 2, 'release' = 3),
    token String COMMENT 'random token of the writer holding the generation',
    holder String COMMENT 'who: host, process id and what it loads (shown to a refused writer)',
    ttl_seconds UInt32 COMMENT 'the claim is stale once its newest claim/renew row is this old',
    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'server time of the event'
)
ENGINE = MergeTree
PARTITION BY tuple()
ORDER BY (month, generation, recorded_at)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'Claims of month partitions by the writers that swap them (one writer per month at a time)';

-- migrate:down
DROP TABLE IF EXISTS {database}.ops_month_claims SYNC;
