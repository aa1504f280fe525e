-- Serving layer: the lambda views BI reads, and the dashboards' KPI views (seeds 000 and 004).
--
-- The switch-over, per day: a day whose daily load has landed (a row in ops_batch_watermark) comes
-- from the facts (exact, recomputed daily); any other day from the speed layer's rt_* tables. Each
-- day comes from exactly one side, so no sale is counted twice or missed at the switch:
-- rt_sales_5min windows are 5 minutes aligned to the epoch, so every window lies inside one UTC day.
-- When the daily load of day D lands, D moves from the speed side to the batch side in the same read
-- (the watermark row is written after the facts are swapped in).

-- migrate:up

-- The batch watermark as a one-row view (for dashboards' "data final up to" labels).
-- Columns: watermark (Date; 1970-01-01 = nothing loaded yet), loaded_at of that day's load.
CREATE VIEW IF NOT EXISTS {database}.v_batch_watermark AS
SELECT max(day) AS watermark, argMax(loaded_at, day) AS loaded_at
FROM {database}.ops_batch_watermark FINAL;

-- Sales per store, product and UTC day across both layers.
-- Grain: (store_id, product_id, date). Columns: units (net units sold), revenue (Decimal, sum of
-- quantity * unit_price), sale_lines (sales_transaction events), source ('batch' for days whose
-- daily load has landed (a row in ops_batch_watermark), 'speed' for the others).
CREATE VIEW IF NOT EXISTS {database}.v_sales_daily AS
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

-- Current stock per store/product: the newer of the batch snapshot at the watermark day and the speed
-- layer's latest inventory event, ordered by (event time, event id) as both layers order events.
-- Grain: (store_id, product_id). Columns: quantity_on_hand, as_of (event time of the level), source
-- ('batch' or 'speed'), reorder_point / safety_stock / order_quantity (current policy), is_stockout,
-- is_below_reorder_point.
CREATE VIEW IF NOT EXISTS {database}.v_stock_current AS
WITH (SELECT max(day) FROM {database}.ops_batch_watermark FINAL) AS watermark
SELECT
    s.store_id AS store_id,
    s.product_id AS product_id,
    s.quantity_on_hand AS quantity_on_hand,
    s.as_of AS as_of,
    s.source AS source,
    p.reorder_point AS reorder_point,
    p.safety_stock AS safety_stock,
    p.order_quantity AS order_quantity,
    s.quantity_on_hand <= 0 AS is_stockout,
    s.quantity_on_hand <= p.reorder_point AS is_below_reorder_point
FROM
(
    SELECT
        if(speed, r.store_id, f.store_id) AS store_id,
        if(speed, r.product_id, f.product_id) AS product_id,
        if(speed, r.quantity, toInt64(f.quantity_on_hand)) AS quantity_on_hand,
        if(speed, r.event_time, f.last_event_time) AS as_of,
        if(speed, 'speed', 'batch') AS source,
        r.event_id != '' AND (f.last_event_id = '' OR (r.event_time, r.event_id) > (f.last_event_time, f.last_event_id))
            AS speed
    FROM
    (
        SELECT store_id, product_id, quantity_on_hand, last_event_id, last_event_time
        FROM {database}.fact_inventory FINAL
        WHERE date_key = watermark
    ) AS f
    FULL OUTER JOIN
    (
        SELECT store_id, product_id, quantity, event_time, event_id FROM {database}.rt_stock FINAL
    ) AS r ON f.store_id = r.store_id AND f.product_id = r.product_id
) AS s
LEFT JOIN
(
    SELECT store_id, product_id, reorder_point, safety_stock, order_quantity FROM {database}.rt_reorder_policy FINAL
) AS p ON s.store_id = p.store_id AND s.product_id = p.product_id;

-- Executive dashboard: chain-wide daily totals (seed 004 "high-level KPIs, revenue trends").
-- Grain: date. Columns: revenue, units, sale_lines, stores_selling, products_selling (both layers,
-- from v_sales_daily); profit and margin (batch days only: cost needs the daily load; NULL after
-- the watermark), source.
CREATE VIEW IF NOT EXISTS {database}.v_exec_daily AS
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

-- Store manager dashboard: one store's day (seed 004 "real-time stock, alerts").
-- Grain: (store_id, date). Columns: revenue, units, sale_lines (both layers); products_tracked,
-- stockouts, below_reorder_point (end-of-day snapshot, batch days only: 0 after the watermark).
CREATE VIEW IF NOT EXISTS {database}.v_store_daily AS
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

-- Stock-out rate and reorder efficiency (seed 000 §8.1 and the Power BI measures of §13.1; target
-- stock-out rate < 2 %). Grain: (date, store_id). Columns: store_products (end-of-day snapshots),
-- stockouts, stockout_rate = stockouts / store_products, below_reorder_point,
-- reorder_efficiency = share of store/products at or below their reorder point.
CREATE VIEW IF NOT EXISTS {database}.v_kpi_stockout_rate AS
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

-- Inventory turnover (seed 000 §8.1: cost of goods sold / average inventory value; target > 6 per
-- year). Grain: (month, store_id). Columns: cogs (sum of fact_sales.cost), avg_inventory_value (mean
-- over the month's snapshot days of the store's total stock value), days (snapshot days),
-- turnover (cogs / avg_inventory_value for the period), turnover_annualised (scaled to 365 days).
CREATE VIEW IF NOT EXISTS {database}.v_kpi_inventory_turnover AS
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

-- Days of supply per store/product now: current stock (v_stock_current) over the average daily units
-- sold in the last 28 days (v_sales_daily, both layers; days without sales count as 0).
-- Grain: (store_id, product_id). Columns: quantity_on_hand, avg_daily_units_28d, days_of_supply
-- (NULL without sales in the period), is_dead_stock (stock on hand, nothing sold in 28 days).
CREATE VIEW IF NOT EXISTS {database}.v_kpi_days_of_supply AS
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

-- Dead-stock percentage per store (seed 000 §13.2: target < 5 %). Grain: store_id. Columns:
-- products_in_stock, dead_stock (in stock, no sale in 28 days), dead_stock_rate.
CREATE VIEW IF NOT EXISTS {database}.v_kpi_dead_stock AS
SELECT
    store_id,
    countIf(quantity_on_hand > 0) AS products_in_stock,
    countIf(is_dead_stock) AS dead_stock,
    if(products_in_stock > 0, dead_stock / products_in_stock, NULL) AS dead_stock_rate
FROM {database}.v_kpi_days_of_supply
GROUP BY store_id;

-- migrate:down
DROP VIEW IF EXISTS {database}.v_kpi_dead_stock SYNC;
DROP VIEW IF EXISTS {database}.v_kpi_days_of_supply SYNC;
DROP VIEW IF EXISTS {database}.v_kpi_inventory_turnover SYNC;
DROP VIEW IF EXISTS {database}.v_kpi_stockout_rate SYNC;
DROP VIEW IF EXISTS {database}.v_store_daily SYNC;
DROP VIEW IF EXISTS {database}.v_exec_daily SYNC;
DROP VIEW IF EXISTS {database}.v_stock_current SYNC;
DROP VIEW IF EXISTS {database}.v_sales_daily SYNC;
DROP VIEW IF EXISTS {database}.v_batch_watermark SYNC;
