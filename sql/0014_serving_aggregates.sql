-- Serving aggregates: what the dashboards read instead of the facts.
--
-- The 0008/0013 views read fact_sales and fact_inventory with FINAL at query time: every dashboard
-- query merged and scanned every sale line of its range, and the fill-rate window sorted every
-- snapshot ever taken. These two tables hold the same figures pre-aggregated by the daily load
-- (retail_platform/batch/aggregates.py), rebuilt from the facts for the loaded day right after the
-- facts' partition swap and before the watermark row, so a closed day is always served from its
-- aggregates. The views keep their names, grains and columns; only where they read changes.
--
-- Engine: ReplacingMergeTree(loaded_at) with the grain as ORDER BY, read with FINAL, for the reason
-- the facts use it: the load path (partition replacement) is exact on its own, and a stray INSERT of
-- rows already there converges instead of double counting. Partitioned by month like the facts, so a
-- refresh replaces months with the same stage + REPLACE PARTITION swap.
--
-- The up step fills the tables from the facts already loaded, so upgrading a running warehouse keeps
-- every closed day in the views. Running it again (after a half-applied attempt) converges: same
-- grain, newer loaded_at.

-- migrate:up

-- Sales per store, category, product and day of the closed days. Grain: (date_key, store_id, category,
-- product_id); category is part of the grain because a product changing category during a day keeps
-- each sale line's category of the moment (fact_sales.category).
-- ORDER BY starts with date_key: every dashboard reads a date range; store_id next serves the store
-- manager's filter.
CREATE TABLE IF NOT EXISTS {database}.agg_sales_daily
(
    date_key Date,
    store_id LowCardinality(String),
    category LowCardinality(String),
    product_id String,
    units Int64 COMMENT 'net units sold (returns subtracted): sum of fact_sales.quantity',
    revenue Decimal(18, 2) COMMENT 'sum of fact_sales.revenue',
    cost Decimal(18, 2) COMMENT 'sum of fact_sales.cost',
    profit Decimal(18, 2) COMMENT 'sum of fact_sales.profit',
    sale_lines UInt64 COMMENT 'fact_sales rows',
    loaded_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(loaded_at)
PARTITION BY toYYYYMM(date_key)
ORDER BY (date_key, store_id, category, product_id)
COMMENT 'Sales per store/category/product/day, rebuilt from fact_sales by the daily load';

-- Store totals per day of the closed days: sales (from agg_sales_daily) beside end-of-day stock (from
-- fact_inventory) and the fill-rate estimate. Grain: (date_key, store_id). A store/day with sales but
-- no snapshot has products_tracked = 0 (and the reverse has zero sales).
CREATE TABLE IF NOT EXISTS {database}.agg_store_daily
(
    date_key Date,
    store_id LowCardinality(String),
    units Int64 COMMENT 'net units sold (fact_sales)',
    revenue Decimal(18, 2),
    cost Decimal(18, 2) COMMENT 'cost of goods sold',
    profit Decimal(18, 2),
    sale_lines UInt64,
    products_tracked UInt64 COMMENT 'end-of-day snapshots (store/products) of the day',
    stockouts UInt64 COMMENT 'snapshots with quantity_on_hand <= 0',
    below_reorder_point UInt64 COMMENT 'snapshots at or below their reorder point',
    stock_value Decimal(18, 2) COMMENT 'stock on hand at cost, end of day',
    snapshot_units_sold Int64 COMMENT 'net units sold per the snapshots (fact_inventory.quantity_sold)',
    est_lost_units Float64 COMMENT 'demand turned away by stock-outs, estimated (see v_kpi_fill_rate)',
    loaded_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(loaded_at)
PARTITION BY toYYYYMM(date_key)
ORDER BY (date_key, store_id)
COMMENT 'Store totals per day (sales, stock, fill-rate estimate), rebuilt by the daily load';

-- Chain totals per day of the closed days: what the executive dashboard shows. Grain: date_key.
-- stores_selling and products_selling count distinct stores and products with net units > 0 on a
-- store/product/day (the v_sales_daily grain), which no sum over stores could give.
CREATE TABLE IF NOT EXISTS {database}.agg_chain_daily
(
    date_key Date,
    revenue Decimal(38, 2),
    units Int64,
    sale_lines UInt64,
    stores_selling UInt64,
    products_selling UInt64,
    profit Decimal(38, 2),
    loaded_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(loaded_at)
PARTITION BY toYYYYMM(date_key)
ORDER BY date_key
COMMENT 'Chain totals per day, rebuilt by the daily load';

INSERT INTO {database}.agg_sales_daily (date_key, store_id, category, product_id, units, revenue, cost, profit, sale_lines)
SELECT date_key, store_id, category, product_id, sum(quantity), sum(revenue), sum(cost), sum(profit), count()
FROM {database}.fact_sales FINAL
GROUP BY date_key, store_id, category, product_id;

INSERT INTO {database}.agg_store_daily (date_key, store_id, units, revenue, cost, profit, sale_lines, products_tracked,
    stockouts, below_reorder_point, stock_value, snapshot_units_sold, est_lost_units)
SELECT date_key, store_id, s.units, s.revenue, s.cost, s.profit, s.sale_lines, i.products_tracked,
       i.stockouts, i.below_reorder_point, i.stock_value, i.snapshot_units_sold, i.est_lost_units
FROM
(
    SELECT date_key, store_id, sum(units) AS units, sum(revenue) AS revenue, sum(cost) AS cost,
           sum(profit) AS profit, sum(sale_lines) AS sale_lines
    FROM {database}.agg_sales_daily FINAL
    GROUP BY date_key, store_id
) AS s
FULL OUTER JOIN
(
    SELECT date_key, store_id, count() AS products_tracked, countIf(is_stockout) AS stockouts,
           countIf(is_below_reorder_point) AS below_reorder_point, sum(stock_value) AS stock_value,
           sum(quantity_sold) AS snapshot_units_sold,
           sum(if(is_stockout, greatest(0., ifNull(usual, 0.) - quantity_sold), 0.)) AS est_lost_units
    FROM
    (
        SELECT date_key, store_id, quantity_sold, is_stockout, is_below_reorder_point, stock_value,
               avgIf(toFloat64(quantity_sold), NOT is_stockout) OVER (
                   PARTITION BY store_id, product_id ORDER BY date_key ROWS BETWEEN 28 PRECEDING AND 1 PRECEDING
               ) AS usual
        FROM {database}.fact_inventory FINAL
    )
    GROUP BY date_key, store_id
) AS i USING (date_key, store_id);

INSERT INTO {database}.agg_chain_daily (date_key, revenue, units, sale_lines, stores_selling, products_selling, profit)
SELECT date_key, sum(revenue), sum(units), sum(lines), uniqExactIf(store_id, units > 0),
       uniqExactIf(product_id, units > 0), sum(profit)
FROM
(
    SELECT date_key, store_id, product_id, sum(units) AS units, sum(revenue) AS revenue, sum(sale_lines) AS lines,
           sum(profit) AS profit
    FROM {database}.agg_sales_daily FINAL
    GROUP BY date_key, store_id, product_id
)
GROUP BY date_key;

-- Sales per store, product and UTC day across both layers (as in 0008; the batch side now reads
-- agg_sales_daily). Grain: (store_id, product_id, date). Columns: units, revenue, sale_lines, source
-- ('batch' for days whose daily load has landed, 'speed' for the others).
CREATE OR REPLACE VIEW {database}.v_sales_daily AS
-- The closed days as IN (subquery): one hash set per query. 0008's has(array, day) searched the
-- array of every closed day for each row read, which cost more than the rest of the query.
SELECT store_id, product_id, date, sum(units) AS units, sum(revenue) AS revenue, sum(lines) AS sale_lines,
       any(source) AS source
FROM
(
    SELECT store_id, product_id, date_key AS date, units, revenue, sale_lines AS lines, 'batch' AS source
    FROM {database}.agg_sales_daily FINAL
    WHERE date_key IN (SELECT day FROM {database}.ops_batch_watermark FINAL)
    UNION ALL
    SELECT store_id, product_id, toDate(window_start) AS date, units, revenue, transactions AS lines,
           'speed' AS source
    FROM {database}.rt_sales_5min
    WHERE toDate(window_start) NOT IN (SELECT day FROM {database}.ops_batch_watermark FINAL)
)
GROUP BY store_id, product_id, date;

-- Days of supply per store/product now (as in 0008; columns quantity_on_hand, avg_daily_units_28d,
-- days_of_supply, is_dead_stock). The last 28 days' units are summed per store/product straight from
-- both layers (the same day split as v_sales_daily), without grouping by day first.
CREATE OR REPLACE VIEW {database}.v_kpi_days_of_supply AS
SELECT
    s.store_id AS store_id,
    s.product_id AS product_id,
    s.quantity_on_hand AS quantity_on_hand,
    ifNull(d.units_28d, 0) / 28 AS avg_daily_units_28d,
    if(avg_daily_units_28d > 0, s.quantity_on_hand / avg_daily_units_28d, NULL) AS days_of_supply,
    s.quantity_on_hand > 0 AND ifNull(d.units_28d, 0) = 0 AS is_dead_stock
FROM {database}.v_stock_current AS s
LEFT JOIN
(
    SELECT store_id, product_id, toNullable(sum(units)) AS units_28d
    FROM
    (
        SELECT store_id, product_id, units
        FROM {database}.agg_sales_daily FINAL
        WHERE date_key > today() - 28 AND date_key IN (SELECT day FROM {database}.ops_batch_watermark FINAL)
        UNION ALL
        SELECT store_id, product_id, units
        FROM {database}.rt_sales_5min
        WHERE toDate(window_start) > today() - 28
          AND toDate(window_start) NOT IN (SELECT day FROM {database}.ops_batch_watermark FINAL)
    )
    GROUP BY store_id, product_id
) AS d ON s.store_id = d.store_id AND s.product_id = d.product_id;

-- Executive dashboard: chain-wide daily totals. Grain: date. Columns as in 0008: revenue, units,
-- sale_lines, stores_selling, products_selling (both layers); profit and margin (batch days only: cost
-- needs the daily load; NULL after the watermark); source. Closed days are one agg_chain_daily row
-- each; open days are summed from the speed layer at the v_sales_daily grain.
CREATE OR REPLACE VIEW {database}.v_exec_daily AS
SELECT date, revenue, units, sale_lines, stores_selling, products_selling, profit, margin, source
FROM
(
    SELECT
        date_key AS date,
        revenue,
        units,
        sale_lines,
        stores_selling,
        products_selling,
        CAST(profit AS Nullable(Decimal(38, 2))) AS profit,
        if(revenue > 0, toFloat64(profit) / toFloat64(revenue), NULL) AS margin,
        'batch' AS source
    FROM {database}.agg_chain_daily FINAL
    WHERE date_key IN (SELECT day FROM {database}.ops_batch_watermark FINAL)
    UNION ALL
    SELECT
        day AS date,
        sum(day_revenue) AS revenue,
        sum(day_units) AS units,
        sum(day_lines) AS sale_lines,
        uniqExactIf(store_id, day_units > 0) AS stores_selling,
        uniqExactIf(product_id, day_units > 0) AS products_selling,
        CAST(NULL AS Nullable(Decimal(38, 2))) AS profit,
        CAST(NULL AS Nullable(Float64)) AS margin,
        'speed' AS source
    FROM
    (
        SELECT store_id, product_id, toDate(window_start) AS day, sum(units) AS day_units,
               sum(revenue) AS day_revenue, sum(transactions) AS day_lines
        FROM {database}.rt_sales_5min
        WHERE toDate(window_start) NOT IN (SELECT day FROM {database}.ops_batch_watermark FINAL)
        GROUP BY store_id, product_id, day
    )
    GROUP BY day
);

-- Store manager dashboard: one store's day. Grain: (store_id, date). Columns as in 0008: revenue,
-- units, sale_lines (both layers); products_tracked, stockouts, below_reorder_point (end-of-day
-- snapshot, batch days only: 0 after the watermark), now from agg_store_daily.
CREATE OR REPLACE VIEW {database}.v_store_daily AS
SELECT
    s.store_id AS store_id,
    s.date AS date,
    s.revenue AS revenue,
    s.units AS units,
    s.sale_lines AS sale_lines,
    i.products_tracked AS products_tracked,
    i.stockouts AS stockouts,
    i.below_reorder_point AS below_reorder_point
FROM
(
    SELECT store_id, date, sum(revenue) AS revenue, sum(units) AS units, sum(sale_lines) AS sale_lines
    FROM {database}.v_sales_daily
    GROUP BY store_id, date
) AS s
LEFT JOIN
(
    SELECT store_id, date_key, products_tracked, stockouts, below_reorder_point
    FROM {database}.agg_store_daily FINAL
) AS i ON s.store_id = i.store_id AND s.date = i.date_key;

-- Stock-out rate and reorder efficiency (as in 0008). Grain: (date, store_id). Columns:
-- store_products, stockouts, stockout_rate, below_reorder_point, reorder_efficiency.
CREATE OR REPLACE VIEW {database}.v_kpi_stockout_rate AS
SELECT
    date_key AS date,
    store_id,
    products_tracked AS store_products,
    stockouts,
    stockouts / store_products AS stockout_rate,
    below_reorder_point,
    below_reorder_point / store_products AS reorder_efficiency
FROM {database}.agg_store_daily FINAL
WHERE products_tracked > 0;

-- Inventory turnover (as in 0008). Grain: (month, store_id), months with snapshots. Columns: cogs,
-- avg_inventory_value (mean over the month's snapshot days), days (snapshot days), turnover,
-- turnover_annualised.
CREATE OR REPLACE VIEW {database}.v_kpi_inventory_turnover AS
SELECT
    toStartOfMonth(date_key) AS month,
    store_id,
    sum(cost) AS cogs,
    avgIf(toFloat64(stock_value), products_tracked > 0) AS avg_inventory_value,
    countIf(products_tracked > 0) AS days,
    if(avg_inventory_value > 0, toFloat64(cogs) / avg_inventory_value, NULL) AS turnover,
    turnover * 365 / days AS turnover_annualised
FROM {database}.agg_store_daily FINAL
GROUP BY month, store_id
HAVING days > 0;

-- Fill rate (as in 0013; the estimate of lost units is computed by the daily load, see
-- retail_platform/batch/aggregates.py). Grain: (date, store_id). Columns: units_sold, est_lost_units,
-- fill_rate (NULL without demand), stockout_products.
CREATE OR REPLACE VIEW {database}.v_kpi_fill_rate AS
SELECT
    date_key AS date,
    store_id,
    snapshot_units_sold AS units_sold,
    est_lost_units,
    if(units_sold + est_lost_units > 0, units_sold / (units_sold + est_lost_units), NULL) AS fill_rate,
    stockouts AS stockout_products
FROM {database}.agg_store_daily FINAL
WHERE products_tracked > 0;

-- Carrying cost (as in 0013, same annual rates: storage 10 %, insurance 2 %, obsolescence 5 %,
-- opportunity cost 8 %). Grain: (month, store_id). Columns: avg_inventory_value, days,
-- carrying_cost_rate, carrying_cost, carrying_cost_per_unit_sold.
CREATE OR REPLACE VIEW {database}.v_kpi_carrying_cost AS
WITH 0.10 AS storage_rate, 0.02 AS insurance_rate, 0.05 AS obsolescence_rate, 0.08 AS opportunity_rate
SELECT
    toStartOfMonth(date_key) AS month,
    store_id,
    avg(toFloat64(stock_value)) AS avg_inventory_value,
    count() AS days,
    storage_rate + insurance_rate + obsolescence_rate + opportunity_rate AS carrying_cost_rate,
    avg_inventory_value * carrying_cost_rate * days / 365 AS carrying_cost,
    if(sum(snapshot_units_sold) > 0, carrying_cost / sum(snapshot_units_sold), NULL) AS carrying_cost_per_unit_sold
FROM {database}.agg_store_daily FINAL
WHERE products_tracked > 0
GROUP BY month, store_id;

-- Inventory analyst dashboard: category performance (seed 004). Batch days only: cost and the
-- category of a sale line are set by the daily load.
-- Grain: (date, category). Columns: revenue, cost, profit, margin (profit / revenue; NULL without
-- revenue), units (net), sale_lines.
CREATE OR REPLACE VIEW {database}.v_category_daily AS
SELECT
    date_key AS date,
    category,
    sum(revenue) AS revenue,
    sum(cost) AS cost,
    sum(profit) AS profit,
    if(revenue != 0, toFloat64(profit) / toFloat64(revenue), NULL) AS margin,
    sum(units) AS units,
    sum(sale_lines) AS sale_lines
FROM {database}.agg_sales_daily FINAL
WHERE date_key IN (SELECT day FROM {database}.ops_batch_watermark FINAL)
GROUP BY date_key, category;

-- migrate:down
DROP VIEW IF EXISTS {database}.v_category_daily SYNC;
-- v_sales_daily as 0008/0013 defined it.
CREATE OR REPLACE VIEW {database}.v_sales_daily AS
-- Per day, not "everything up to max(day)": a backfill may load a later day before earlier ones,
-- and a day without its load must still come from the speed layer rather than vanish.
WITH (SELECT groupUniqArray(day) FROM {database}.ops_batch_watermark FINAL) AS closed_days
SELECT store_id, product_id, date, sum(units) AS units, sum(revenue) AS revenue, sum(lines) AS sale_lines,
       any(source) AS source
FROM
(
    SELECT store_id, product_id, date_key AS date, toInt64(quantity) AS units, revenue, toUInt64(1) AS lines,
           'batch' AS source
    FROM {database}.fact_sales FINAL
    WHERE has(closed_days, date_key)
    UNION ALL
    SELECT store_id, product_id, toDate(window_start) AS date, units, revenue, transactions AS lines,
           'speed' AS source
    FROM {database}.rt_sales_5min
    WHERE NOT has(closed_days, toDate(window_start))
)
GROUP BY store_id, product_id, date;
-- v_kpi_days_of_supply as 0008/0013 defined it.
CREATE OR REPLACE VIEW {database}.v_kpi_days_of_supply AS
SELECT
    s.store_id AS store_id,
    s.product_id AS product_id,
    s.quantity_on_hand AS quantity_on_hand,
    ifNull(d.units_28d, 0) / 28 AS avg_daily_units_28d,
    if(avg_daily_units_28d > 0, s.quantity_on_hand / avg_daily_units_28d, NULL) AS days_of_supply,
    s.quantity_on_hand > 0 AND ifNull(d.units_28d, 0) = 0 AS is_dead_stock
FROM {database}.v_stock_current AS s
LEFT JOIN
(
    SELECT store_id, product_id, toNullable(sum(units)) AS units_28d
    FROM {database}.v_sales_daily
    WHERE date > today() - 28
    GROUP BY store_id, product_id
) AS d ON s.store_id = d.store_id AND s.product_id = d.product_id;
-- v_exec_daily as 0008/0013 defined it.
CREATE OR REPLACE VIEW {database}.v_exec_daily AS
SELECT
    d.date AS date,
    d.day_revenue AS revenue,
    d.day_units AS units,
    d.day_lines AS sale_lines,
    d.stores_selling AS stores_selling,
    d.products_selling AS products_selling,
    if(d.source = 'batch', f.profit, NULL) AS profit,
    if(d.source = 'batch' AND d.day_revenue > 0, toFloat64(f.profit) / toFloat64(d.day_revenue), NULL) AS margin,
    d.source AS source
FROM
(
    SELECT date, sum(revenue) AS day_revenue, sum(units) AS day_units, sum(sale_lines) AS day_lines,
           uniqExactIf(store_id, units > 0) AS stores_selling, uniqExactIf(product_id, units > 0) AS products_selling,
           any(source) AS source
    FROM {database}.v_sales_daily
    GROUP BY date
) AS d
LEFT JOIN
(
    SELECT date_key, toNullable(sum(profit)) AS profit FROM {database}.fact_sales FINAL GROUP BY date_key
) AS f ON d.date = f.date_key;
-- v_store_daily as 0008/0013 defined it.
CREATE OR REPLACE VIEW {database}.v_store_daily AS
SELECT
    s.store_id AS store_id,
    s.date AS date,
    s.revenue AS revenue,
    s.units AS units,
    s.sale_lines AS sale_lines,
    i.products_tracked AS products_tracked,
    i.stockouts AS stockouts,
    i.below_reorder_point AS below_reorder_point
FROM
(
    SELECT store_id, date, sum(revenue) AS revenue, sum(units) AS units, sum(sale_lines) AS sale_lines
    FROM {database}.v_sales_daily
    GROUP BY store_id, date
) AS s
LEFT JOIN
(
    SELECT store_id, date_key, count() AS products_tracked, countIf(is_stockout) AS stockouts,
           countIf(is_below_reorder_point) AS below_reorder_point
    FROM {database}.fact_inventory FINAL
    GROUP BY store_id, date_key
) AS i ON s.store_id = i.store_id AND s.date = i.date_key;
-- v_kpi_stockout_rate as 0008/0013 defined it.
CREATE OR REPLACE VIEW {database}.v_kpi_stockout_rate AS
SELECT
    date_key AS date,
    store_id,
    count() AS store_products,
    countIf(is_stockout) AS stockouts,
    stockouts / store_products AS stockout_rate,
    countIf(is_below_reorder_point) AS below_reorder_point,
    below_reorder_point / store_products AS reorder_efficiency
FROM {database}.fact_inventory FINAL
GROUP BY date_key, store_id;
-- v_kpi_inventory_turnover as 0008/0013 defined it.
CREATE OR REPLACE VIEW {database}.v_kpi_inventory_turnover AS
SELECT
    i.month AS month,
    i.store_id AS store_id,
    ifNull(c.cogs, 0) AS cogs,
    i.avg_inventory_value AS avg_inventory_value,
    i.days AS days,
    if(i.avg_inventory_value > 0, toFloat64(ifNull(c.cogs, 0)) / i.avg_inventory_value, NULL) AS turnover,
    turnover * 365 / i.days AS turnover_annualised
FROM
(
    SELECT toStartOfMonth(date_key) AS month, store_id, avg(value) AS avg_inventory_value, count() AS days
    FROM
    (
        SELECT date_key, store_id, toFloat64(sum(stock_value)) AS value
        FROM {database}.fact_inventory FINAL
        GROUP BY date_key, store_id
    )
    GROUP BY month, store_id
) AS i
LEFT JOIN
(
    SELECT toStartOfMonth(date_key) AS month, store_id, toNullable(sum(cost)) AS cogs
    FROM {database}.fact_sales FINAL
    GROUP BY month, store_id
) AS c ON i.month = c.month AND i.store_id = c.store_id;
-- v_kpi_fill_rate as 0008/0013 defined it.
CREATE OR REPLACE VIEW {database}.v_kpi_fill_rate AS
SELECT
    date_key AS date,
    store_id,
    sum(quantity_sold) AS units_sold,
    sum(lost) AS est_lost_units,
    if(units_sold + est_lost_units > 0, units_sold / (units_sold + est_lost_units), NULL) AS fill_rate,
    countIf(is_stockout) AS stockout_products
FROM
(
    SELECT
        date_key,
        store_id,
        quantity_sold,
        is_stockout,
        if(is_stockout, greatest(0., ifNull(usual, 0.) - quantity_sold), 0.) AS lost
    FROM
    (
        SELECT
            date_key, store_id, product_id, quantity_sold, is_stockout,
            -- ClickHouse frames are rows, not days: a store/product has one snapshot per day from its
            -- first load on, so 28 rows back is 28 days back.
            avgIf(toFloat64(quantity_sold), NOT is_stockout) OVER (
                PARTITION BY store_id, product_id ORDER BY date_key ROWS BETWEEN 28 PRECEDING AND 1 PRECEDING
            ) AS usual
        FROM {database}.fact_inventory FINAL
    )
)
GROUP BY date_key, store_id;
-- v_kpi_carrying_cost as 0008/0013 defined it.
CREATE OR REPLACE VIEW {database}.v_kpi_carrying_cost AS
WITH 0.10 AS storage_rate, 0.02 AS insurance_rate, 0.05 AS obsolescence_rate, 0.08 AS opportunity_rate
SELECT
    toStartOfMonth(date_key) AS month,
    store_id,
    avg(value) AS avg_inventory_value,
    count() AS days,
    storage_rate + insurance_rate + obsolescence_rate + opportunity_rate AS carrying_cost_rate,
    avg_inventory_value * carrying_cost_rate * days / 365 AS carrying_cost,
    if(sum(sold) > 0, carrying_cost / sum(sold), NULL) AS carrying_cost_per_unit_sold
FROM
(
    SELECT date_key, store_id, toFloat64(sum(stock_value)) AS value, sum(quantity_sold) AS sold
    FROM {database}.fact_inventory FINAL
    GROUP BY date_key, store_id
)
GROUP BY month, store_id;
DROP TABLE IF EXISTS {database}.agg_chain_daily SYNC;
DROP TABLE IF EXISTS {database}.agg_store_daily SYNC;
DROP TABLE IF EXISTS {database}.agg_sales_daily SYNC;
