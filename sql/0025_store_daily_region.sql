-- The Executive dashboard's region filter: v_store_daily (grain store_id, date) gains the store's
-- region, from its row in dim_store (SCD type 1, so the current region: a store moved to another
-- region counts there for its whole history, as a region manager reads a dashboard). Empty for a
-- store the dimension does not hold yet (an inferred member gets its row with the next daily load).
-- Same grain, same other columns, the same figures: the join is one row per store.
-- Down restores the definition of 0014. No data moves.
-- migrate:up
CREATE OR REPLACE VIEW {database}.v_store_daily AS
SELECT
    s.store_id AS store_id,
    d.region AS region,
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
) AS i ON s.store_id = i.store_id AND s.date = i.date_key
LEFT JOIN
(
    SELECT store_id, region FROM {database}.dim_store FINAL
) AS d ON s.store_id = d.store_id;

-- migrate:down
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
