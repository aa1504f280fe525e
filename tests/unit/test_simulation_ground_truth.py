"""The ground truth equals what a consumer recomputes from the messages actually sent, satisfies the
reconciliation identities, and survives a JSON round trip."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pytest

from retail_platform.events.contracts import event_type_for_topic, rejection_reason
from retail_platform.settings import get_settings
from retail_platform.simulation import batch as b
from retail_platform.simulation.catalog import CatalogConfig, generate_catalog
from retail_platform.simulation.faults import FaultRates
from retail_platform.simulation.generator import EventGenerator, GeneratorConfig
from retail_platform.simulation.ground_truth import GroundTruth
from retail_platform.simulation.producer import MemorySink, SimulationConfig, run_simulation

START = datetime(2025, 6, 3, 15, 0, tzinfo=timezone.utc)  # most of the fleet is open
FAULTS = FaultRates(duplicates=0.02, late=0.02, out_of_order=0.02, malformed=0.01, invalid=0.01)


def simulate(faults: FaultRates = FAULTS, events: int = 6000) -> tuple[GroundTruth, MemorySink]:
    config = SimulationConfig(
        stores=4, products=15, seed=21, speed=math.inf, start=START, events=events, faults=faults,
        rate_per_store_per_min=120,
    )  # fmt: skip
    sink = MemorySink(generate_catalog(config.catalog_config()).store_ids)
    truth = run_simulation(get_settings(), config, sink=sink)
    return truth, sink


@pytest.fixture(scope="module")
def faulty():
    return simulate()


def recompute(truth: GroundTruth, messages: list[tuple[str, bytes, bytes]]) -> dict:
    """What a correct consumer derives: dedup by event_id, quarantine by reason, latest stock by event_time."""
    seen: set[str] = set()
    units: Counter = Counter()
    revenue: dict[tuple[str, str], Decimal] = {}
    latest: dict[tuple[str, str], tuple[str, int]] = {}
    events: Counter = Counter()
    produced: Counter = Counter()
    duplicates: Counter = Counter()
    reasons: Counter = Counter()
    for topic, _, value in messages:
        produced[topic] += 1
        reason = rejection_reason(value, event_type_for_topic(topic).name)
        if reason:
            reasons[reason] += 1
            continue
        event = json.loads(value)
        if event["event_id"] in seen:
            duplicates[topic] += 1
            continue
        seen.add(event["event_id"])
        events[event["event_type"]] += 1
        key = (event["store_id"], event["product_id"])
        if event["event_type"] == "sales_transaction":
            units[key] += event["quantity"]
            line = (Decimal(str(event["unit_price"])) * event["quantity"]).quantize(Decimal("0.01"))
            revenue[key] = revenue.get(key, Decimal(0)) + line
        elif event["event_type"] == "inventory_update":
            if key not in latest or event["event_time"] > latest[key][0]:
                latest[key] = (event["event_time"], event["new_quantity"])
    return {
        "units": units, "revenue": revenue, "latest": latest, "events": events, "produced": produced,
        "duplicates": duplicates, "reasons": reasons,
    }  # fmt: skip


@pytest.mark.parametrize("with_faults", [True, False])
def test_ground_truth_equals_what_the_messages_say(faulty, with_faults):
    truth, sink = faulty if with_faults else simulate(FaultRates())
    got = recompute(truth, sink.messages)
    assert truth.final and truth.send_errors == 0 and truth.held == 0
    assert truth.reconciliation_errors() == []
    assert got["produced"] == Counter({t: n for t, n in truth.produced.items() if n})
    assert got["events"] == Counter({t: n for t, n in truth.events.items() if n})
    assert got["duplicates"] == Counter({t: n for t, n in truth.duplicates.items() if n})
    assert got["reasons"] == Counter(truth.malformed) + Counter(truth.invalid)
    for row in truth.cell_rows():
        key = (row["store_id"], row["product_id"])
        assert row["units_sold"] == got["units"][key]
        assert row["revenue"] == got["revenue"].get(key, Decimal(0))
        assert row["final_stock"] == got["latest"].get(key, (None, row["initial_stock"]))[1]
    assert truth.revenue() == sum(got["revenue"].values())
    if with_faults:
        assert sum(truth.fault_summary().values()) > 0 and truth.late > 0 and truth.out_of_order > 0


def test_faults_never_change_the_business_totals(faulty):
    clean, _ = simulate(FaultRates())
    truth, _ = faulty
    assert clean.events == truth.events
    for name in ("units_sold", "revenue_cents", "final_stock", "lost_sales", "received_units"):
        assert np.array_equal(clean.cells[name], truth.cells[name]), name


def test_json_round_trip(tmp_path, faulty):
    truth, _ = faulty
    again = GroundTruth.from_json(truth.to_json())
    assert again == truth
    assert again.revenue("store_002", "SKU0003") == truth.revenue("store_002", "SKU0003")
    assert isinstance(again.revenue(), Decimal)
    path = tmp_path / "gt" / "truth.json"
    truth.write(path)
    assert GroundTruth.read(path) == truth
    document = json.loads(path.read_text())
    assert document["final"] is True
    assert document["totals"]["revenue"] == str(truth.revenue())
    assert set(document["faults"]) == {"duplicates", "late", "out_of_order", "malformed", "invalid"}
    assert not list(tmp_path.glob("gt/.*.tmp"))  # written aside, then renamed


def test_rows_account_lost_sales_and_stock_movements():
    catalog = generate_catalog(CatalogConfig(seed=2, stores=6, products=12, lines_per_store_hour=10))
    start = datetime(2025, 6, 2, tzinfo=timezone.utc)
    generator = EventGenerator(catalog, GeneratorConfig(start=start, end=start + timedelta(days=21), step_seconds=900))
    truth = GroundTruth.start(
        "t", 2, catalog.fingerprint, catalog.store_ids, catalog.product_ids, catalog.initial_stock
    )
    parts = []
    for rows in generator.batches():
        truth.add_rows(rows)
        parts.append(rows)
    rows = b.EventBatch.concat(parts)
    assert truth.cells["lost_sales"].sum() == rows.quantity[rows.kind == b.LOST].sum() > 0
    assert truth.cells["orders_placed"].sum() == np.count_nonzero(rows.kind == b.ORDER) > 0
    assert truth.cells["shrinkage_units"].sum() == -rows.quantity[rows.kind == b.INV_SHRINKAGE].sum() > 0
    assert np.array_equal(truth.cells["final_stock"].reshape(-1), generator.stock)
    assert truth.reconciliation_errors() == []  # the stock identity per store/product
    assert sum(truth.events.values()) == rows.n_messages


def test_open_orders_at_any_instant_are_the_orders_placed_and_not_yet_received():
    catalog = generate_catalog(CatalogConfig(seed=5, stores=2, products=6, lines_per_store_hour=40))
    start = datetime(2025, 3, 3, tzinfo=timezone.utc)
    initial = catalog.reorder_point + 2  # orders early in the run
    generator = EventGenerator(catalog, GeneratorConfig(start=start, end=start + timedelta(days=6)), initial)
    truth = GroundTruth.start("r", 0, "f", catalog.store_ids, catalog.product_ids, initial)
    events = []
    for rows in generator.batches():
        truth.add_rows(rows)
        events += generator.encoder.encode(rows).events()
    orders = [e for e in events if e["event_type"] == "purchase_order"]
    assert any(e["status"] == "received" for e in orders)
    for hours in range(0, 6 * 24 + 1, 7):
        at = start + timedelta(hours=hours)
        expected = np.zeros(truth.shape, dtype=np.int64)
        for e in orders:
            if datetime.fromisoformat(e["event_time"].replace("Z", "+00:00")) <= at:
                s, p = truth.index(e["store_id"], e["product_id"])
                expected[s, p] += e["quantity"] if e["status"] == "placed" else -e["quantity"]
        assert (truth.on_order_at(int(at.timestamp() * 1000)) == expected).all()
    assert GroundTruth.from_json(truth.to_json()).orders == truth.orders
