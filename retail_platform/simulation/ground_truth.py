"""Ground truth of a simulation run: what was sent, so a pipeline's results can be checked exactly.

Definitions (a correct pipeline satisfies each of these):

* ``events[event_type]``: unique valid events sent (each once, whatever the faults did to its
  delivery). Late and out-of-order events are among them: they are valid events sent at an
  unexpected moment.
* ``produced[topic]``: every message sent to the topic (acknowledged by the broker unless
  ``send_errors`` > 0), and per topic

      produced = events on the topic + duplicates + quarantined

  where ``duplicates[topic]`` are byte-identical re-sends of valid events (a pipeline drops them by
  event_id) and ``quarantined[topic]`` are the malformed and schema-invalid messages (a pipeline
  quarantines them with the reasons counted in ``malformed`` and ``invalid``, keys exactly
  ``retail_platform.events.contracts.rejection_reason``). Malformed and invalid messages are extra
  messages: they never change the totals below.
* Per store/product (arrays ``[store, product]``, catalogue order):
  ``units_sold`` = sum of sales_transaction.quantity; ``revenue`` = sum of quantity * unit_price
  (each line exact in cents, so the Decimal total equals ClickHouse's Decimal(18, 2) sum);
  ``final_stock`` = new_quantity of the store/product's latest inventory_update by event_time, or
  ``initial_stock`` if it had none; ``lost_sales`` = units demanded while out of stock (never sent);
  ``received_units``, ``shrinkage_units``, ``adjustment_units`` = sums of quantity_change by reason;
  ``orders_placed`` = purchase orders placed at the reorder point.
  Stock identity: final = initial + received + adjustments - shrinkage - units_sold.
* ``orders``: every purchase order (column-wise: cell, placed_ms, quantity, received_ms, -1 while
  open), so the units on order of every store/product at any instant are known exactly
  (``on_order_at``): placed at or before it and not received by then. The simulator keeps at most
  one order open per store/product, so a receipt closes its cell's open order.

Serialised as JSON (``to_json``/``from_json``, ``write``/``read``) with the arrays stored column-wise
(one list per field, cells in store-major order) so a fleet of 100k+ store/products stays compact.
``final`` is true only for the document written when the run ended; periodic snapshots during a run
may still have late or duplicate messages held back (``held`` says how many).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from retail_platform.simulation import batch as b

CELL_FIELDS = (
    "initial_stock",
    "units_sold",
    "revenue_cents",
    "sale_lines",
    "lost_sales",
    "final_stock",
    "received_units",
    "shrinkage_units",
    "adjustment_units",
    "orders_placed",
)

ORDER_FIELDS = ("cell", "placed_ms", "quantity", "received_ms")

# Fault codes of sent messages (see faults.py).
ORIGINAL, DUPLICATE, MALFORMED, INVALID, LATE, OUT_OF_ORDER = range(6)


def _zeros(shape: tuple[int, int]) -> np.ndarray:
    return np.zeros(shape, dtype=np.int64)


@dataclass(eq=False)
class GroundTruth:
    run_id: str
    seed: int
    catalog_fingerprint: str
    store_ids: list[str]
    product_ids: list[str]
    sim_start: str | None = None  # ISO-8601 UTC of the simulated window
    sim_end: str | None = None
    cells: dict[str, np.ndarray] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    produced: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)
    late: int = 0
    out_of_order: int = 0
    held: int = 0
    send_errors: int = 0
    final: bool = False
    orders: dict[str, list[int]] = field(default_factory=lambda: {name: [] for name in ORDER_FIELDS})

    @classmethod
    def start(
        cls, run_id: str, seed: int, fingerprint: str, store_ids: list[str], product_ids: list[str],
        initial_stock: np.ndarray,
    ) -> GroundTruth:  # fmt: skip
        shape = (len(store_ids), len(product_ids))
        cells = {name: _zeros(shape) for name in CELL_FIELDS}
        cells["initial_stock"] = np.array(initial_stock, dtype=np.int64).reshape(shape)
        cells["final_stock"] = cells["initial_stock"].copy()
        truth = cls(run_id, seed, fingerprint, list(store_ids), list(product_ids), cells=cells)
        for event_type, topic in zip(b.EVENT_TYPES, b.TOPICS, strict=True):
            truth.events[event_type] = 0
            for counter in (truth.produced, truth.duplicates, truth.quarantined):
                counter[topic] = 0
        return truth

    # --- accumulation ------------------------------------------------------------------------
    def add_rows(self, rows: b.EventBatch) -> None:
        """Account generated rows whose messages were (or are being) sent."""
        if len(rows) == 0:
            return
        c = self.cells
        n_products = len(self.product_ids)
        cell = rows.store * n_products + rows.product

        def add(name: str, mask: np.ndarray, values: np.ndarray) -> None:
            np.add.at(c[name].reshape(-1), cell[mask], values[mask])

        kind = rows.kind
        sale = kind == b.SALE
        add("units_sold", sale, rows.quantity)
        add("revenue_cents", sale, rows.quantity * rows.price_cents)
        add("sale_lines", sale, np.ones(len(rows), dtype=np.int64))
        add("lost_sales", kind == b.LOST, rows.quantity)
        add("received_units", kind == b.INV_DELIVERY, rows.quantity)
        add("shrinkage_units", kind == b.INV_SHRINKAGE, -rows.quantity)
        add("adjustment_units", kind == b.INV_ADJUSTMENT, rows.quantity)
        add("orders_placed", kind == b.ORDER, np.ones(len(rows), dtype=np.int64))
        self._add_orders(rows, cell)
        inventory = np.flatnonzero(np.isin(kind, b.INVENTORY_KINDS))
        if inventory.size:
            # Rows are in event-time order: the last row per cell holds its latest stock.
            inv_cells = cell[inventory][::-1]
            unique, last = np.unique(inv_cells, return_index=True)
            c["final_stock"].reshape(-1)[unique] = rows.new_quantity[inventory][::-1][last]
        counts = np.bincount(b.KIND_EVENT_TYPE[kind[rows.is_message]], minlength=len(b.EVENT_TYPES))
        for event_type, count in zip(b.EVENT_TYPES, counts.tolist(), strict=True):
            self.events[event_type] += count

    def _add_orders(self, rows: b.EventBatch, cell: np.ndarray) -> None:
        """Orders placed and received, in row (event-time) order."""
        orders = self.orders
        open_by_cell = {
            c: i for i, (c, r) in enumerate(zip(orders["cell"], orders["received_ms"], strict=True)) if r < 0
        }
        for i in np.flatnonzero(np.isin(rows.kind, b.ORDER_KINDS)).tolist():
            c, at = int(cell[i]), int(rows.time_ms[i])
            if rows.kind[i] == b.ORDER:
                open_by_cell[c] = len(orders["cell"])
                for name, value in zip(ORDER_FIELDS, (c, at, int(rows.quantity[i]), -1), strict=True):
                    orders[name].append(value)
            else:
                orders["received_ms"][open_by_cell.pop(c)] = at

    def on_order_at(self, at_ms: int) -> np.ndarray:
        """Units on order per [store, product] at an instant: placed at or before it, not received by then."""
        out = np.zeros(self.shape[0] * self.shape[1], dtype=np.int64)
        o = {name: np.array(v, dtype=np.int64) for name, v in self.orders.items()}
        if o["cell"].size:
            open_then = (o["placed_ms"] <= at_ms) & ((o["received_ms"] < 0) | (o["received_ms"] > at_ms))
            np.add.at(out, o["cell"][open_then], o["quantity"][open_then])
        return out.reshape(self.shape)

    def add_sent(self, event_type: np.ndarray, fault: np.ndarray, reasons: list[str]) -> None:
        """Account sent messages: topic index and fault code per message; ``reasons`` lists the
        rejection reason of each malformed/invalid message, in order."""
        if event_type.size == 0:
            return
        width = len(b.TOPICS)
        produced = np.bincount(event_type, minlength=width)
        duplicates = np.bincount(event_type[fault == DUPLICATE], minlength=width)
        bad = (fault == MALFORMED) | (fault == INVALID)
        quarantined = np.bincount(event_type[bad], minlength=width)
        for i, topic in enumerate(b.TOPICS):
            self.produced[topic] += int(produced[i])
            self.duplicates[topic] += int(duplicates[i])
            self.quarantined[topic] += int(quarantined[i])
        self.late += int(np.count_nonzero(fault == LATE))
        self.out_of_order += int(np.count_nonzero(fault == OUT_OF_ORDER))
        codes = fault[bad].tolist()
        if len(codes) != len(reasons):
            raise ValueError("one reason per malformed/invalid message expected")
        for code, reason in zip(codes, reasons, strict=True):
            target = self.malformed if code == MALFORMED else self.invalid
            target[reason] = target.get(reason, 0) + 1

    # --- reading -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return len(self.store_ids), len(self.product_ids)

    def index(self, store_id: str, product_id: str) -> tuple[int, int]:
        return self.store_ids.index(store_id), self.product_ids.index(product_id)

    def revenue(self, store_id: str | None = None, product_id: str | None = None) -> Decimal:
        """Revenue of one store/product, one store, one product or everything."""
        r = self.cells["revenue_cents"]
        if store_id is not None:
            r = r[self.store_ids.index(store_id) : self.store_ids.index(store_id) + 1]
        if product_id is not None:
            r = r[:, self.product_ids.index(product_id) : self.product_ids.index(product_id) + 1]
        return Decimal(int(r.sum())) / 100

    def cell_rows(self) -> list[dict[str, Any]]:
        """One dict per store/product (revenue as Decimal), for comparisons with query results."""
        n_products = len(self.product_ids)
        flat = {name: self.cells[name].reshape(-1).tolist() for name in CELL_FIELDS}
        rows = []
        for i in range(len(self.store_ids) * n_products):
            row: dict[str, Any] = {
                "store_id": self.store_ids[i // n_products],
                "product_id": self.product_ids[i % n_products],
            }
            for name in CELL_FIELDS:
                row[name] = flat[name][i]
            row["revenue"] = Decimal(row.pop("revenue_cents")) / 100
            rows.append(row)
        return rows

    def events_by_topic(self) -> dict[str, int]:
        return {topic: self.events[t] for t, topic in zip(b.EVENT_TYPES, b.TOPICS, strict=True)}

    def totals(self) -> dict[str, Any]:
        c = self.cells
        return {
            "units_sold": int(c["units_sold"].sum()),
            "revenue": str(self.revenue()),
            "lost_sales": int(c["lost_sales"].sum()),
            "final_stock": int(c["final_stock"].sum()),
            "events": sum(self.events.values()),
            "produced": sum(self.produced.values()),
            "duplicates": sum(self.duplicates.values()),
            "quarantined": sum(self.quarantined.values()),
        }

    def reconciliation_errors(self) -> list[str]:
        """Broken identities (empty when consistent): per topic, and the stock identity per cell."""
        errors = []
        if self.final:
            for topic, events in self.events_by_topic().items():
                expected = events + self.duplicates[topic] + self.quarantined[topic]
                if self.produced[topic] != expected:
                    errors.append(f"{topic}: produced {self.produced[topic]} != {expected}")
            bad = sum(self.malformed.values()) + sum(self.invalid.values())
            if bad != sum(self.quarantined.values()):
                errors.append(f"reasons count {bad} messages, quarantined {sum(self.quarantined.values())}")
        c = self.cells
        stock = (
            c["initial_stock"] + c["received_units"] + c["adjustment_units"] - c["shrinkage_units"] - c["units_sold"]
        )
        wrong = np.argwhere(stock != c["final_stock"])
        for s, p in wrong[:10].tolist():
            errors.append(f"{self.store_ids[s]}/{self.product_ids[p]}: stock identity broken")
        return errors

    # --- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "seed": self.seed,
            "catalog_fingerprint": self.catalog_fingerprint,
            "final": self.final,
            "sim_start": self.sim_start,
            "sim_end": self.sim_end,
            "totals": self.totals(),
            "events": dict(self.events),
            "produced": dict(self.produced),
            "duplicates": dict(self.duplicates),
            "quarantined": dict(self.quarantined),
            "faults": {
                "duplicates": sum(self.duplicates.values()),
                "late": self.late,
                "out_of_order": self.out_of_order,
                "malformed": dict(sorted(self.malformed.items())),
                "invalid": dict(sorted(self.invalid.items())),
            },
            "held": self.held,
            "send_errors": self.send_errors,
            "store_ids": self.store_ids,
            "product_ids": self.product_ids,
            "orders": {name: list(v) for name, v in self.orders.items()},
            # Column-wise, store-major: cell i is (store_ids[i // P], product_ids[i % P]).
            "cells": {
                **{name: self.cells[name].reshape(-1).tolist() for name in CELL_FIELDS if name != "revenue_cents"},
                "revenue": [str(Decimal(v) / 100) for v in self.cells["revenue_cents"].reshape(-1).tolist()],
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroundTruth:
        shape = (len(data["store_ids"]), len(data["product_ids"]))
        raw = data["cells"]
        cells = {name: np.array(raw[name], dtype=np.int64).reshape(shape) for name in CELL_FIELDS if name in raw}
        cells["revenue_cents"] = np.array([int(Decimal(v) * 100) for v in raw["revenue"]], dtype=np.int64).reshape(
            shape
        )
        faults = data["faults"]
        return cls(
            run_id=data["run_id"],
            seed=data["seed"],
            catalog_fingerprint=data["catalog_fingerprint"],
            store_ids=list(data["store_ids"]),
            product_ids=list(data["product_ids"]),
            sim_start=data["sim_start"],
            sim_end=data["sim_end"],
            cells=cells,
            events=dict(data["events"]),
            produced=dict(data["produced"]),
            duplicates=dict(data["duplicates"]),
            quarantined=dict(data["quarantined"]),
            malformed=dict(faults["malformed"]),
            invalid=dict(faults["invalid"]),
            late=faults["late"],
            out_of_order=faults["out_of_order"],
            held=data["held"],
            send_errors=data["send_errors"],
            final=data["final"],
            orders={name: list(data.get("orders", {}).get(name, [])) for name in ORDER_FIELDS},
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> GroundTruth:
        return cls.from_dict(json.loads(text))

    def write(self, path: Path) -> None:
        """Atomically (write, then rename) so a reader never sees half a document."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> GroundTruth:
        return cls.from_json(path.read_text(encoding="utf-8"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GroundTruth) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def fault_summary(self) -> Counter[str]:
        return Counter(
            duplicates=sum(self.duplicates.values()),
            late=self.late,
            out_of_order=self.out_of_order,
            malformed=sum(self.malformed.values()),
            invalid=sum(self.invalid.values()),
        )
