"""Closed loop: the simulated chain follows the platform's reorder recommendations for N days.

Deterministic (one seed), pure (no services), vectorised over the store/product cells:

* demand: the simulator's generating process (simulation/demand.py, catalog.py): per store, product and
  local day, sale lines ~ Poisson(expected lines) and each line's units from the simulator's quantity
  distribution (compound Poisson), including day-of-week, season and promotions;
* warm-up: ``warmup_days`` of history in which demand was served in full (the forecaster's input);
* each simulated day t, in this order:
    1. deliveries due on day t are shelved;
    2. forecast: the baseline forecaster (forecasting/baselines.py: 28-day moving average x store day-of-week
       profile; the GBT model is trained in Spark and is not part of this pure loop) from the sales
       history, as the DAG falls back to when no model forecast exists;
    3. recommendations: ``recommendations.compute_policy`` (the DAG's function) with on hand, on order,
       the suppliers' lead times, case sizes, shelf lives and the stores' capacities, and the
       forecast's error over the protection interval backtested on the last ``history_days`` of sales
       (``baselines.interval_level_error``, as ``recommendations.recommend`` does);
    4. orders: every recommended quantity > 0 is placed; it arrives after a lead time drawn from the
       supplier's normal(mean, std), rounded to whole days, at least 1 (shelved at the start of day
       t + lead time, so days t .. t + lead - 1 are sold from the stock already there);
    5. sales: sold = min(demand, on hand); the rest is lost. History records *sales* (censored), as a
       real forecaster would see them.

Measures (all over the simulated days, after warm-up):

* stock-out rate: share of store/product-days with demand on which some demand went unmet (lost > 0).
  ``service_level`` is met when this is <= 1 - service level (e.g. <= 5 % for 95 %);
* cycle service level: share of replenishment cycles (an order's lead time, from placement to arrival,
  counting orders that arrived within the run) without a stock-out day: what Z targets;
* fill rate: units sold / units demanded; average inventory (units and value); orders placed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from retail_platform.forecasting.baselines import baseline_forecast, interval_level_error
from retail_platform.optimization.policy import OptimizationConfig
from retail_platform.optimization.recommendations import PolicyInputs, compute_policy
from retail_platform.simulation import demand
from retail_platform.simulation.catalog import Catalog, CatalogConfig, generate_catalog

_STREAM = 0x434C4F4F  # "CLOO": the loop's own random stream


@dataclass(frozen=True)
class ClosedLoopConfig:
    stores: int = 5
    products: int = 50
    seed: int = 4
    days: int = 30
    warmup_days: int = 56
    start: date = date(2026, 10, 1)  # first simulated day (local calendar)
    forecast_window: int = 28
    optimization: OptimizationConfig = field(default_factory=OptimizationConfig)


@dataclass(frozen=True)
class ClosedLoopResult:
    config: dict[str, Any]
    service_level_target: float
    stockout_rate: float
    cycle_service_level: float
    # Cells whose orders the shelf-life rule never cut: where the policy works as the formulas assume.
    cells_shelf_limited: int
    stockout_rate_not_shelf_limited: float
    cycle_service_level_not_shelf_limited: float
    fill_rate: float
    cell_days_with_demand: int
    stockout_cell_days: int
    cells: int
    cells_meeting_target: float  # share of cells whose own stock-out rate is within 1 - target
    worst_cell_stockout_rate: float
    units_demanded: int
    units_lost: int
    average_inventory_units: float
    average_inventory_value: float
    average_days_of_cover: float
    orders: int
    replenishment_cycles: int
    stockout_cycles: int
    average_order_units: float
    orders_limited_by_shelf_life: int  # order decisions cut by the shelf-life rule (several per cell)
    orders_limited_by_capacity: int

    @property
    def meets_service_level(self) -> bool:
        return self.stockout_rate <= 1.0 - self.service_level_target

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"meets_service_level": self.meets_service_level}


def draw_demand(rng: np.random.Generator, expected_lines: np.ndarray) -> np.ndarray:
    """Units demanded: compound Poisson with the simulator's line and quantity distributions."""
    lines = rng.poisson(expected_lines).ravel()
    counts = rng.multinomial(lines, demand.QUANTITY_PROBABILITIES)
    return (counts @ demand.QUANTITIES).reshape(expected_lines.shape)


