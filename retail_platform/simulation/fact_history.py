"""Daily-grain simulated history for forecasting tests and the benchmark, inserted straight into the
facts, with the generating process's true expected demand kept beside it.

Loading years of history through the event stream and daily_etl, day by day, is far too slow for a
benchmark of 50 stores x 1,000 products x 2 years. This module draws each store/product/day's demand
from the simulator's own process (``retail_platform.simulation.demand``: base rate x weekday x season x
promotion uplift, compound-Poisson units) at daily grain instead of event grain:

* units demanded on a day = sum_k q_k * N_k with N_k ~ Poisson(lines * p_k) over the line quantities
  q_k and their probabilities p_k: exactly the compound Poisson of the event generator (a Poisson
  number of lines, each with an independent quantity), without drawing the lines one by one;
* stock follows the catalogue's (s, Q) policy: an order of Q arrives after the supplier's lead time
  (rounded to days) once the stock position falls to the reorder point; sales are demand censored by
  the stock on hand, and a day ending at 0 is a stock-out (censored demand);
* prices come from the promotion calendar (the price charged that day);
* the calendar days are the stores' local days and ``date_key`` is that local day (the event-grain
  facts use UTC days; at daily grain there is no event time to convert, so ``event_time`` is noon UTC
  of the day).

``fact_sales`` gets one row per store/product/day with sales (sale_id ``syn-<store>-<product>-<day>``,
quantity = the day's units), ``fact_inventory`` one row per store/product/day. ``expected_units`` is
the process's mean for the day: the best possible forecast, whose error is the irreducible error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cached_property

import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from retail_platform.simulation import demand
from retail_platform.simulation.catalog import Catalog
from retail_platform.simulation.catalog_load import load_warehouse as load_catalog_dimensions
from retail_platform.simulation.history import HistoryRange

MONEY = pa.decimal128(18, 2)
_STREAM = 0x53594E44  # "SYND": this module's random stream, apart from the catalogue's and the generator's
# Fixed-date public holidays written to dim_date for the generated range (a calendar feature; the
# simulated demand has no holiday effect, so the model should learn to ignore it).
HOLIDAYS = {(1, 1): "New Year's Day", (5, 1): "Labour Day", (12, 25): "Christmas Day", (12, 26): "Boxing Day"}
_CALENDAR_VERSION = datetime(1970, 1, 1, tzinfo=timezone.utc)  # any real calendar load wins


@dataclass(frozen=True)
class SyntheticConfig(HistoryRange):
    """The range (stores' local days) and fleet of a daily-grain history."""

    days: int = 730


@dataclass(frozen=True)
class SyntheticHistory:
    """Arrays are ``[store, product, day]``; day i is ``first_day + i``."""

    config: SyntheticConfig
    catalog: Catalog
    expected_units: np.ndarray  # float64: the process's mean demand (the oracle forecast)
    demand_units: np.ndarray  # int32: units demanded (uncensored draw)
    sold_units: np.ndarray  # int32: units sold = demand censored by stock
    on_hand: np.ndarray  # int32: end-of-day stock
    price_cents: np.ndarray  # int64 [product, day]: price charged

    @property
    def first_day(self) -> date:
        return self.config.first_day

    @cached_property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.config.days)]

    @property
    def stockout(self) -> np.ndarray:
        return self.on_hand <= 0


def _decimal_from_cents(cents: np.ndarray) -> pa.Array:
    """Exact Decimal(18, 2) values from integer cents: the decimal's unscaled integer *is* the cents,
    stored as 16-byte little-endian two's complement (low word, then the sign extension)."""
    low = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((low.size, 2), dtype=np.int64)
    words[:, 0] = low
    words[:, 1] = np.where(low < 0, -1, 0)
    return pa.Array.from_buffers(MONEY, low.size, [None, pa.py_buffer(words.tobytes())])


def _compound_poisson(rng: np.random.Generator, lines: np.ndarray) -> np.ndarray:
    units = np.zeros(lines.shape, dtype=np.int64)
    for q, p in zip(demand.QUANTITIES, demand.QUANTITY_PROBABILITIES, strict=True):
        units += int(q) * rng.poisson(lines * p)
    return units


