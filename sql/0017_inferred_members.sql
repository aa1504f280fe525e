-- Late-arriving dimension members (Kimball's inferred members): a sale or stock movement of a store or
-- product the dimensions do not hold yet is loaded, not quarantined, so the daily load accepts what the
-- stream accepts and a day's figures do not move at the batch/real-time switch.
--
-- * dim_store.is_inferred, dim_product.is_inferred: the daily load writes one row per unknown natural
--   key before building the day's facts (retail_platform/batch/inferred.py), flagged 1, with
--   placeholder attributes: the key as name, category / type / region 'Unknown', supplier 'UNKNOWN',
--   unit cost and price 0 (profit = revenue until filled in: the cost is unknown, and an invented one
--   would look like a real margin). A product's inferred version is valid from 1970-01-01 (the
--   beginning of time) to the open sentinel. Its updated_at (the ReplacingMergeTree version) is
--   1970-01-01 too, so any real row of the same key written later replaces it whatever its stamp
--   (dim_store's real row, keyed by store_id alone, fills a store in that way).
-- * A column with DEFAULT false rather than a separate table of inferred keys: readers of the
--   dimension see the flag on the row they already read (FINAL), and a real row written for the key
--   carries false without any loader naming the column.
-- * Filling in (retail_platform/sources/catalogue.py): a catalogue row for a product held only as an
--   inferred member opens the product's first real version at its effective_from, and the inferred
--   row is deleted; the first version covers all time before it (the conformance rule), so a
--   recompute of the days concerned gives the real attributes. Stores need no recompute: the facts
--   and serving aggregates carry only store_id, and the views join dim_store's current row.
--
-- Views, for the catalogue owner and operators:
-- * v_inferred_members: members still inferred. Grain: (kind, member_key). Columns: kind ('product'
--   or 'store'), member_key, created_by (the daily load that inferred it), first_seen / last_seen
--   (first and last day the facts hold it: sales or end-of-day stock), days_seen, sale_lines, units,
--   revenue (sales attached to it, from agg_sales_daily).
-- * v_inferred_recompute_days: the days to recompute after a fill-in. Grain: (day, product_id).
--   Columns: sale_lines and snapshot_rows that still carry the placeholder category 'Unknown' although
--   the product now has a real version. A recompute of the day (daily_etl) takes the day off the list.
--   The catalogue load also records these days as its affected_days (ops_source_loads), which the
--   batch_sources DAG turns into daily_etl runs.
-- Both read the serving aggregates for sales (a fraction of fact_sales' rows) and fact_inventory for
-- stock, filtered to the few keys concerned; FINAL as every reader of these tables.

-- migrate:up
ALTER TABLE {database}.dim_store ADD COLUMN IF NOT EXISTS is_inferred Bool DEFAULT false
    COMMENT 'inferred member: created by the daily load for a store seen in events before its dimension row';

ALTER TABLE {database}.dim_product ADD COLUMN IF NOT EXISTS is_inferred Bool DEFAULT false
    COMMENT 'inferred member: placeholder version for a product seen in events before the catalogue delivered it';

CREATE OR REPLACE VIEW {database}.v_inferred_members AS
SELECT m.kind AS kind, m.member_key AS member_key, m.created_by AS created_by, a.first_seen AS first_seen,
       a.last_seen AS last_seen, a.days_seen AS days_seen, a.sale_lines AS sale_lines, a.units AS units,
       a.revenue AS revenue
FROM
(
    -- A product with a real version is no longer inferred, even before its inferred row is deleted.
    SELECT 'product' AS kind, product_id AS member_key, any(batch_id) AS created_by
    FROM {database}.dim_product FINAL
    WHERE is_inferred
      AND product_id NOT IN (SELECT product_id FROM {database}.dim_product FINAL WHERE NOT is_inferred)
    GROUP BY product_id
    UNION ALL
    SELECT 'store' AS kind, CAST(store_id AS String) AS member_key, batch_id AS created_by
    FROM {database}.dim_store FINAL
    WHERE is_inferred
) AS m
LEFT JOIN
(
    SELECT kind, member_key, min(day) AS first_seen, max(day) AS last_seen, uniqExact(day) AS days_seen,
           sum(lines) AS sale_lines, sum(units) AS units, sum(revenue) AS revenue
    FROM
    (
        SELECT 'product' AS kind, product_id AS member_key, date_key AS day, sale_lines AS lines, units, revenue
        FROM {database}.agg_sales_daily FINAL
        WHERE product_id IN (SELECT product_id FROM {database}.dim_product FINAL WHERE is_inferred)
        UNION ALL
        SELECT 'store' AS kind, CAST(store_id AS String) AS member_key, date_key AS day, sale_lines AS lines, units,
               revenue
        FROM {database}.agg_sales_daily FINAL
        WHERE store_id IN (SELECT store_id FROM {database}.dim_store FINAL WHERE is_inferred)
        UNION ALL
        SELECT 'product' AS kind, product_id AS member_key, date_key AS day, toUInt64(0) AS lines, toInt64(0) AS units,
               toDecimal64(0, 2) AS revenue
        FROM {database}.fact_inventory FINAL
        WHERE product_id IN (SELECT product_id FROM {database}.dim_product FINAL WHERE is_inferred)
        UNION ALL
        SELECT 'store' AS kind, CAST(store_id AS String) AS member_key, date_key AS day, toUInt64(0) AS lines,
               toInt64(0) AS units, toDecimal64(0, 2) AS revenue
        FROM {database}.fact_inventory FINAL
        WHERE store_id IN (SELECT store_id FROM {database}.dim_store FINAL WHERE is_inferred)
    )
    GROUP BY kind, member_key
) AS a ON a.kind = m.kind AND a.member_key = m.member_key;

CREATE OR REPLACE VIEW {database}.v_inferred_recompute_days AS
SELECT day, product_id, sum(lines) AS sale_lines, sum(snapshots) AS snapshot_rows
FROM
(
    SELECT date_key AS day, product_id, sale_lines AS lines, toUInt64(0) AS snapshots
    FROM {database}.agg_sales_daily FINAL
    WHERE category = 'Unknown'
      AND product_id IN (SELECT product_id FROM {database}.dim_product FINAL WHERE NOT is_inferred)
    UNION ALL
    SELECT date_key AS day, product_id, toUInt64(0) AS lines, toUInt64(1) AS snapshots
    FROM {database}.fact_inventory FINAL
    WHERE category = 'Unknown'
      AND product_id IN (SELECT product_id FROM {database}.dim_product FINAL WHERE NOT is_inferred)
)
GROUP BY day, product_id;

-- migrate:down
DROP VIEW IF EXISTS {database}.v_inferred_recompute_days SYNC;
DROP VIEW IF EXISTS {database}.v_inferred_members SYNC;
ALTER TABLE {database}.dim_product DROP COLUMN IF EXISTS is_inferred;
ALTER TABLE {database}.dim_store DROP COLUMN IF EXISTS is_inferred;
