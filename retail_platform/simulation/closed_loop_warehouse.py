"""The closed loop's decision step through the production path: warehouse in, warehouse out.

Each simulated morning (day t, before any sale), what the platform would hold after closing day t - 1
is written to the warehouse, the production entry point of the ``stock_optimization`` DAG
(``optimization.warehouse.run_day`` for day t - 1) computes the recommendations from it, and the
simulated buyer reads them back from ``ml_reorder_recommendations`` and places every order due:

* ``fact_sales``: the units sold per store/product on each closed day (one line per store/product and
  day: the recommendations read daily units and revenue, not baskets), the warm-up history on the first
  morning;
* ``fact_inventory``: the end-of-day snapshot of day t - 1: on hand, stock on order (units ordered and
  not yet shelved: what the daily load carries from the purchase orders), received and sold;
* ``ml_demand_forecast``: the forecast made on day t - 1 for t .. t + 6, written as the batch
  predictions write theirs (80 % interval). The forecaster is the baseline (28-day moving average x
  store day-of-week profile, ``forecasting/baselines.py``) over the sales the warehouse holds: the GBT
  model is trained and scored in Spark, which a 60-day loop of a few seconds a day cannot include;
* the dimensions and the initial reorder policy: the catalogue's (``catalog_load``).

Demand, lead times and the shelving of deliveries stay in the simulation (closed_loop.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock_time
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from clickhouse_connect.driver.client import Client

from retail_platform.forecasting.baselines import baseline_forecast
from retail_platform.optimization.anomalies import Z_80
from retail_platform.optimization.policy import OptimizationConfig
from retail_platform.optimization.warehouse import FORECASTS, RECOMMENDATIONS, run_day
from retail_platform.simulation.catalog import Catalog
from retail_platform.simulation.catalog_load import load_warehouse
from retail_platform.simulation.closed_loop import ClosedLoopConfig, DayState, Decide, Decider, Decision

FORECAST_HORIZONS = 7  # what the batch predictions write (ml_demand_forecast.horizon 1..7)
MODEL_VERSION = "baseline-ma-dow"
UTC = timezone.utc


@dataclass
class Timings:
    """Seconds spent per simulated day in each part of the production path."""

    write_facts: list[float] = field(default_factory=list)
    write_forecasts: list[float] = field(default_factory=list)
    run_day: list[float] = field(default_factory=list)
    read_back: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {name: round(float(np.mean(values)), 3) for name, values in vars(self).items() if values}


@dataclass(frozen=True)
class Cells:
    """The catalogue's store/product cells, in the loop's order (store-major)."""

    store_ids: list[str]
    product_ids: list[str]
    category: list[str]
    supplier_id: list[str]
    unit_price: list[Decimal]
    unit_cost: list[Decimal]

    @classmethod
    def of(cls, catalog: Catalog) -> Cells:
        n_stores = len(catalog.stores)
        products = catalog.products
        return cls(
            [s for s in catalog.store_ids for _ in products],
            list(catalog.product_ids) * n_stores,
            [p.category for p in products] * n_stores,
            [p.supplier_id for p in products] * n_stores,
            [Decimal(str(p.unit_price)) for p in products] * n_stores,
            [Decimal(str(p.unit_cost)) for p in products] * n_stores,
        )

    def index(self) -> dict[tuple[str, str], int]:
        return {(s, p): i for i, (s, p) in enumerate(zip(self.store_ids, self.product_ids, strict=True))}


def _noon(day: date) -> datetime:
    return datetime.combine(day, clock_time(12), tzinfo=UTC)


def sales_rows(cells: Cells, day: date, units: np.ndarray, batch_id: str) -> list[list[Any]]:
    """fact_sales rows of one day: one line per store/product that sold something."""
    rows = []
    for i in np.flatnonzero(units > 0):
        rows.append(
            [f"{day.isoformat()}:{i}", f"{day.isoformat()}:{i}", day, _noon(day), cells.store_ids[i],
             cells.product_ids[i], cells.category[i], int(units[i]), cells.unit_price[i], cells.unit_cost[i],
             batch_id]
        )  # fmt: skip
    return rows


SALES_COLUMNS = ["sale_id", "transaction_id", "date_key", "event_time", "store_id", "product_id", "category",
                 "quantity", "unit_price", "unit_cost", "batch_id"]  # fmt: skip
INVENTORY_COLUMNS = ["date_key", "store_id", "product_id", "category", "supplier_id", "quantity_on_hand",
                     "quantity_on_order", "quantity_received", "quantity_sold", "reorder_point", "safety_stock",
                     "unit_cost", "last_event_id", "last_event_time", "batch_id"]  # fmt: skip


def inventory_rows(
    cells: Cells, day: date, on_hand: np.ndarray, on_order: np.ndarray, received: np.ndarray, sold: np.ndarray,
    batch_id: str,
) -> list[list[Any]]:  # fmt: skip
    """fact_inventory rows of one day's end (every store/product)."""
    at = _noon(day)
    return [
        [day, cells.store_ids[i], cells.product_ids[i], cells.category[i], cells.supplier_id[i], int(on_hand[i]),
         int(on_order[i]), int(received[i]), int(sold[i]), 0, 0, cells.unit_cost[i], f"{day.isoformat()}:{i}", at,
         batch_id]
        for i in range(len(cells.store_ids))
    ]  # fmt: skip


