"""What the API reads, as parameterised queries over the serving views.

Stock comes from ``v_stock_current`` (the batch snapshot at the watermark, overridden by the speed
layer's newer events: never both, never double counted), so the API answers what the dashboards
show. Identifiers are always bound parameters (``{name:String}``), never spliced into SQL; the store
scope is applied in the query itself (``store_id IN {stores:Array(String)}``), so a list endpoint
cannot return rows outside the caller's stores.

A product's stock (the hot path: one product, one or a few stores) does not evaluate the whole view:
``_point_stock`` is ``v_stock_current``'s own rule with the product and store filters pushed into each
source (the batch snapshot at the watermark, rt_stock FINAL, the policy), so it reads a few rows by
primary key instead of joining every store/product. The integration tests check that it answers
exactly what the view answers, row for row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from clickhouse_connect.driver.client import Client

from retail_platform.warehouse.client import count

RISK_LEVELS = ("out_of_stock", "below_reorder_point", "high", "medium", "low")

# Risk as v_rt_stock_risk grades it (days of cover at the recent demand rate), applied to the
# serving stock rather than to the speed layer alone.
_STOCK_COLUMNS = """
    s.store_id AS store_id, s.product_id AS product_id, s.quantity_on_hand AS quantity_on_hand,
    s.as_of AS as_of, s.source AS source, s.reorder_point AS reorder_point,
    s.safety_stock AS safety_stock, s.order_quantity AS order_quantity,
    toBool(s.is_stockout) AS is_stockout, toBool(s.is_below_reorder_point) AS is_below_reorder_point,
    if(v.demand_per_day > 0, s.quantity_on_hand / v.demand_per_day, NULL) AS days_of_cover,
    multiIf(s.quantity_on_hand <= 0, 'out_of_stock', s.is_below_reorder_point = 1, 'below_reorder_point',
            ifNull(days_of_cover < 3, 0), 'high', ifNull(days_of_cover < 7, 0), 'medium', 'low') AS risk_level
"""
# The catalogue's current name beside the natural key (an inferred member is named by its key until
# the catalogue arrives; a product the catalogue never had: NULL).
_NAME = """
    LEFT JOIN (SELECT product_id, toNullable(product_name) AS product_name FROM {db}.dim_product FINAL
               WHERE is_current{only}) AS d
      ON s.product_id = d.product_id
"""
_VELOCITY = """
    LEFT JOIN (SELECT store_id, product_id, toNullable(demand_per_day) AS demand_per_day
               FROM {db}.v_rt_sales_velocity) AS v
      ON s.store_id = v.store_id AND s.product_id = v.product_id
"""

# v_stock_current (sql/0008_serving_views.sql) restricted to one product and a store scope. Same speed/
# batch rule, same columns: the speed layer's row wins when it has an event and the batch snapshot has
# none or an older one by (event time, event id). The filters are on sorting-key columns only, so
# they commute with FINAL (every version of a row has the same key). {where} is applied to each source.
_POINT_STOCK = """
    WITH (SELECT max(day) FROM {db}.ops_batch_watermark FINAL) AS watermark
    SELECT s.store_id AS store_id, s.product_id AS product_id, s.quantity_on_hand AS quantity_on_hand,
           s.as_of AS as_of, s.source AS source, p.reorder_point AS reorder_point, p.safety_stock AS safety_stock,
           p.order_quantity AS order_quantity, s.quantity_on_hand <= 0 AS is_stockout,
           s.quantity_on_hand <= p.reorder_point AS is_below_reorder_point
    FROM
    (
        SELECT if(speed, r.store_id, f.store_id) AS store_id, if(speed, r.product_id, f.product_id) AS product_id,
               if(speed, r.quantity, toInt64(f.quantity_on_hand)) AS quantity_on_hand,
               if(speed, r.event_time, f.last_event_time) AS as_of, if(speed, 'speed', 'batch') AS source,
               r.event_id != '' AND (f.last_event_id = ''
                   OR (r.event_time, r.event_id) > (f.last_event_time, f.last_event_id)) AS speed
        FROM
        (
            SELECT store_id, product_id, quantity_on_hand, last_event_id, last_event_time
            FROM {db}.fact_inventory FINAL WHERE date_key = watermark AND {where}
        ) AS f
        FULL OUTER JOIN
        (
            SELECT store_id, product_id, quantity, event_time, event_id FROM {db}.rt_stock FINAL WHERE {where}
        ) AS r ON f.store_id = r.store_id AND f.product_id = r.product_id
    ) AS s
    LEFT JOIN
    (
        SELECT store_id, product_id, reorder_point, safety_stock, order_quantity
        FROM {db}.rt_reorder_policy FINAL WHERE {where}
    ) AS p ON s.store_id = p.store_id AND s.product_id = p.product_id
"""
# The demand rate for the risk level: v_rt_sales_velocity filtered on its GROUP BY keys, which the
# engine pushes down into the view (it aggregates the product's rows only).
_POINT_VELOCITY = """
    LEFT JOIN (SELECT store_id, product_id, toNullable(demand_per_day) AS demand_per_day
               FROM {db}.v_rt_sales_velocity WHERE {where}) AS v
      ON s.store_id = v.store_id AND s.product_id = v.product_id
