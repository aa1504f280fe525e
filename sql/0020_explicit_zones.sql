-- No result may depend on the server's own time zone. today() is the server zone's date: on a
-- server not set to UTC, v_kpi_days_of_supply's 28-day window would shift by that zone's offset
-- against the UTC days it is compared with (date_key and the speed layer's window days are UTC
-- days). The window is now counted in UTC explicitly (today() takes no zone: toDate(now(), 'UTC'));
-- the view's columns are unchanged.

-- migrate:up

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
        WHERE date_key > toDate(now(), 'UTC') - 28 AND date_key IN (SELECT day FROM {database}.ops_batch_watermark FINAL)
        UNION ALL
        SELECT store_id, product_id, units
        FROM {database}.rt_sales_5min
        WHERE toDate(window_start, 'UTC') > toDate(now(), 'UTC') - 28
          AND toDate(window_start, 'UTC') NOT IN (SELECT day FROM {database}.ops_batch_watermark FINAL)
    )
    GROUP BY store_id, product_id
) AS d ON s.store_id = d.store_id AND s.product_id = d.product_id;

-- migrate:down

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
