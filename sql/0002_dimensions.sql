-- Dimensions of the star schema: calendar, stores, suppliers and products (seed 004, improved).
--
-- Common choices:
-- * Natural keys (store_id 'store_001', product_id 'SKU123', supplier_id) rather than surrogate keys:
--   events already carry them, and the facts snapshot the attributes that change (price, cost,
--   category) at load time, so no key lookup is needed when loading and no surrogate can drift.
-- * ReplacingMergeTree(updated_at) ordered by the key: loading a dimension is an upsert, so a re-run
--   load is idempotent (same key, same or newer version replaces). Readers that must see exactly one
--   row per key use FINAL (cheap on tables this small) or argMax(..., updated_at).
-- * Seed 004 used ENGINE = Memory for dimensions; Memory tables lose their rows on restart.
-- * Dimensions are small (thousands to ~100k rows): PARTITION BY tuple() states that they are
--   deliberately unpartitioned; partitions would only multiply tiny parts.
-- * LowCardinality(String) for repeated labels (region, category, brand ...): dictionary encoding
--   shrinks them and speeds up GROUP BY / filters. Not for product_id or names (too many values).

-- migrate:up

-- One row per calendar day. The loader inserts date_key (plus holidays); every calendar attribute is
-- a DEFAULT expression of date_key so it cannot disagree with the date. Day-of-week is ISO (1 = Monday).
CREATE TABLE IF NOT EXISTS {database}.dim_date
(
    date_key Date,
    year UInt16 DEFAULT toYear(date_key),
    quarter UInt8 DEFAULT toQuarter(date_key),
    month UInt8 DEFAULT toMonth(date_key),
    month_name LowCardinality(String) DEFAULT dateName('month', date_key),
    year_month UInt32 DEFAULT toYYYYMM(date_key) COMMENT 'YYYYMM: also the partition id of the facts',
    iso_week UInt8 DEFAULT toISOWeek(date_key),
    day_of_month UInt8 DEFAULT toDayOfMonth(date_key),
    day_of_year UInt16 DEFAULT toDayOfYear(date_key),
    day_of_week UInt8 DEFAULT toDayOfWeek(date_key) COMMENT 'ISO: 1 = Monday ... 7 = Sunday',
    day_name LowCardinality(String) DEFAULT dateName('weekday', date_key),
    is_weekend Bool DEFAULT toDayOfWeek(date_key) >= 6,
    is_month_end Bool DEFAULT date_key = toLastDayOfMonth(date_key),
    is_quarter_end Bool DEFAULT date_key = toLastDayOfMonth(date_key) AND toMonth(date_key) % 3 = 0,
    is_holiday Bool DEFAULT false,
    holiday_name LowCardinality(String) DEFAULT '',
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
    batch_id String DEFAULT '' COMMENT 'load that wrote the row'
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY tuple()
ORDER BY date_key
COMMENT 'Calendar dimension: one row per day';

-- Stores: SCD type 1 (attributes overwritten). Store attributes change rarely, and dashboards group
-- history by a store's current region; if history is ever needed, a migration can turn this into
-- the dim_product layout below.
CREATE TABLE IF NOT EXISTS {database}.dim_store
(
    store_id LowCardinality(String),
    store_name String,
    store_type LowCardinality(String) COMMENT 'format, e.g. supermarket, express, warehouse',
    city LowCardinality(String),
    region LowCardinality(String),
    country LowCardinality(String) COMMENT 'ISO 3166-1 alpha-2',
    timezone LowCardinality(String) DEFAULT 'UTC',
    storage_capacity_units UInt32 DEFAULT 0 COMMENT 'shelf and back-room capacity; 0 = unknown',
    opened_on Date,
    is_active Bool DEFAULT true,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
    batch_id String DEFAULT '' COMMENT 'load that wrote the row'
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY tuple()
ORDER BY store_id
COMMENT 'Store dimension (SCD type 1)';

-- Suppliers: SCD type 1. Lead time and its variability feed the safety-stock formula
-- (safety stock = z * sqrt(LT * sigma_d^2 + d^2 * sigma_LT^2)), so both are kept.
CREATE TABLE IF NOT EXISTS {database}.dim_supplier
(
    supplier_id LowCardinality(String),
    supplier_name String,
    country LowCardinality(String) COMMENT 'ISO 3166-1 alpha-2',
    lead_time_days UInt16 COMMENT 'mean days from order to delivery',
    lead_time_stddev_days Float32 DEFAULT 0,
    min_order_quantity UInt32 DEFAULT 1,
    on_time_rate Float32 DEFAULT 1 COMMENT 'share of orders delivered on time, 0..1',
    is_active Bool DEFAULT true,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
    batch_id String DEFAULT '' COMMENT 'load that wrote the row'
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY tuple()
ORDER BY supplier_id
COMMENT 'Supplier dimension (SCD type 1)';

-- Products: SCD type 2, because price, cost and category change and both the forecasts and the
-- margin reports need the value that was valid at the time (a price change is a demand driver).
--
-- Why explicit valid_from / valid_to / is_current *and* a ReplacingMergeTree:
-- * the validity range lets views and BI tools join by plain range conditions or filter is_current,
--   without ClickHouse-specific ASOF joins;
-- * ClickHouse has no cheap UPDATE, so closing a version is an INSERT of the same key
--   (product_id, valid_from) with valid_to set and a later updated_at; ReplacingMergeTree keeps that
--   newer row on merge (FINAL in the meantime). A price change therefore inserts two rows: the closed
--   old version and the new open one. Re-running the same load inserts identical keys: idempotent.
-- valid_to is exclusive and open versions use a far-future sentinel instead of NULL, so range
-- predicates stay simple and Nullable's extra column is avoided.
CREATE TABLE IF NOT EXISTS {database}.dim_product
(
    product_id String COMMENT 'SKU, the natural key',
    valid_from DateTime64(3, 'UTC') COMMENT 'first instant this version applies (inclusive)',
    valid_to DateTime64(3, 'UTC') DEFAULT toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC')
        COMMENT 'end of this version (exclusive); 2299-12-31 23:59:59.999 while current',
    is_current Bool DEFAULT valid_to = toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC'),
    product_name String,
    category LowCardinality(String),
    sub_category LowCardinality(String) DEFAULT '',
    brand LowCardinality(String) DEFAULT '',
    supplier_id LowCardinality(String),
    unit_of_measure LowCardinality(String) DEFAULT 'each',
    unit_cost Decimal(18, 2) COMMENT 'purchase cost per unit',
    unit_price Decimal(18, 2) COMMENT 'shelf price per unit',
    shelf_life_days UInt16 DEFAULT 0 COMMENT '0 = not perishable',
    is_active Bool DEFAULT true COMMENT 'false once discontinued; its history stays',
    change_reason LowCardinality(String) DEFAULT '' COMMENT 'what opened this version: initial, price_change, category_change, ...',
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'row version: the closing re-insert of a version is newer',
    batch_id String DEFAULT '' COMMENT 'load that wrote the row',
    CONSTRAINT valid_range CHECK valid_from < valid_to,
    CONSTRAINT current_is_open CHECK is_current = (valid_to = toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC'))
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY tuple()
ORDER BY (product_id, valid_from)
COMMENT 'Product dimension (SCD type 2: one row per version, valid_from inclusive, valid_to exclusive)';

-- migrate:down
DROP TABLE IF EXISTS {database}.dim_product SYNC;
DROP TABLE IF EXISTS {database}.dim_supplier SYNC;
DROP TABLE IF EXISTS {database}.dim_store SYNC;
DROP TABLE IF EXISTS {database}.dim_date SYNC;
