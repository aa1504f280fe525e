"""Reconciliation of the speed layer against a simulator's ground truth.

A snapshot of the warehouse is taken before a run and after the stream has caught up; the
difference must equal what the simulator says it sent: units and revenue per store/product,
stock per store/product, and produced = accepted + quarantined + dropped duplicates, with every
quarantined message under the reason the contracts give. Differences rather than absolute values,
so earlier runs on the same warehouse do not matter."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from retail_platform.retry import poll
from retail_platform.settings import Settings
from retail_platform.simulation.ground_truth import GroundTruth
from retail_platform.streaming.config import QUERY_NAME
from retail_platform.warehouse.client import connect, count

Cell = tuple[str, str]


@dataclass
class WarehouseSnapshot:
    units: dict[Cell, int]
    revenue: dict[Cell, Decimal]
    stock: dict[Cell, int]
    accepted: int
    quarantined: int
    duplicates_dropped: int
    reasons: Counter[str]
    rt_rows: dict[str, int]
    last_batch_at: datetime | None
    last_batch_lag_s: float | None  # newest event's age when its batch finished

    @property
    def consumed(self) -> int:
        return self.accepted + self.quarantined + self.duplicates_dropped


RT_TABLES = ("rt_sales_5min", "rt_stock", "rt_quarantine", "rt_restock_alerts", "ops_stream_batches")


def snapshot(settings: Settings, query_name: str = QUERY_NAME) -> WarehouseSnapshot:
    client = connect(settings)
    try:
        sales = client.query(
            "SELECT store_id, product_id, sum(units), sum(revenue) FROM rt_sales_5min GROUP BY store_id, product_id"
        ).result_rows
        stock = client.query("SELECT store_id, product_id, quantity FROM rt_stock FINAL").result_rows
        ops = client.query(
            """SELECT sum(accepted), sum(quarantined), sum(duplicates_dropped), max(finished_at),
                      argMax(dateDiff('millisecond', max_event_time, finished_at), finished_at)
               FROM ops_stream_batches FINAL WHERE query_name = {q:String}""",
            parameters={"q": query_name},
        ).result_rows[0]
        reasons = client.query("SELECT reason, count() FROM rt_quarantine FINAL GROUP BY reason").result_rows
        rows = {t: count(client, f"SELECT count() FROM {t} FINAL") for t in RT_TABLES}
    finally:
        client.close()
    last = ops[3] if ops[0] is not None and rows["ops_stream_batches"] else None
    return WarehouseSnapshot(
        units={(s, p): int(u) for s, p, u, _ in sales},
        revenue={(s, p): Decimal(r) for s, p, _, r in sales},
        stock={(s, p): int(q) for s, p, q in stock},
        accepted=int(ops[0] or 0),
        quarantined=int(ops[1] or 0),
        duplicates_dropped=int(ops[2] or 0),
        reasons=Counter({reason: int(n) for reason, n in reasons}),
        rt_rows=rows,
        last_batch_at=last.replace(tzinfo=timezone.utc) if last is not None and last.tzinfo is None else last,
        last_batch_lag_s=None if ops[4] is None else int(ops[4]) / 1000.0,
    )


def wait_for_catch_up(
    settings: Settings, before: WarehouseSnapshot, truth: GroundTruth, timeout: float = 300.0
) -> WarehouseSnapshot:
    """Poll until the stream has consumed every message the simulator produced (or time runs out)."""
    produced = sum(truth.produced.values())
    return poll(
        lambda: snapshot(settings),
        lambda after: after.consumed - before.consumed >= produced,
        timeout=timeout,
        interval=2,
    )


@dataclass
class Reconciliation:
    lines: list[tuple[str, str, str, bool]] = field(default_factory=list)  # what, warehouse, truth, ok

    def check(self, what: str, warehouse: object, truth: object) -> None:
        self.lines.append((what, str(warehouse), str(truth), warehouse == truth))

    @property
    def ok(self) -> bool:
        return all(ok for *_, ok in self.lines)

    def render(self) -> str:
        width = max(len(what) for what, *_ in self.lines)
        out = [f"  {'':<{width}}  {'warehouse':>16}  {'ground truth':>16}"]
        for what, warehouse, truth, ok in self.lines:
            out.append(f"  {what:<{width}}  {warehouse:>16}  {truth:>16}  {'ok' if ok else 'MISMATCH'}")
        return "\n".join(out)


def reconcile(before: WarehouseSnapshot, after: WarehouseSnapshot, truth: GroundTruth) -> Reconciliation:
    result = Reconciliation()
    produced = sum(truth.produced.values())
    result.check("messages consumed", after.consumed - before.consumed, produced)
    result.check("accepted (unique valid)", after.accepted - before.accepted, sum(truth.events.values()))
    result.check("quarantined", after.quarantined - before.quarantined, sum(truth.quarantined.values()))
    result.check(
        "duplicates dropped", after.duplicates_dropped - before.duplicates_dropped, sum(truth.duplicates.values())
    )
    expected_reasons = Counter(truth.malformed) + Counter(truth.invalid)
    got_reasons = after.reasons - before.reasons
    for reason in sorted(set(expected_reasons) | set(got_reasons)):
        result.check(f"  quarantined: {reason}", got_reasons.get(reason, 0), expected_reasons.get(reason, 0))

    cells = truth.cell_rows()
    units_wrong = revenue_wrong = stock_wrong = 0
    units_total = 0
    revenue_total = Decimal("0.00")
    for row in cells:
        cell = (row["store_id"], row["product_id"])
        units = after.units.get(cell, 0) - before.units.get(cell, 0)
        revenue = after.revenue.get(cell, Decimal(0)) - before.revenue.get(cell, Decimal(0))
        units_total += units
        revenue_total += revenue
        units_wrong += units != row["units_sold"]
        revenue_wrong += revenue != row["revenue"]
        moved = row["sale_lines"] or row["received_units"] or row["shrinkage_units"] or row["adjustment_units"]
        if moved:
            stock_wrong += after.stock.get(cell, row["initial_stock"]) != row["final_stock"]
        else:  # no inventory event in this run: the warehouse keeps the level it had before
            stock_wrong += after.stock.get(cell) != before.stock.get(cell)
    result.check("units sold", units_total, int(truth.cells["units_sold"].sum()))
    result.check("revenue", f"{revenue_total:.2f}", f"{truth.revenue():.2f}")
    result.check("store/products with wrong units", units_wrong, 0)
    result.check("store/products with wrong revenue", revenue_wrong, 0)
    result.check("store/products with wrong stock", stock_wrong, 0)
    return result