"""


@dataclass(frozen=True)
class Scope:
    """Stores a query may return: None = every store."""

    stores: tuple[str, ...] | None

    def clause(self, column: str) -> str:
        return "1" if self.stores is None else f"{column} IN {{scope:Array(String)}}"

    def params(self) -> dict[str, Any]:
        return {} if self.stores is None else {"scope": list(self.stores)}


def _rows(client: Client, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=params)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


class Reads:
    def __init__(self, client: Client, database: str) -> None:
        self.client = client
        self.db = database

    def product_exists(self, product_id: str) -> bool:
        sql = f"SELECT count() FROM {self.db}.dim_product WHERE product_id = {{p:String}}"
        return bool(self.client.command(sql, parameters={"p": product_id}))

    def store_exists(self, store_id: str) -> bool:
        sql = f"SELECT count() FROM {self.db}.dim_store WHERE store_id = {{s:String}}"
        return bool(self.client.command(sql, parameters={"s": store_id}))

    def product_stock(self, product_id: str, scope: Scope) -> list[dict[str, Any]]:
        """A product's stock in the scope's stores: v_stock_current's rows, read by primary key."""
        where = f"product_id = {{p:String}} AND {scope.clause('store_id')}"
        name = _NAME.format(db=self.db, only=" AND product_id = {p:String}")
        sql = (
            f"SELECT {_STOCK_COLUMNS}, d.product_name AS product_name"
            f" FROM ({_POINT_STOCK.format(db=self.db, where=where)}) AS s"
            f" {_POINT_VELOCITY.format(db=self.db, where=where)} {name} ORDER BY s.store_id"
        )
        return _rows(self.client, sql, {"p": product_id, **scope.params()})

    def all_stock(self) -> list[dict[str, Any]]:
        """Every row of v_stock_current with its risk and name (what product_stock answers, for all products):
        the API's in-memory copy (snapshot.py)."""
        sql = (
            f"SELECT {_STOCK_COLUMNS}, d.product_name AS product_name"
            f" FROM {self.db}.v_stock_current AS s {_VELOCITY.format(db=self.db)} {_NAME.format(db=self.db, only='')}"
        )
        return _rows(self.client, sql, {})

    def store_stock(
        self, store_id: str, *, category: str | None, risk: str | None, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        where = ["s.store_id = {s:String}"]
        params: dict[str, Any] = {"s": store_id, "limit": limit, "offset": offset}
        if category is not None:
            where.append("d.category = {c:String}")
            params["c"] = category
        if risk is not None:
            where.append("risk_level = {r:String}")
            params["r"] = risk
        base = (
            f"SELECT {_STOCK_COLUMNS}, d.product_name AS product_name, d.category AS category"
            f" FROM {self.db}.v_stock_current AS s {_VELOCITY.format(db=self.db)}"
            f" LEFT JOIN (SELECT product_id, product_name, category FROM {self.db}.dim_product FINAL"
            f"            WHERE is_current) AS d ON s.product_id = d.product_id"
            f" WHERE {' AND '.join(where)}"
        )
        sql = (
            f"SELECT *, count() OVER () AS total FROM ({base}) ORDER BY product_id"
            " LIMIT {limit:UInt32} OFFSET {offset:UInt32}"
        )
        rows = _rows(self.client, sql, params)
        total = int(rows[0].pop("total")) if rows else 0
        for row in rows[1:]:
            row.pop("total")
        if not rows and offset:
            total = count(self.client, f"SELECT count() FROM ({base})", params)
        return total, rows

    def reorder_alerts(self, scope: Scope, limit: int) -> list[dict[str, Any]]:
        sql = (
            f"SELECT {_STOCK_COLUMNS}, d.product_name AS product_name, s.order_quantity AS recommended_quantity"
            f" FROM {self.db}.v_stock_current AS s {_VELOCITY.format(db=self.db)} {_NAME.format(db=self.db, only='')}"
            f" WHERE s.is_below_reorder_point = 1 AND {scope.clause('s.store_id')}"
            " ORDER BY s.quantity_on_hand - toInt64(s.reorder_point), s.store_id, s.product_id"
            " LIMIT {limit:UInt32}"
        )
        return _rows(self.client, sql, {"limit": limit, **scope.params()})

    def forecast(self, store_id: str, product_id: str) -> list[dict[str, Any]]:
        sql = (
            "SELECT forecast_date, target_date, horizon, predicted_units, lower_units, upper_units, model_version"
            f" FROM {self.db}.ml_demand_forecast FINAL"
            " WHERE store_id = {s:String} AND product_id = {p:String} AND forecast_date ="
            f"  (SELECT max(forecast_date) FROM {self.db}.ml_demand_forecast"
            "   WHERE store_id = {s:String} AND product_id = {p:String})"
            " ORDER BY target_date"
        )
        return _rows(self.client, sql, {"s": store_id, "p": product_id})

    def recommendation(self, store_id: str, product_id: str) -> dict[str, Any] | None:
        sql = (
            "SELECT run_date, safety_stock, reorder_point, order_quantity, eoq, quantity_on_hand, quantity_on_order,"
            " order_now, recommended_quantity, order_by_date, reason, forecast_daily_units, days_of_cover,"
            f" service_level, model_version, policy_version FROM {self.db}.v_reorder_recommendations"
            " WHERE store_id = {s:String} AND product_id = {p:String}"
        )
        rows = _rows(self.client, sql, {"s": store_id, "p": product_id})
        return rows[0] if rows else None

    def stock_level(self, store_id: str, product_id: str) -> tuple[int, datetime | None]:
        """(units on hand, as-of) of one store/product; (0, None) when nothing is known yet."""
        where = "store_id = {s:String} AND product_id = {p:String}"
        sql = f"SELECT quantity_on_hand, as_of FROM ({_POINT_STOCK.format(db=self.db, where=where)})"
        rows = self.client.query(sql, parameters={"s": store_id, "p": product_id}).result_rows
        return (int(rows[0][0]), utc(rows[0][1])) if rows else (0, None)


def utc(value: datetime) -> datetime:
    """The warehouse's DateTime64(3, 'UTC') as an aware datetime (the client may hand it back naive)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value