def generate(config: SyntheticConfig) -> SyntheticHistory:
    """Draw the history (deterministic for a config)."""
    catalog = config.catalog()
    n_stores, n_products = catalog.shape
    expected = demand.expected_daily_demand(catalog, config.first_day, config.days)
    rng = np.random.default_rng([config.seed, _STREAM, config.first_day.toordinal(), config.days])
    demanded = np.empty((n_stores, n_products, config.days), dtype=np.int32)
    for s in range(n_stores):  # per store: bounded temporaries at benchmark scale
        demanded[s] = _compound_poisson(rng, expected.lines[s])

    sold = np.empty_like(demanded)
    on_hand_days = np.empty_like(demanded)
    lead = np.maximum(np.rint(catalog.lead_time_mean), 1).astype(np.int64)  # [product]
    rop, q = catalog.reorder_point, catalog.order_quantity
    on_hand = catalog.initial_stock.astype(np.int64).copy()
    on_order = np.zeros_like(on_hand)
    arrival_day = np.full(on_hand.shape, -1, dtype=np.int64)  # -1: no open order
    for d in range(config.days):
        arriving = arrival_day == d
        on_hand += np.where(arriving, on_order, 0)
        on_order = np.where(arriving, 0, on_order)
        arrival_day = np.where(arriving, -1, arrival_day)
        today = np.minimum(demanded[:, :, d], on_hand)
        on_hand -= today
        reorder = (arrival_day < 0) & (on_hand <= rop)
        on_order = np.where(reorder, q, on_order)
        arrival_day = np.where(reorder, d + lead[None, :], arrival_day)
        sold[:, :, d] = today
        on_hand_days[:, :, d] = on_hand

    ordinals = [config.first_day.toordinal() + i for i in range(config.days)]
    prices = np.stack([catalog.promotions.prices(o) for o in ordinals], axis=1)  # [product, day]
    return SyntheticHistory(config, catalog, expected.units, demanded, sold, on_hand_days, prices)


