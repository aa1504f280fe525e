-- The inventory API's audit trail (seed 000, section 15.1): one row for every request that changes
-- state (accepted, replayed or rejected) and every denied request, written by the API before it
-- answers. Append-only: a plain MergeTree that nothing updates; rows leave only by the retention TTL
-- (400 days: a year of audits plus a quarter of slack). Queried by the operations dashboard.
-- ORDER BY (store_id, at): the questions asked are "what happened to this store's stock" and "who
-- was denied lately".

-- migrate:up

CREATE TABLE IF NOT EXISTS {database}.ops_api_audit
(
    audit_id UUID,
    at DateTime64(3, 'UTC') COMMENT 'when the API decided',
    request_id String COMMENT 'X-Request-ID of the answer (the caller''s if it sent a safe one)',
    subject String COMMENT 'token subject; empty when no valid token was shown',
    role LowCardinality(String),
    action LowCardinality(String) COMMENT 'adjust, read_stock, read_alerts, ... (what was attempted)',
    method LowCardinality(String),
    path String,
    store_id String COMMENT 'store the request concerned, when known',
    product_id String,
    quantity_change Nullable(Int64),
    old_quantity Nullable(Int64) COMMENT 'stock as known before the change',
    new_quantity Nullable(Int64) COMMENT 'stock after the change (the event''s new_quantity)',
    reason LowCardinality(String) COMMENT 'the adjustment''s reason',
    reference String,
    event_id String COMMENT 'inventory_update event produced (or replayed)',
    idempotency_key String,
    outcome LowCardinality(String) COMMENT 'accepted, replayed, denied, unauthenticated, rejected, failed',
    status UInt16 COMMENT 'HTTP status answered',
    detail String COMMENT 'why it was denied or rejected',
    client_address String,
    user_agent String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (store_id, at)
TTL toDateTime(at) + INTERVAL 400 DAY
COMMENT 'Inventory API audit trail: every state change and every denied request (append-only)';

-- migrate:down

DROP TABLE IF EXISTS {database}.ops_api_audit;