def forecast_frame(
    cells: Cells, made_on: date, daily: np.ndarray, sigma: np.ndarray, created_at: datetime
) -> pd.DataFrame:
    """ml_demand_forecast rows of the forecast made on ``made_on``: horizons 1..7, the 80 % interval
    from the forecaster's daily standard deviation (lower bound at 0, as quantiles of units are)."""
    n, horizons = daily.shape
    pred = np.clip(daily, 0.0, None)
    spread = Z_80 * np.repeat(np.asarray(sigma, dtype=float)[:, None], horizons, axis=1)
    return pd.DataFrame(
        {
            "forecast_date": made_on,
            "store_id": np.repeat(cells.store_ids, horizons),
            "product_id": np.repeat(cells.product_ids, horizons),
            "target_date": [made_on + timedelta(days=h + 1) for _ in range(n) for h in range(horizons)],
            "horizon": np.tile(np.arange(1, horizons + 1, dtype=np.uint8), n),
            "predicted_units": pred.ravel(),
            "lower_units": np.clip(pred - spread, 0.0, None).ravel(),
            "upper_units": (pred + spread).ravel(),
            "model_version": MODEL_VERSION,
            "created_at": created_at,
        }
    )


def read_orders(client: Client, database: str, day: date, index: dict[tuple[str, str], int], n: int) -> Decision:
    """The recommendations of ``day`` as the buyer reads them: units to order now per cell, and which
    orders the shelf-life rule or the store's capacity cut (their ``reason``)."""
    rows = client.query(
        f"SELECT store_id, product_id, order_now, recommended_quantity, reason "
        f"FROM {database}.{RECOMMENDATIONS} FINAL WHERE run_date = %(d)s",
        parameters={"d": day},
    ).result_rows
    quantity = np.zeros(n)
    shelf = np.zeros(n, dtype=bool)
    capacity = np.zeros(n, dtype=bool)
    for store, product, order_now, units, reason in rows:
        i = index[(store, product)]
        quantity[i] = float(units) if order_now else 0.0
        shelf[i] = reason == "shelf_life_limit"
        capacity[i] = reason == "capacity_limit"
    return Decision(quantity, shelf, capacity)


def through_warehouse(client: Client, database: str, timings: Timings | None = None) -> Decider:
    """A ``closed_loop.Decider`` whose decision step is the production path on ``database`` (which must
    hold the platform's schema and nothing of another run)."""
    spent = timings if timings is not None else Timings()

    def decider(catalog: Catalog, config: ClosedLoopConfig) -> Decide:
        load_warehouse(catalog, client=client)
        cells = Cells.of(catalog)
        index = cells.index()
        n_stores, n_products = catalog.shape
        store = np.repeat(np.arange(n_stores), n_products)
        first = config.start - timedelta(days=config.warmup_days)
        optimization: OptimizationConfig = config.optimization
        written = [0]  # calendar days whose sales are in fact_sales

        def decide(state: DayState) -> Decision:
            t, closed = state.t, state.day - timedelta(days=1)
            batch = f"closed_loop:{closed.isoformat()}"
            started = time.perf_counter()
            rows = [r for d in range(written[0], t) for r in
                    sales_rows(cells, first + timedelta(days=d), state.sales[:, d], batch)]  # fmt: skip
            if rows:
                client.insert("fact_sales", rows, column_names=SALES_COLUMNS, database=database)
            written[0] = t
            # End of day t - 1: this morning's deliveries are not shelved yet, so they are on order.
            end_on_hand = state.on_hand - state.arrivals[:, t]
            on_order = state.arrivals[:, t:].sum(axis=1)
            client.insert(
                "fact_inventory",
                inventory_rows(
                    cells, closed, end_on_hand, on_order, state.received[:, t - 1], state.sales[:, t - 1], batch
                ),  # fmt: skip
                column_names=INVENTORY_COLUMNS,
                database=database,
            )
            spent.write_facts.append(time.perf_counter() - started)

            started = time.perf_counter()
            target = np.array([(first + timedelta(days=t + h)).weekday() for h in range(FORECAST_HORIZONS)])
            forecast = baseline_forecast(
                state.sales[:, :t], state.weekdays[:t], target, store, window=config.forecast_window
            )
            frame = forecast_frame(cells, closed, forecast.daily, forecast.sigma, datetime.now(UTC))
            client.insert_df(FORECASTS, frame, database=database)
            spent.write_forecasts.append(time.perf_counter() - started)

            started = time.perf_counter()
            run_day(client, database, closed, optimization, run_id=f"closed_loop:{closed.isoformat()}")
            spent.run_day.append(time.perf_counter() - started)

            started = time.perf_counter()
            decision = read_orders(client, database, closed, index, len(cells.store_ids))
            spent.read_back.append(time.perf_counter() - started)
            return decision

        return decide

    return decider