def _supplier_arrays(catalog: Catalog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_stores, _ = catalog.shape
    case = np.array([catalog.suppliers[i].min_order_quantity for i in catalog.product_supplier], dtype=float)
    return (
        np.tile(catalog.lead_time_mean, n_stores),
        np.tile(catalog.lead_time_stddev, n_stores),
        np.tile(case, n_stores),
    )


@dataclass(frozen=True)
class DayState:
    """What the chain knows on the morning of simulated day ``t`` (index into the full calendar, the
    warm-up first), before it sells anything that day."""

    step: int  # simulated day, 0 = the first after the warm-up
    t: int
    day: date
    on_hand: np.ndarray  # [cell] at the start of day t, today's deliveries shelved
    arrivals: np.ndarray  # [cell, day] units arriving at the start of each day (every order so far)
    sales: np.ndarray  # [cell, day] units sold (days before t filled)
    received: np.ndarray  # [cell, day] units shelved each day (days up to t filled)
    weekdays: np.ndarray  # [day] weekday of each calendar day


@dataclass(frozen=True)
class Decision:
    """The orders placed on the morning of a day: units per cell (0 = none) and which were cut."""

    quantity: np.ndarray
    shelf_limited: np.ndarray  # bool [cell]: the shelf-life rule cut the order
    capacity_limited: np.ndarray  # bool [cell]: the store's free space cut the order


Decide = Callable[[DayState], Decision]
# Builds the decision step for a run (the catalogue and config are known only once the run starts).
Decider = Callable[[Catalog, ClosedLoopConfig], Decide]


def in_process(catalog: Catalog, config: ClosedLoopConfig) -> Decide:
    """The decision step as pure functions: the baseline forecaster and ``recommendations.compute_policy``
    (the production path's own policy function), no warehouse."""
    n_stores, n_products = catalog.shape
    store = np.repeat(np.arange(n_stores), n_products)
    product = np.tile(np.arange(n_products), n_stores)
    lead_mean, lead_sd, case = _supplier_arrays(catalog)
    unit_cost = np.tile(np.array([float(p.unit_cost) for p in catalog.products]), n_stores)
    shelf = np.tile(np.array([p.shelf_life_days for p in catalog.products], dtype=float), n_stores)
    capacity = np.array([s.storage_capacity_units for s in catalog.stores], dtype=float)
    horizon = int(np.ceil(lead_mean.max())) + config.optimization.review_period_days + 1
    first = config.start - timedelta(days=config.warmup_days)

    def decide(state: DayState) -> Decision:
        t = state.t
        target = np.array([(first + timedelta(days=t + h)).weekday() for h in range(horizon)])
        forecast = baseline_forecast(
            state.sales[:, :t], state.weekdays[:t], target, store, window=config.forecast_window
        )
        # The forecast's error over the protection interval, backtested on the history the DAG reads.
        since = max(t - config.optimization.history_days, 0)
        level_error = interval_level_error(
            state.sales[:, since:t],
            state.weekdays[since:t],
            store,
            lead_mean + config.optimization.review_period_days,
            window=config.forecast_window,
            pools=product,
        )
        policy = compute_policy(
            PolicyInputs(
                daily_forecast=forecast.daily,
                sigma_d=forecast.sigma,
                lead_time=lead_mean,
                lead_time_sd=lead_sd,
                on_hand=state.on_hand,
                on_order=state.arrivals[:, t + 1 :].sum(axis=1),
                case_size=case,
                unit_cost=unit_cost,
                shelf_life=shelf,
                store=store,
                store_capacity=capacity,
                level_error=level_error,
            ),
            config.optimization,
        )
        return Decision(policy.recommended_quantity, policy.shelf_limited, policy.capacity_limited)

    return decide


def run(config: ClosedLoopConfig, decider: Decider = in_process) -> ClosedLoopResult:
    """Simulate ``config.days`` days following the recommendations ``decider`` gives; see the module
    docstring. The demand and the lead times drawn are the same whatever the decider."""
    catalog = generate_catalog(CatalogConfig(seed=config.seed, stores=config.stores, products=config.products))
    n_stores, n_products = catalog.shape
    cells = n_stores * n_products
    first = config.start - timedelta(days=config.warmup_days)
    total_days = config.warmup_days + config.days
    expected = demand.expected_daily_demand(catalog, first, total_days)
    rng = np.random.default_rng([config.seed, _STREAM])
    demanded = draw_demand(rng, expected.lines).reshape(cells, total_days).astype(float)
    weekdays = np.array([(first + timedelta(days=i)).weekday() for i in range(total_days)])

    lead_mean, lead_sd, _ = _supplier_arrays(catalog)
    unit_cost = np.tile(np.array([float(p.unit_cost) for p in catalog.products]), n_stores)
    decide = decider(catalog, config)

    sales = np.zeros((cells, total_days))
    sales[:, : config.warmup_days] = demanded[:, : config.warmup_days]
    received = np.zeros((cells, total_days))
    on_hand = catalog.initial_stock.reshape(cells).astype(float)
    arrivals = np.zeros((cells, total_days + 64))
    lost = np.zeros((cells, config.days))
    inventory = np.zeros((cells, config.days))
    orders: list[tuple[np.ndarray, int, np.ndarray]] = []  # (cells, placed day, arrival day)
    order_units: list[float] = []
    shelf_limited = capacity_limited = 0
    ever_shelf_limited = np.zeros(cells, dtype=bool)

    for step in range(config.days):
        t = config.warmup_days + step
        on_hand += arrivals[:, t]
        received[:, t] = arrivals[:, t]
        decision = decide(DayState(step, t, first + timedelta(days=t), on_hand.copy(), arrivals, sales, received,
                                   weekdays))  # fmt: skip
        quantity = np.asarray(decision.quantity, dtype=float)
        placed = np.flatnonzero(quantity > 0)
        if placed.size:
            lead = np.maximum(np.rint(rng.normal(lead_mean[placed], lead_sd[placed])), 1).astype(np.int64)
            np.add.at(arrivals, (placed, t + lead), quantity[placed])
            orders.append((placed, step, step + lead))
            order_units.extend(quantity[placed].tolist())
        shelf_limited += int(np.sum(decision.shelf_limited))
        ever_shelf_limited |= np.asarray(decision.shelf_limited, dtype=bool)
        capacity_limited += int(np.sum(decision.capacity_limited))

        sold = np.minimum(demanded[:, t], np.maximum(on_hand, 0.0))
        lost[:, step] = demanded[:, t] - sold
        on_hand -= sold
        sales[:, t] = sold
        inventory[:, step] = on_hand

    return _measure(config, catalog, demanded[:, config.warmup_days :], lost, inventory, orders, order_units,
                    unit_cost, shelf_limited, capacity_limited, ever_shelf_limited)  # fmt: skip


def _measure(
    config: ClosedLoopConfig,
    catalog: Catalog,
    demanded: np.ndarray,
    lost: np.ndarray,
    inventory: np.ndarray,
    orders: list[tuple[np.ndarray, int, np.ndarray]],
    order_units: list[float],
    unit_cost: np.ndarray,
    shelf_limited: int,
    capacity_limited: int,
    ever_shelf_limited: np.ndarray,
) -> ClosedLoopResult:
    target = config.optimization.service_level
    with_demand = demanded > 0
    stockout = lost > 0
    per_cell_days = with_demand.sum(axis=1)
    per_cell_rate = np.where(per_cell_days > 0, stockout.sum(axis=1) / np.maximum(per_cell_days, 1), 0.0)

    # Replenishment cycles: each order's lead time, placement day .. arrival day - 1, within the run.
    stockout_prefix = np.concatenate([np.zeros((stockout.shape[0], 1)), np.cumsum(stockout, axis=1)], axis=1)
    cycle_cells, cycle_out = [], []
    for cells_, placed, arrival in orders:
        done = arrival <= config.days
        c, a = cells_[done], arrival[done]
        cycle_cells.append(c)
        cycle_out.append(stockout_prefix[c, a] - stockout_prefix[c, placed] > 0)
    cycle_cell = np.concatenate(cycle_cells) if cycle_cells else np.zeros(0, dtype=np.int64)
    cycle_stockout = np.concatenate(cycle_out) if cycle_out else np.zeros(0, dtype=bool)
    cycles, cycle_stockouts = int(cycle_cell.size), int(cycle_stockout.sum())
    free = ~ever_shelf_limited[cycle_cell]
    free_cells = ~ever_shelf_limited

    mean_demand = demanded.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(mean_demand > 0, inventory.mean(axis=1) / mean_demand, np.nan)
    total_demand = float(demanded.sum())
    return ClosedLoopResult(
        config={
            "stores": config.stores,
            "products": config.products,
            "seed": config.seed,
            "days": config.days,
            "warmup_days": config.warmup_days,
            "start": config.start.isoformat(),
            "forecaster": f"baseline moving average ({config.forecast_window} days) x store day-of-week profile",
            "optimization": asdict(config.optimization),
        },
        service_level_target=target,
        stockout_rate=float(stockout.sum() / max(with_demand.sum(), 1)),
        cycle_service_level=float(1.0 - cycle_stockouts / cycles) if cycles else 1.0,
        cells_shelf_limited=int(ever_shelf_limited.sum()),
        stockout_rate_not_shelf_limited=float(stockout[free_cells].sum() / max(with_demand[free_cells].sum(), 1)),
        cycle_service_level_not_shelf_limited=float(1.0 - cycle_stockout[free].mean()) if free.any() else 1.0,
        fill_rate=float(1.0 - lost.sum() / total_demand) if total_demand else 1.0,
        cell_days_with_demand=int(with_demand.sum()),
        stockout_cell_days=int(stockout.sum()),
        cells=int(demanded.shape[0]),
        cells_meeting_target=float((per_cell_rate <= 1.0 - target).mean()),
        worst_cell_stockout_rate=float(per_cell_rate.max()),
        units_demanded=int(total_demand),
        units_lost=int(lost.sum()),
        average_inventory_units=float(inventory.sum(axis=0).mean()),
        average_inventory_value=round(float((inventory * unit_cost[:, None]).sum(axis=0).mean()), 2),
        average_days_of_cover=float(np.nanmean(cover)),
        orders=len(order_units),
        replenishment_cycles=cycles,
        stockout_cycles=cycle_stockouts,
        average_order_units=float(np.mean(order_units)) if order_units else 0.0,
        orders_limited_by_shelf_life=shelf_limited,
        orders_limited_by_capacity=capacity_limited,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--service-level", type=float, default=0.95)
    parser.add_argument("--output", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    config = ClosedLoopConfig(
        stores=args.stores,
        products=args.products,
        days=args.days,
        seed=args.seed,
        optimization=OptimizationConfig(service_level=args.service_level),
    )
    result = run(config).to_dict()
    text = json.dumps(result, indent=2, default=str)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if result["meets_service_level"] else 1


if __name__ == "__main__":
    sys.exit(main())
