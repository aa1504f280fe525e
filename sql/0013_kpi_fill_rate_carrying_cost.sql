-- The two KPI views of seed 000 §8.1 that 0008 did not have: fill rate and carrying cost.
--
-- Both read the end-of-day snapshots (fact_inventory), so they cover batch days only, like the other
-- snapshot KPIs: a day enters them when its daily load lands.

-- migrate:up

-- Fill rate (seed 000 §8.1: orders filled completely / total orders; target > 98 %).
-- A till records what was sold, never the demand a stock-out turned away, so the unfilled part is
-- estimated: on a day a store/product ends out of stock, the lost units are its average daily sales on
-- the in-stock days of the previous 28 days, less what it sold that day (never below 0). Days in
-- stock are taken as filled completely.
-- Grain: (date, store_id). Columns: units_sold (net units, from the snapshots' quantity_sold),
-- est_lost_units (estimated demand turned away), fill_rate = units_sold / (units_sold + est_lost_units)
-- (NULL without demand), stockout_products (store/products that ended the day out of stock).
CREATE VIEW IF NOT EXISTS {database}.v_kpi_fill_rate AS
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

-- Carrying cost (seed 000 §8.1: (storage + insurance + obsolescence + opportunity cost) / average
-- inventory value; target < 25 % of inventory value per year). The four components are annual rates
-- of the inventory value held, the common retail defaults: storage 10 %, insurance 2 %, obsolescence
-- 5 %, opportunity cost (cost of capital) 8 %. Change them here, in one place, by a new migration.
-- Grain: (month, store_id). Columns: avg_inventory_value (mean daily stock value at cost over the
-- month's snapshot days), days, carrying_cost_rate (annual, sum of the components), carrying_cost
-- (avg_inventory_value x rate x days / 365: the cost of holding that stock for those days), and
-- carrying_cost_per_unit_sold (carrying cost over the month's net units sold; NULL without sales).
CREATE VIEW IF NOT EXISTS {database}.v_kpi_carrying_cost AS
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

-- migrate:down
DROP VIEW IF EXISTS {database}.v_kpi_carrying_cost;
DROP VIEW IF EXISTS {database}.v_kpi_fill_rate;
