-- When a micro-batch's events became queryable. The stream writes the real-time tables (rt_*)
-- before the lake's bronze appends (retail_platform/streaming/batch.py), so a batch's events are in
-- the serving views from queryable_at on, seconds before the batch finishes (finished_at, after the
-- lake, ops_stream_days and the output topics). Event-to-queryable latency is measured to
-- queryable_at. Nullable: rows written before this column existed have no such moment recorded
-- (their batches wrote bronze first; finished_at was the moment).
-- Down drops the column; nothing else reads it.
-- migrate:up
ALTER TABLE {database}.ops_stream_batches ADD COLUMN IF NOT EXISTS queryable_at Nullable(DateTime64(3, 'UTC'))
    COMMENT 'when the batch''s real-time rows were all written (its events queryable from then on)';

-- migrate:down
ALTER TABLE {database}.ops_stream_batches DROP COLUMN IF EXISTS queryable_at;
