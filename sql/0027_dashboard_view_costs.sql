-- Two dashboard views that read every sale line's day over the whole history, found by the dashboards
-- benchmark (bench/dashboards.py) over 100M sale lines (20M store/product/day rows), where each took
-- 11-19 s per chart and the Executive and Store Manager dashboards did not load within two minutes:
--
-- * v_store_daily (grain store_id, date) summed v_sales_daily, the store/product/day view, back to
--   store/day: every closed day's agg_sales_daily rows grouped twice. The closed days now come from
--   agg_store_daily (the store/day totals the daily load already writes from agg_sales_daily: the
--   same units, revenue and sale lines), the open days from the speed layer as in v_sales_daily. A
--   store/day is a row when it had sale lines (sale_lines > 0), as before: agg_store_daily also holds
--   store/days with snapshots only. Same columns, same grain, the same figures.
-- * v_demand_forecast_latest joined the actual units of every day after the newest forecast date, so
--   with no forecast yet (newest = 1970-01-01) it read all of v_sales_daily. The actuals are now
--   bounded by the newest forecast's last target date (the join needs no day beyond it); with no
--   forecast the range is empty. Same columns, same rows.
--
-- Down restores the definitions of 0025 and 0021. No data moves.
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
    SELECT store_id, date, sum(revenue) AS revenue, sum(units) AS units, sum(lines) AS sale_lines
    FROM
    (
        SELECT store_id, date_key AS date, revenue, units, sale_lines AS lines
        FROM {database}.agg_store_daily FINAL
        WHERE sale_lines > 0 AND date_key IN (SELECT day FROM {database}.ops_batch_watermark FINAL)
        UNION ALL
        SELECT store_id, toDate(window_start) AS date, revenue, units, transactions AS lines
        FROM {database}.rt_sales_5min
        WHERE toDate(window_start) NOT IN (SELECT day FROM {database}.ops_batch_watermark FINAL)
    )
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

CREATE OR REPLACE VIEW {database}.v_demand_forecast_latest AS
WITH
    (SELECT max(forecast_date) FROM {database}.ml_demand_forecast) AS newest,
    (
        SELECT max(target_date) FROM {database}.ml_demand_forecast
        WHERE forecast_date = (SELECT max(forecast_date) FROM {database}.ml_demand_forecast)
    ) AS last_target
SELECT
    f.forecast_date AS forecast_date,
    f.store_id AS store_id,
    f.product_id AS product_id,
    f.target_date AS target_date,
    f.horizon AS horizon,
    f.predicted_units AS predicted_units,
    f.lower_units AS lower_units,
    f.upper_units AS upper_units,
    f.model_version AS model_version,
    a.units AS actual_units
FROM (SELECT * FROM {database}.ml_demand_forecast FINAL WHERE forecast_date = newest) AS f
LEFT JOIN
(
    SELECT store_id, product_id, date, toNullable(sum(units)) AS units
    FROM {database}.v_sales_daily
    WHERE date > newest AND date <= last_target
    GROUP BY store_id, product_id, date
) AS a ON f.store_id = a.store_id AND f.product_id = a.product_id AND f.target_date = a.date;

-- migrate:down
CREATE OR REPLACE VIEW {database}.v_demand_forecast_latest AS
WITH (SELECT max(forecast_date) FROM {database}.ml_demand_forecast) AS newest
SELECT
    f.forecast_date AS forecast_date,
    f.store_id AS store_id,
    f.product_id AS product_id,
    f.target_date AS target_date,
    f.horizon AS horizon,
    f.predicted_units AS predicted_units,
    f.lower_units AS lower_units,
    f.upper_units AS upper_units,
    f.model_version AS model_version,
    a.units AS actual_units
FROM (SELECT * FROM {database}.ml_demand_forecast FINAL WHERE forecast_date = newest) AS f
LEFT JOIN
(
    SELECT store_id, product_id, date, toNullable(sum(units)) AS units
    FROM {database}.v_sales_daily
    WHERE date > newest
    GROUP BY store_id, product_id, date
) AS a ON f.store_id = a.store_id AND f.product_id = a.product_id AND f.target_date = a.date;

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