def _day_block(history: SyntheticHistory, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat (store, product, day) indices of days [start, stop), day-major then store, product."""
    n_stores, n_products = history.catalog.shape
    d, s, p = np.meshgrid(np.arange(start, stop), np.arange(n_stores), np.arange(n_products), indexing="ij")
    return s.ravel(), p.ravel(), d.ravel()


def _dates(history: SyntheticHistory, day_index: np.ndarray) -> pa.Array:
    epoch_days = (history.first_day - date(1970, 1, 1)).days
    return pa.array((day_index + epoch_days).astype(np.int32), pa.date32())


def _noon(history: SyntheticHistory, day_index: np.ndarray) -> pa.Array:
    epoch_days = (history.first_day - date(1970, 1, 1)).days
    ms = (day_index + epoch_days).astype(np.int64) * 86_400_000 + 43_200_000
    return pa.array(ms, pa.timestamp("ms", tz="UTC"))


def sales_table(history: SyntheticHistory, start: int, stop: int, batch_id: str) -> pa.Table:
    """fact_sales rows of days [start, stop): one per store/product/day with units sold."""
    s, p, d = _day_block(history, start, stop)
    qty = history.sold_units[s, p, d]
    keep = qty > 0
    s, p, d, qty = s[keep], p[keep], d[keep], qty[keep]
    cat = history.catalog
    store_ids = np.array(cat.store_ids, dtype=object)
    product_ids = np.array(cat.product_ids, dtype=object)
    categories = np.array([x.category for x in cat.products], dtype=object)
    cost_cents = np.array([int(x.unit_cost * 100) for x in cat.products], dtype=np.int64)
    day_text = np.array([day.strftime("%Y%m%d") for day in history.days], dtype=object)
    sale_ids = "syn-" + store_ids[s] + "-" + product_ids[p] + "-" + day_text[d]
    return pa.table(
        {
            "sale_id": pa.array(sale_ids.tolist(), pa.string()),
            "date_key": _dates(history, d),
            "event_time": _noon(history, d),
            "store_id": pa.array(store_ids[s].tolist(), pa.string()),
            "product_id": pa.array(product_ids[p].tolist(), pa.string()),
            "category": pa.array(categories[p].tolist(), pa.string()),
            "payment_method": pa.array(["synthetic"] * len(s), pa.string()),
            "quantity": pa.array(qty.astype(np.int32)),
            "unit_price": _decimal_from_cents(history.price_cents[p, d]),
            "unit_cost": _decimal_from_cents(cost_cents[p]),
            "batch_id": pa.array([batch_id] * len(s), pa.string()),
        }
    )


def inventory_table(history: SyntheticHistory, start: int, stop: int, batch_id: str) -> pa.Table:
    """fact_inventory rows of days [start, stop): one per store/product/day."""
    s, p, d = _day_block(history, start, stop)
    cat = history.catalog
    store_ids = np.array(cat.store_ids, dtype=object)
    product_ids = np.array(cat.product_ids, dtype=object)
    categories = np.array([x.category for x in cat.products], dtype=object)
    suppliers = np.array([x.supplier_id for x in cat.products], dtype=object)
    cost_cents = np.array([int(x.unit_cost * 100) for x in cat.products], dtype=np.int64)
    epoch_days = (history.first_day - date(1970, 1, 1)).days
    end_of_day = (d + epoch_days + 1).astype(np.int64) * 86_400_000 - 1
    return pa.table(
        {
            "date_key": _dates(history, d),
            "store_id": pa.array(store_ids[s].tolist(), pa.string()),
            "product_id": pa.array(product_ids[p].tolist(), pa.string()),
            "category": pa.array(categories[p].tolist(), pa.string()),
            "supplier_id": pa.array(suppliers[p].tolist(), pa.string()),
            "quantity_on_hand": pa.array(history.on_hand[s, p, d].astype(np.int32)),
            "quantity_sold": pa.array(history.sold_units[s, p, d].astype(np.int32)),
            "reorder_point": pa.array(cat.reorder_point[s, p].astype(np.uint32)),
            "safety_stock": pa.array(cat.safety_stock[s, p].astype(np.uint32)),
            "unit_cost": _decimal_from_cents(cost_cents[p]),
            "last_event_time": pa.array(end_of_day, pa.timestamp("ms", tz="UTC")),
            "batch_id": pa.array([batch_id] * len(s), pa.string()),
        }
    )


def _labels(values: list[str], index: np.ndarray) -> pa.Array:
    """``values[index]`` as a string array, built in Arrow (no Python object per row)."""
    return pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), pa.array(values, pa.string())).cast(
        pa.string()
    )


def oracle_table(history: SyntheticHistory) -> pa.Table:
    """(store_id, product_id, date, expected_units): the generating process's mean demand per day."""
    s, p, d = _day_block(history, 0, history.config.days)
    cat = history.catalog
    return pa.table(
        {
            "store_id": _labels(cat.store_ids, s),
            "product_id": _labels(cat.product_ids, p),
            "date": _dates(history, d),
            "expected_units": pa.array(history.expected_units[s, p, d]),
        }
    )


def month_blocks(history: SyntheticHistory) -> Iterator[tuple[int, int]]:
    """[start, stop) day indices of each calendar month of the history (the facts' partitions)."""
    start = 0
    for i in range(1, len(history.days) + 1):
        if i == len(history.days) or history.days[i].month != history.days[start].month:
            yield start, i
            start = i


def calendar_rows(history: SyntheticHistory) -> tuple[list[str], list[list[object]]]:
    rows = [
        [day, (day.month, day.day) in HOLIDAYS, HOLIDAYS.get((day.month, day.day), ""), _CALENDAR_VERSION, "synthetic"]
        for day in history.days
    ]
    return ["date_key", "is_holiday", "holiday_name", "updated_at", "batch_id"], rows


def load_warehouse(history: SyntheticHistory, client: Client, database: str | None = None) -> dict[str, int]:
    """Insert the catalogue's dimensions, dim_date and the facts (month by month); returns rows per table.

    Meant for an empty scratch warehouse (tests, benchmark): plain inserts, not the daily load's
    partition replacement. The facts' ReplacingMergeTree makes a repeated load converge (same keys).
    """
    db = database or client.database
    batch = f"synthetic-{history.catalog.fingerprint}-{history.config.seed}"
    load_catalog_dimensions(history.catalog, client=client)
    columns, rows = calendar_rows(history)
    client.insert("dim_date", rows, column_names=columns, database=db)
    counts = {"fact_sales": 0, "fact_inventory": 0, "dim_date": len(rows)}
    for start, stop in month_blocks(history):
        sales = sales_table(history, start, stop, batch)
        inventory = inventory_table(history, start, stop, batch)
        client.insert_arrow("fact_sales", sales, database=db)
        client.insert_arrow("fact_inventory", inventory, database=db)
        counts["fact_sales"] += sales.num_rows
        counts["fact_inventory"] += inventory.num_rows
    return counts


def daily_tables(history: SyntheticHistory) -> dict[str, pa.Table]:
    """The daily inputs of the feature computation as the warehouse queries return them (sales:
    store_id, product_id, date, units, revenue, only days with sales; inventory: store_id, product_id,
    date, stockout; prices: product_id, valid_from, valid_to, regular_price): Spark tests build
    DataFrames from these without a warehouse."""
    s, p, d = _day_block(history, 0, history.config.days)
    cat = history.catalog
    store_ids = np.array(cat.store_ids, dtype=object)
    product_ids = np.array(cat.product_ids, dtype=object)
    units = history.sold_units[s, p, d].astype(np.float64)
    keep = units > 0
    sales = pa.table(
        {
            "store_id": pa.array(store_ids[s[keep]].tolist(), pa.string()),
            "product_id": pa.array(product_ids[p[keep]].tolist(), pa.string()),
            "date": _dates(history, d[keep]),
            "units": pa.array(units[keep]),
            "revenue": pa.array(units[keep] * history.price_cents[p[keep], d[keep]] / 100.0),
        }
    )
    inventory = pa.table(
        {
            "store_id": pa.array(store_ids[s].tolist(), pa.string()),
            "product_id": pa.array(product_ids[p].tolist(), pa.string()),
            "date": _dates(history, d),
            "stockout": pa.array(history.stockout[s, p, d]),
        }
    )
    prices = pa.table(
        {
            "product_id": pa.array(cat.product_ids, pa.string()),
            "valid_from": pa.array([date(2020, 1, 1)] * len(cat.products), pa.date32()),
            "valid_to": pa.array([date(2299, 12, 31)] * len(cat.products), pa.date32()),
            "regular_price": pa.array([float(x.unit_price) for x in cat.products]),
        }
    )
    return {"sales": sales, "inventory": inventory, "prices": prices}
