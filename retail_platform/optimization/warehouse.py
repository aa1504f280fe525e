"""The stock optimisation's warehouse side: read one day's inputs, write its outputs.

Inputs of run day D (see sql/0012_stock_optimization.sql for why each source):

* stock: ``fact_inventory`` at D (the newest snapshot on or before D), not ``v_stock_current``: it is the
  exact end-of-day snapshot the forecast of D was made from, it holds ``quantity_on_order`` (the speed
  layer does not), and a re-run of an old day sees the same stock. Intraday drops below the new reorder
  points are the speed layer's job (rt_reorder_policy, written here, drives its restock alerts);
* demand history: ``fact_sales`` over the ``history_days`` ending on D;
* forecasts: ``ml_demand_forecast`` FINAL with forecast_date = D (horizons 1..7); cells without one use
  the baseline forecaster (recommendations.py); the table may not exist yet on a fresh warehouse;
* dimensions: current dim_product, dim_supplier, dim_store (FINAL).

Outputs: ``ml_reorder_recommendations`` and ``ml_inventory_anomalies`` for D, each replaced as a whole day
(stage table + REPLACE PARTITION, atomic; a re-run leaves no stale row of a cell that vanished), and
``rt_reorder_policy`` upserted with policy_source 'stock_optimization' when D is the newest run (a
backfill of an old day must not roll the live policy back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from retail_platform.batch.warehouse_load import replace_day
from retail_platform.optimization.policy import POLICY_SOURCE, OptimizationConfig
from retail_platform.optimization.recommendations import (
    AnomalyInputs,
    Inputs,
    anomaly_rows,
    policy_rows,
    recommend,
)

RECOMMENDATIONS = "ml_reorder_recommendations"
ANOMALIES = "ml_inventory_anomalies"
FORECASTS = "ml_demand_forecast"


def _df(client: Client, sql: str, **parameters: Any) -> pd.DataFrame:
    frame = client.query_df(sql, parameters=parameters)
    if frame.empty and len(frame.columns) == 0:
        # No rows may also mean no columns: keep the query's column names so merges still work.
        names = client.query(f"SELECT * FROM ({sql}) LIMIT 0", parameters=parameters).column_names
        frame = pd.DataFrame(columns=list(names))
    return frame


def table_exists(client: Client, database: str, table: str) -> bool:
    rows = client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": table},
    ).result_rows
    return bool(rows[0][0])


def stock_snapshot(client: Client, database: str, day: date) -> pd.DataFrame:
    """store_id, product_id, quantity_on_hand, quantity_on_order, quantity_received, quantity_sold of the
    newest fact_inventory day on or before ``day`` (empty when there is none)."""
    stock = _df(
        client,
        f"""
        SELECT store_id, product_id, quantity_on_hand, quantity_on_order, quantity_received, quantity_sold, date_key
        FROM {database}.fact_inventory FINAL
        WHERE date_key = (SELECT max(date_key) FROM {database}.fact_inventory WHERE date_key <= {{d:Date}})
        """,
        d=day,
    )
    stock["date_key"] = pd.to_datetime(stock["date_key"]).dt.date  # pandas reads Date as a timestamp
    return stock


def read_inputs(client: Client, database: str, day: date, config: OptimizationConfig) -> tuple[Inputs, pd.DataFrame]:
    """The recommendation inputs of ``day`` and the stock snapshot (with its day) they came from."""
    stock = stock_snapshot(client, database, day)
    products = _df(
        client,
        f"""
        SELECT product_id, argMax(supplier_id, valid_from) AS supplier_id,
               toFloat64(argMax(unit_cost, valid_from)) AS unit_cost,
               toFloat64(argMax(unit_price, valid_from)) AS unit_price,
               argMax(shelf_life_days, valid_from) AS shelf_life_days
        FROM {database}.dim_product FINAL
        WHERE valid_from <= toDateTime64({{d:Date}}, 3, 'UTC') + INTERVAL 1 DAY
        GROUP BY product_id
        """,
        d=day,
    )
    suppliers = _df(
        client,
        f"""
        SELECT supplier_id, toFloat64(lead_time_days) AS lead_time_days,
               toFloat64(lead_time_stddev_days) AS lead_time_stddev_days,
               toFloat64(min_order_quantity) AS min_order_quantity
        FROM {database}.dim_supplier FINAL
        """,
    )
    stores = _df(client, f"SELECT store_id, storage_capacity_units FROM {database}.dim_store FINAL")
    history = _df(
        client,
        f"""
        SELECT store_id, product_id, date_key, toFloat64(sum(quantity)) AS units, toFloat64(sum(revenue)) AS revenue
        FROM {database}.fact_sales FINAL
        WHERE date_key > {{d:Date}} - {{n:UInt32}} AND date_key <= {{d:Date}}
        GROUP BY store_id, product_id, date_key
        """,
        d=day,
        n=config.history_days,
    )
    forecasts = pd.DataFrame(
        columns=["store_id", "product_id", "horizon", "predicted_units", "lower_units", "upper_units", "model_version"]
    )
    if table_exists(client, database, FORECASTS):
        forecasts = _df(
            client,
            f"""
            SELECT store_id, product_id, horizon, predicted_units, lower_units, upper_units, model_version
            FROM {database}.{FORECASTS} FINAL
            WHERE forecast_date = {{d:Date}}
            """,
            d=day,
        )
    inputs = Inputs(
        as_of=day,
        stock=stock[["store_id", "product_id", "quantity_on_hand", "quantity_on_order"]],
        products=products,
        suppliers=suppliers,
        stores=stores,
        history=history,
        forecasts=forecasts,
    )
    return inputs, stock


def read_anomaly_inputs(client: Client, database: str, day: date, stock: pd.DataFrame) -> AnomalyInputs:
    """Day ``day``'s stock (when the snapshot is of that day), the day before, and the forecast made
    for ``day`` by the newest forecast before it."""
    today = stock if len(stock) and stock["date_key"].iloc[0] == day else stock.iloc[0:0]
    yesterday = _df(
        client,
        f"SELECT store_id, product_id, quantity_on_hand FROM {database}.fact_inventory FINAL "
        "WHERE date_key = {d:Date}",
        d=day - timedelta(days=1),
    )
    forecast = pd.DataFrame(
        columns=["store_id", "product_id", "predicted_units", "lower_units", "upper_units", "model_version"]
    )
    if table_exists(client, database, FORECASTS):
        forecast = _df(
            client,
            f"""
            SELECT store_id, product_id,
                   argMax(predicted_units, forecast_date) AS predicted_units,
                   argMax(lower_units, forecast_date) AS lower_units,
                   argMax(upper_units, forecast_date) AS upper_units,
                   argMax(model_version, forecast_date) AS model_version
            FROM {database}.{FORECASTS} FINAL
            WHERE target_date = {{d:Date}} AND forecast_date < {{d:Date}}
            GROUP BY store_id, product_id
            """,
            d=day,
        )
    columns = ["store_id", "product_id", "quantity_on_hand", "quantity_received", "quantity_sold"]
    return AnomalyInputs(day=day, today=today[columns], yesterday=yesterday, forecast_today=forecast)


def newest_run(client: Client, database: str) -> date | None:
    rows = client.query(f"SELECT count(), max(run_date) FROM {database}.{RECOMMENDATIONS}").result_rows
    return rows[0][1] if rows[0][0] else None


@dataclass(frozen=True)
class RunSummary:
    day: date
    stock_day: date | None
    cells: int
    orders_due: int
    units_recommended: int
    below_reorder_point: int
    model_forecast_cells: int
    anomalies: int
    policy_rows: int

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items()}


def run_day(
    client: Client, database: str, day: date, config: OptimizationConfig, run_id: str, now: datetime | None = None
) -> RunSummary:
    """Compute and write one day's recommendations, anomalies and (if newest) reorder policies."""
    now = now or datetime.now(timezone.utc)
    inputs, stock = read_inputs(client, database, day, config)
    recs = recommend(inputs, config, run_id=run_id)
    recs = recs.assign(created_at=now)
    anomalies = anomaly_rows(read_anomaly_inputs(client, database, day, stock), recs, config)
    anomalies = anomalies.assign(run_id=run_id, created_at=now)
    replace_day(client, database, RECOMMENDATIONS, day, recs, day_column="run_date")
    replace_day(client, database, ANOMALIES, day, anomalies, day_column="anomaly_date")

    written_policies = 0
    newest = newest_run(client, database)
    if len(recs) and (newest is None or day >= newest):
        policies = policy_rows(recs, batch_id=run_id).assign(policy_source=POLICY_SOURCE, updated_at=now)
        client.insert_df("rt_reorder_policy", policies, database=database)
        written_policies = len(policies)
    return RunSummary(
        day=day,
        stock_day=stock["date_key"].iloc[0] if len(stock) else None,
        cells=len(recs),
        orders_due=int(recs["order_now"].sum()) if len(recs) else 0,
        units_recommended=int(recs.loc[recs["order_now"], "recommended_quantity"].sum()) if len(recs) else 0,
        below_reorder_point=int(recs["is_below_reorder_point"].sum()) if len(recs) else 0,
        model_forecast_cells=int((recs["model_version"] != "baseline-ma-dow").sum()) if len(recs) else 0,
        anomalies=len(anomalies),
        policy_rows=written_policies,
    )
