"""The event generator: a pure, seeded simulation of the chain over simulated time [start, end).

It walks the simulated time in steps (a divisor of an hour, aligned to multiples of itself) and,
per step, vectorised over every store and product:

1. price changes: when a store's local day changes, products whose promotion state changed get a
   price_change at local midnight (promotions.py);
2. demand: Poisson numbers of sale lines per store/product with the intensities of demand.py (none
   while a store is closed), uniform times within the step, quantities of 1-3 mostly;
   shrinkage (-1.. units) and stock-count adjustments (+/-) at small Poisson rates while open;
   injected stock counts (``GeneratorConfig.stock_counts``) at their moment, and injected demand
   bursts (``demand_bursts``) multiplying one store/product's intensity; deliveries of purchase
   orders due in the step;
3. stock: per store/product in time order, ``stock = max(stock + change, 0)``: a sale sells at most
   what is on the shelf (the rest is a lost sale), shrinkage cannot take more than there is. Done for
   all rows at once with the reflected-random-walk identity
   ``S_i = C_i - min(0, min_{j<=i} C_j)`` where ``C`` is the unconstrained running stock;
4. reordering: the first row after which stock <= reorder point, with no order open, places an order
   of ``order_quantity`` (catalogue); it arrives after a lead time drawn from the supplier's normal
   distribution (at least half a day), as an inventory_update with reason delivery. The order is a
   purchase_order event (placed, expected at the mean lead time), its delivery another (received).

Event times are whole milliseconds, strictly increasing per store/product (a collision is moved
1 ms later) so "latest by event_time" is unambiguous for stock. Random state is keyed by the
catalogue seed, the run seed and the start instant: the same inputs give identical events (ids
included), and a run started at another instant gets fresh ids. No I/O: the Kafka producer
(producer.py) and a history writer consume the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

import numpy as np

from retail_platform.simulation import batch as b
from retail_platform.simulation import demand
from retail_platform.simulation.calendar import HOUR_MS, HourGrid, hour_grid, to_ms
from retail_platform.simulation.catalog import Catalog
from retail_platform.simulation.encoding import Encoder
from retail_platform.simulation.faults import DemandBurst, StockCount

_STREAM = 0x47454E45  # "GENE"
_NEVER = np.iinfo(np.int64).max
DAY_MS = 24 * HOUR_MS
VALID_STEPS = tuple(d for d in range(1, 3601) if 3600 % d == 0)
# Order of rows at one instant: price changes, a sale, its inventory update (and other movements),
# the lost part of the sale, the order it triggered.
_SUB_ORDER = np.array([1, 2, 2, 2, 2, 0, 3, 4, 2], dtype=np.int8)
# A purchase order's events take their ids from the order's id (xor a constant per status): no draw
# from the random stream, so adding them left every other generated value as it was.
_PLACED_ID_MASK = np.array([0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9], dtype=np.uint64)
_RECEIVED_ID_MASK = np.array([0x94D049BB133111EB, 0x2545F4914F6CDD1D], dtype=np.uint64)
_PAYMENT_CDF = np.cumsum(b.PAYMENT_PROBABILITIES)


class StockOp(IntEnum):
    """What moves a stock row of one step; the value is also the order of the rows at one instant
    (a delivery is shelved before an adjustment, shrinkage and a sale at the same millisecond)."""

    DELIVERY = 0
    ADJUSTMENT = 1
    SHRINKAGE = 2
    SALE = 3


@dataclass(frozen=True)
class GeneratorConfig:
    start: datetime
    end: datetime | None = None  # None: unbounded (the consumer stops)
    seed: int = 0  # run seed, combined with the catalogue seed and the start
    step_seconds: int = 60  # must divide 3600
    shrinkage_per_day: float = 0.02  # shrinkage events per store/product per open day
    adjustments_per_day: float = 0.01  # stock-count adjustments per store/product per open day
    anonymous_share: float = 0.35  # sales without a customer id
    customers_per_store: int = 50_000
    stock_counts: tuple[StockCount, ...] = ()  # injected miscounts (faults.StockCount)
    demand_bursts: tuple[DemandBurst, ...] = ()  # injected runs on a product (faults.DemandBurst)

    def __post_init__(self) -> None:
        if self.step_seconds not in VALID_STEPS:
            raise ValueError(f"step_seconds={self.step_seconds} must divide 3600")
        if self.end is not None and to_ms(self.end) <= to_ms(self.start):
            raise ValueError("end must be after start")


class EventGenerator:
    """Iterate ``batches()`` for columnar rows, ``events()`` for contract dicts."""

    def __init__(self, catalog: Catalog, config: GeneratorConfig, initial_stock: np.ndarray | None = None) -> None:
        self.catalog = catalog
        self.config = config
        self.start_ms = to_ms(config.start)
        self.end_ms = to_ms(config.end) if config.end is not None else None
        self.rng = np.random.default_rng([int(catalog.config.seed), _STREAM, int(config.seed), self.start_ms])
        n_stores, n_products = catalog.shape
        self.n_products = n_products
        for injected, what in [(c, "stock count") for c in config.stock_counts] + [
            (d, "demand burst") for d in config.demand_bursts
        ]:
            if injected.store >= n_stores or injected.product >= n_products:
                raise ValueError(
                    f"{what} {injected.describe()}: the catalogue has stores 0..{n_stores - 1} "
                    f"and products 0..{n_products - 1}"
                )
        cells = n_stores * n_products
        initial = catalog.initial_stock if initial_stock is None else np.asarray(initial_stock)
        self.initial_stock = np.array(initial, dtype=np.int64).reshape(cells)
        self.stock = self.initial_stock.copy()
        self.rop = catalog.reorder_point.reshape(cells).astype(np.int64)
        self.order_qty = catalog.order_quantity.reshape(cells).astype(np.int64)
        self.on_order = np.zeros(cells, dtype=bool)
        self.delivery_ms = np.full(cells, _NEVER, dtype=np.int64)
        self.delivery_qty = np.zeros(cells, dtype=np.int64)
        self.delivery_ref = np.zeros((cells, 2), dtype=np.uint64)
        self.last_ms = np.zeros(cells, dtype=np.int64)
        self.timezones = [s.timezone for s in catalog.stores]
        open_hours = np.array([s.close_hour - s.open_hour for s in catalog.stores], dtype=np.float64)
        self.shrink_per_open_hour = config.shrinkage_per_day / open_hours
        self.adjust_per_open_hour = config.adjustments_per_day / open_hours
        self._grid: HourGrid | None = None
        self.encoder = Encoder(catalog)
        # Prices and the day's demand factors in force at the start (no events for them).
        column = self._hour_column(self.start_ms // HOUR_MS)
        self.store_day = column["local_date"].copy()
        self.price = np.stack([catalog.promotions.prices(int(d)) for d in self.store_day])
        self.promo = np.stack([catalog.promotions.on_promotion(int(d)) for d in self.store_day])
        all_stores = np.arange(n_stores)
        self.day_factor = demand.store_day_factors(catalog, all_stores, self.store_day, column["day_of_year"])
        self.now_ms = self.start_ms  # start of the next step
        self.step_end_ms = self.start_ms  # end of the step last yielded
        self._pending_orders = np.flatnonzero(self.stock <= self.rop)  # only with a low initial stock

    # --- calendar ----------------------------------------------------------------------------
    def _hour_column(self, hour: int) -> dict[str, np.ndarray]:
        grid = self._grid
        if grid is None or not grid.first_hour <= hour < grid.first_hour + grid.count:
            grid = self._grid = hour_grid(self.timezones, hour, 48)
        i = hour - grid.first_hour
        return {
            "local_date": grid.local_date[:, i],
            "local_hour": grid.local_hour[:, i],
            "weekday": grid.weekday[:, i],
            "day_of_year": grid.day_of_year[:, i],
        }

    # --- iteration ---------------------------------------------------------------------------
    def batches(self) -> Iterator[b.EventBatch]:
        """One batch per step until ``end`` (forever when end is None)."""
        step = self.config.step_seconds * 1000
        while self.end_ms is None or self.now_ms < self.end_ms:
            a = self.now_ms
            stop = (a // step + 1) * step
            if self.end_ms is not None:
                stop = min(stop, self.end_ms)
            self.step_end_ms = stop
            yield self._step(a, stop)
            self.now_ms = stop

    def events(self) -> Iterator[dict[str, Any]]:
        """The contract events (dicts), in order; a convenience for tests and small tools."""
        for rows in self.batches():
            yield from self.encoder.encode(rows).events()

    # --- one step ----------------------------------------------------------------------------
    def _uuids(self, n: int) -> np.ndarray:
        return self.rng.integers(0, np.iinfo(np.uint64).max, size=(n, 2), dtype=np.uint64, endpoint=True)

    def _price_rows(self, a: int, column: dict[str, np.ndarray]) -> b.EventBatch | None:
        changed = np.flatnonzero(column["local_date"] != self.store_day)
        if changed.size == 0:
            return None
        cat = self.catalog
        days = column["local_date"][changed]
        new_price = np.stack([cat.promotions.prices(int(d)) for d in days])
        new_promo = np.stack([cat.promotions.on_promotion(int(d)) for d in days])
        old_price = self.price[changed]
        old_promo = self.promo[changed]
        rows, products = np.nonzero(new_price != old_price)
        stores = changed[rows]
        self.price[changed] = new_price
        self.promo[changed] = new_promo
        self.store_day[changed] = days
        self.day_factor[changed] = demand.store_day_factors(cat, changed, days, column["day_of_year"][changed])
        n = rows.size
        if n == 0:
            return None
        promo_now = new_promo[rows, products]
        promo_before = old_promo[rows, products]
        reason = np.where(promo_now & ~promo_before, 0, np.where(~promo_now & promo_before, 1, 2)).astype(np.uint8)
        zeros = np.zeros(n, dtype=np.int64)
        return b.EventBatch(
            kind=np.full(n, b.PRICE, dtype=np.uint8),
            store=stores.astype(np.int64),
            product=products.astype(np.int64),
            time_ms=np.full(n, a, dtype=np.int64),
            quantity=zeros,
            new_quantity=zeros,
            price_cents=new_price[rows, products],
            old_price_cents=old_price[rows, products],
            promotion=promo_now,
            price_reason=reason,
            payment=np.zeros(n, dtype=np.uint8),
            customer=zeros,
            event_id=self._uuids(n),
            reference=np.zeros((n, 2), dtype=np.uint64),
            expected_ms=zeros,
        )

    def _step(self, a: int, stop: int) -> b.EventBatch:
        cat, rng, P = self.catalog, self.rng, self.n_products
        column = self._hour_column(a // HOUR_MS)
        price_rows = self._price_rows(a, column)
        dt_hours = (stop - a) / HOUR_MS

        # --- demand and other stock movements requested in [a, stop) ---------------------------
        stores = np.arange(len(cat.stores))
        factor = demand.hour_factors(cat, column["weekday"], column["local_hour"], stores)
        open_stores = np.flatnonzero(factor > 0)
        lam = cat.base_lines[open_stores] * self.day_factor[open_stores] * (factor[open_stores] * dt_hours)[:, None]
        for burst in self.config.demand_bursts:
            if self.start_ms + burst.from_seconds * 1000 <= a < self.start_ms + burst.to_seconds * 1000:
                lam[open_stores == burst.store, burst.product] *= burst.factor
        counts = rng.poisson(lam).ravel()
        open_cells = (open_stores[:, None] * P + np.arange(P)[None, :]).ravel()
        sale_cells = np.repeat(open_cells, counts)
        n_sales = sale_cells.size
        sale_qty = demand.sample_quantities(rng, n_sales)

        shrink_cells = self._random_cells(open_stores, self.shrink_per_open_hour[open_stores] * dt_hours * P)
        shrink_qty = rng.geometric(0.5, shrink_cells.size).astype(np.int64)
        adjust_cells = self._random_cells(open_stores, self.adjust_per_open_hour[open_stores] * dt_hours * P)
        adjust_qty = rng.geometric(0.4, adjust_cells.size).astype(np.int64) * rng.choice([-1, 1], adjust_cells.size)

        due = np.flatnonzero((self.delivery_ms >= a) & (self.delivery_ms < stop))
        count_cells, count_time, count_change = self._stock_counts(a, stop)

        # One StockOp per row, in the order of the concatenation below (injected stock counts are
        # adjustments at their own moment; they draw nothing from the random stream).
        cell = np.concatenate([due, adjust_cells, shrink_cells, count_cells, sale_cells])
        span = stop - a
        other_time = a + (rng.random(adjust_cells.size + shrink_cells.size) * span).astype(np.int64)
        time = np.concatenate([self.delivery_ms[due], other_time, count_time])
        time = np.concatenate([time, a + (rng.random(n_sales) * span).astype(np.int64)])
        change = np.concatenate([self.delivery_qty[due], adjust_qty, -shrink_qty, count_change, -sale_qty])
        op = np.concatenate(
            [
                np.full(due.size, StockOp.DELIVERY, np.int8),
                np.full(adjust_cells.size, StockOp.ADJUSTMENT, np.int8),
                np.full(shrink_cells.size, StockOp.SHRINKAGE, np.int8),
                np.full(count_cells.size, StockOp.ADJUSTMENT, np.int8),
                np.full(n_sales, StockOp.SALE, np.int8),
            ]
        )
        order = np.lexsort((op, time, cell))
        parts: list[tuple[b.EventBatch, np.ndarray]] = []
        if price_rows is not None:
            parts.append((price_rows, np.full(len(price_rows), -1, dtype=np.int64)))
        if cell.size:
            parts.extend(self._apply(cell[order], time[order], change[order], op[order]))
        if self._pending_orders.size:  # stock at or below the reorder point from the start
            cells = self._pending_orders[~self.on_order[self._pending_orders]]
            self._pending_orders = np.zeros(0, dtype=np.int64)
            if cells.size:
                parts.append((self._orders(cells, np.full(cells.size, a, dtype=np.int64)), np.full(cells.size, -1)))
        if not parts:
            return b.EventBatch.empty()
        out = b.EventBatch.concat([p for p, _ in parts])
        position = np.concatenate([k for _, k in parts])
        # Time first; at one instant the stock rows' own order, then a sale before its inventory update.
        return out.take(np.lexsort((_SUB_ORDER[out.kind], position, out.time_ms)))

    def _apply(
        self, cell: np.ndarray, time: np.ndarray, change: np.ndarray, op: np.ndarray
    ) -> list[tuple[b.EventBatch, np.ndarray]]:
        """Stock rows sorted by (cell, time, op): apply them, place orders, return the output rows."""
        n = cell.size
        idx = np.arange(n)
        starts = np.ones(n, dtype=bool)
        starts[1:] = cell[1:] != cell[:-1]
        group = np.cumsum(starts) - 1
        start_idx = np.flatnonzero(starts)
        first = start_idx[group]

        # Strictly increasing times per cell, continuing after the cell's last time of earlier steps:
        # t'_i = i + max_{j<=i}(t_j - j), a running maximum per group (groups offset by ``span`` so
        # one accumulate over the whole array restarts at each group).
        u = time - idx
        u[start_idx] = np.maximum(time[start_idx], self.last_ms[cell[start_idx]] + 1) - start_idx
        span = int(u.max() - u.min()) + 1
        time = np.maximum.accumulate(u + group * span) - group * span + idx

        # Stock after each row: S_i = max(S_{i-1} + change_i, 0), via C_i - min(0, min_{j<=i} C_j).
        s0 = self.stock[cell]
        cs = np.cumsum(change)
        running = s0 + cs - (cs[first] - change[first])
        span = int(running.max() - running.min()) + 1
        low = np.minimum.accumulate(running - group * span) + group * span
        level = running - np.minimum(low, 0)
        before = np.empty(n, dtype=np.int64)
        before[1:] = level[:-1]
        before[start_idx] = s0[start_idx]
        effective = level - before

        # Reordering: first row at or below the reorder point with no order open (an order open at
        # the start of the step is closed by its delivery row, if it arrives in the step).
        is_delivery = op == StockOp.DELIVERY
        seen = np.cumsum(is_delivery)
        seen = (seen - (seen[first] - is_delivery[first])) > 0
        trigger = np.flatnonzero((seen | ~self.on_order[cell]) & (level <= self.rop[cell]))
        if trigger.size:
            trigger = trigger[np.unique(cell[trigger], return_index=True)[1]]

        delivery_idx = np.flatnonzero(is_delivery)
        delivery_refs = self.delivery_ref[cell[delivery_idx]].copy()
        self.on_order[cell[delivery_idx]] = False
        self.delivery_ms[cell[delivery_idx]] = _NEVER
        ends = np.append(start_idx[1:] - 1, n - 1)
        self.stock[cell[ends]] = level[ends]
        self.last_ms[cell[ends]] = time[ends]

        P = self.n_products
        store, product = cell // P, cell % P
        rng = self.rng
        out: list[tuple[b.EventBatch, np.ndarray]] = []

        def rows(kind: int, at: np.ndarray, quantity: np.ndarray, **extra: np.ndarray) -> None:
            m = at.size
            if m == 0:
                return
            zeros = np.zeros(m, dtype=np.int64)
            columns = dict(
                kind=np.full(m, kind, dtype=np.uint8),
                store=store[at],
                product=product[at],
                time_ms=time[at],
                quantity=quantity,
                new_quantity=level[at] if kind in b.INVENTORY_KINDS else zeros,
                price_cents=zeros,
                old_price_cents=zeros,
                promotion=np.zeros(m, dtype=bool),
                price_reason=np.zeros(m, dtype=np.uint8),
                payment=np.zeros(m, dtype=np.uint8),
                customer=zeros,
                event_id=self._uuids(m) if b.IS_MESSAGE[kind] else np.zeros((m, 2), dtype=np.uint64),
                reference=np.zeros((m, 2), dtype=np.uint64),
                expected_ms=zeros,
            )
            columns.update(extra)
            out.append((b.EventBatch(**columns), at))

        sale = op == StockOp.SALE
        sold = -effective
        lost = -change - sold
        sold_idx = np.flatnonzero(sale & (sold > 0))
        transaction = self._uuids(sold_idx.size)
        m = sold_idx.size
        anonymous = rng.random(m) < self.config.anonymous_share
        customer = np.where(anonymous, -1, rng.integers(1, self.config.customers_per_store + 1, m))
        payment = np.searchsorted(_PAYMENT_CDF, rng.random(m), side="right").clip(0, len(b.PAYMENT_METHODS) - 1)
        rows(
            b.SALE,
            sold_idx,
            sold[sold_idx],
            price_cents=self.price.reshape(-1)[cell[sold_idx]],
            payment=payment.astype(np.uint8),
            customer=customer,
            reference=transaction,
        )
        rows(b.INV_SALE, sold_idx, effective[sold_idx], reference=transaction)
        lost_idx = np.flatnonzero(sale & (lost > 0))
        rows(b.LOST, lost_idx, lost[lost_idx])
        rows(b.INV_DELIVERY, delivery_idx, effective[delivery_idx], reference=delivery_refs)
        rows(
            b.RECEIVED,
            delivery_idx,
            change[delivery_idx],
            reference=delivery_refs,
            event_id=delivery_refs ^ _RECEIVED_ID_MASK,
        )
        adjust_idx = np.flatnonzero((op == StockOp.ADJUSTMENT) & (effective != 0))
        rows(b.INV_ADJUSTMENT, adjust_idx, effective[adjust_idx])
        shrink_idx = np.flatnonzero((op == StockOp.SHRINKAGE) & (effective < 0))
        rows(b.INV_SHRINKAGE, shrink_idx, effective[shrink_idx])
        if trigger.size:
            out.append((self._orders(cell[trigger], time[trigger]), trigger))
        return out

    def _stock_counts(self, a: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Injected stock counts (``config.stock_counts``) due in [a, stop): cells, times, changes."""
        due = [
            (c.store * self.n_products + c.product, self.start_ms + round(c.at_seconds * 1000), -c.units)
            for c in self.config.stock_counts
            if a <= self.start_ms + round(c.at_seconds * 1000) < stop
        ]
        columns = np.array(due, dtype=np.int64).reshape(-1, 3)
        return columns[:, 0].copy(), columns[:, 1].copy(), columns[:, 2].copy()

    def _random_cells(self, stores: np.ndarray, expected: np.ndarray) -> np.ndarray:
        """Cells of Poisson(expected[i]) events in store ``stores[i]``, products uniform."""
        counts = self.rng.poisson(expected)
        per = np.repeat(stores, counts)
        return per * self.n_products + self.rng.integers(0, self.n_products, per.size)

    def _orders(self, cells: np.ndarray, times: np.ndarray) -> b.EventBatch:
        """Place purchase orders for ``cells`` at ``times``; returns their ORDER rows."""
        products = cells % self.n_products
        lead_days = np.maximum(
            self.rng.normal(self.catalog.lead_time_mean[products], self.catalog.lead_time_stddev[products]), 0.5
        )
        refs = self._uuids(cells.size)
        expected = times + np.rint(self.catalog.lead_time_mean[products] * DAY_MS).astype(np.int64)
        self.on_order[cells] = True
        self.delivery_ms[cells] = times + np.rint(lead_days * DAY_MS).astype(np.int64)
        self.delivery_qty[cells] = self.order_qty[cells]
        self.delivery_ref[cells] = refs
        n = cells.size
        zeros = np.zeros(n, dtype=np.int64)
        return b.EventBatch(
            kind=np.full(n, b.ORDER, dtype=np.uint8),
            store=cells // self.n_products,
            product=products,
            time_ms=times,
            quantity=self.order_qty[cells].copy(),
            new_quantity=zeros,
            price_cents=zeros,
            old_price_cents=zeros,
            promotion=np.zeros(n, dtype=bool),
            price_reason=np.zeros(n, dtype=np.uint8),
            payment=np.zeros(n, dtype=np.uint8),
            customer=zeros,
            event_id=refs ^ _PLACED_ID_MASK,
            reference=refs,
            expected_ms=expected,
        )
