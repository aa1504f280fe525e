-- The catalogue's name beside the natural key on the live store-manager views, so the dashboards'
-- tables show what a product is, not only its code (the API answers carry it too).
--
-- * v_rt_stock_risk (live stock and stock-out risk) and v_restock_alerts (the stream's alerts) gain
--   product_name, from the product's current version in dim_product: a renamed product shows its
--   new name on past alerts too, as a store manager expects of a label. NULL for a product the
--   catalogue has never held (an inferred member is named by its key until the catalogue arrives).
-- * Same grain and the same other columns as before; v_reorder_recommendations already has the name.
-- * Down restores the definitions of 0006 and 0021. No data moves.
-- migrate:up
CREATE OR REPLACE VIEW {database}.v_rt_stock_risk AS
SELECT
    s.store_id AS store_id,
    s.product_id AS product_id,
    d.product_name AS product_name,
    s.quantity AS current_stock,
    s.event_time AS stock_as_of,
    p.reorder_point AS reorder_point,
    p.order_quantity AS order_quantity,
    v.units_24h AS units_24h,
    v.avg_daily_units_7d AS avg_daily_units_7d,
    v.demand_per_day AS demand_per_day,
    if(v.demand_per_day > 0, s.quantity / v.demand_per_day, NULL) AS days_of_cover,
    multiIf(
        s.quantity <= 0, 'out_of_stock',
        ifNull(s.quantity <= p.reorder_point, 0), 'below_reorder_point',
        ifNull(days_of_cover < 3, 0), 'high',
        ifNull(days_of_cover < 7, 0), 'medium',
        'low'
    ) AS risk_level,
    multiIf(
        s.quantity <= 0, 1.,
        days_of_cover IS NULL, 0.,
        greatest(0., least(1., 1. - days_of_cover / 14))
    ) AS risk_score
FROM
(
    SELECT store_id, product_id, quantity, event_time FROM {database}.rt_stock FINAL
) AS s
LEFT JOIN
(
    SELECT store_id, product_id, toNullable(reorder_point) AS reorder_point,
           toNullable(order_quantity) AS order_quantity
    FROM {database}.rt_reorder_policy FINAL
) AS p ON s.store_id = p.store_id AND s.product_id = p.product_id
LEFT JOIN
(
    SELECT store_id, product_id, toNullable(units_24h) AS units_24h,
           toNullable(avg_daily_units_7d) AS avg_daily_units_7d, toNullable(demand_per_day) AS demand_per_day
    FROM {database}.v_rt_sales_velocity
) AS v ON s.store_id = v.store_id AND s.product_id = v.product_id
LEFT JOIN
(
    SELECT product_id, toNullable(product_name) AS product_name FROM {database}.dim_product FINAL WHERE is_current
) AS d ON s.product_id = d.product_id;

CREATE OR REPLACE VIEW {database}.v_restock_alerts AS
SELECT a.event_id AS event_id, a.event_time AS event_time, a.store_id AS store_id, a.product_id AS product_id,
       d.product_name AS product_name, a.current_stock AS current_stock, a.reorder_point AS reorder_point,
       a.recommended_quantity AS recommended_quantity
FROM {database}.rt_restock_alerts AS a FINAL
LEFT JOIN
(
    SELECT product_id, toNullable(product_name) AS product_name FROM {database}.dim_product FINAL WHERE is_current
) AS d ON a.product_id = d.product_id;

-- migrate:down
CREATE OR REPLACE VIEW {database}.v_restock_alerts AS
SELECT event_id, event_time, store_id, product_id, current_stock, reorder_point, recommended_quantity
FROM {database}.rt_restock_alerts FINAL;

CREATE OR REPLACE VIEW {database}.v_rt_stock_risk AS
SELECT
    s.store_id AS store_id,
    s.product_id AS product_id,
    s.quantity AS current_stock,
    s.event_time AS stock_as_of,
    p.reorder_point AS reorder_point,
    p.order_quantity AS order_quantity,
    v.units_24h AS units_24h,
    v.avg_daily_units_7d AS avg_daily_units_7d,
    v.demand_per_day AS demand_per_day,
    if(v.demand_per_day > 0, s.quantity / v.demand_per_day, NULL) AS days_of_cover,
    multiIf(
        s.quantity <= 0, 'out_of_stock',
        ifNull(s.quantity <= p.reorder_point, 0), 'below_reorder_point',
        ifNull(days_of_cover < 3, 0), 'high',
        ifNull(days_of_cover < 7, 0), 'medium',
        'low'
    ) AS risk_level,
    multiIf(
        s.quantity <= 0, 1.,
        days_of_cover IS NULL, 0.,
        greatest(0., least(1., 1. - days_of_cover / 14))
    ) AS risk_score
FROM
(
    SELECT store_id, product_id, quantity, event_time FROM {database}.rt_stock FINAL
) AS s
LEFT JOIN
(
    SELECT store_id, product_id, toNullable(reorder_point) AS reorder_point,
           toNullable(order_quantity) AS order_quantity
    FROM {database}.rt_reorder_policy FINAL
) AS p ON s.store_id = p.store_id AND s.product_id = p.product_id
LEFT JOIN
(
    SELECT store_id, product_id, toNullable(units_24h) AS units_24h,
           toNullable(avg_daily_units_7d) AS avg_daily_units_7d, toNullable(demand_per_day) AS demand_per_day
    FROM {database}.v_rt_sales_velocity
) AS v ON s.store_id = v.store_id AND s.product_id = v.product_id;
