"""The event generator: determinism, contract validity, stock consistency, reordering, prices and
opening hours, over four simulated weeks of a small fleet."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from retail_platform.events import validate
from retail_platform.simulation import batch as b
from retail_platform.simulation.calendar import zone
from retail_platform.simulation.catalog import CatalogConfig, generate_catalog
from retail_platform.simulation.generator import EventGenerator, GeneratorConfig

START = datetime(2025, 6, 2, tzinfo=timezone.utc)  # a Monday
END = START + timedelta(days=28)
# Six stores: New York, London, Tokyo, Chicago (7-22 h or 8-22 h), Berlin (closed on Sundays), Sydney (24 h).
CATALOG = CatalogConfig(seed=2, stores=6, products=12, lines_per_store_hour=10)


def _generate(start: datetime = START, end: datetime = END, seed: int = 0):
    catalog = generate_catalog(CATALOG)
    generator = EventGenerator(catalog, GeneratorConfig(start=start, end=end, seed=seed, step_seconds=900))
    batches = list(generator.batches())
    rows = b.EventBatch.concat(batches)
    events = generator.encoder.encode(rows).events()
    return catalog, generator, rows, events


@pytest.fixture(scope="module")
def run():
    return _generate()


def _ms(event: dict) -> int:
    return int(datetime.fromisoformat(event["event_time"].replace("Z", "+00:00")).timestamp() * 1000)


def test_same_seed_gives_identical_events(run):
    short_end = START + timedelta(days=2)
    first = _generate(end=short_end)[3]
    assert first == _generate(end=short_end)[3]
    assert first == run[3][: len(first)]  # a prefix of the longer run: the window does not change the past
    other = _generate(end=short_end, seed=1)[3]
    assert {e["event_id"] for e in other}.isdisjoint(e["event_id"] for e in first)


def test_every_event_passes_the_contract(run):
    _, _, rows, events = run
    assert len(events) == rows.n_messages > 10_000
    reasons = [validate(e) for e in events]
    assert reasons.count(None) == len(events), next(r for r in reasons if r)
    assert all(e["event_time"].endswith("Z") and len(e["event_time"]) == 24 for e in events)
    assert len({e["event_id"] for e in events}) == len(events)


def test_the_run_exercises_every_kind_of_row(run):
    kinds = set(run[2].kind.tolist())
    assert kinds == set(range(len(b.KIND_NAMES))), [b.KIND_NAMES[k] for k in sorted(kinds)]


def test_stock_never_negative_and_the_inventory_chain_is_consistent(run):
    catalog, generator, _, events = run
    stock = {(s, p): int(catalog.initial_stock[i, j]) for i, s in enumerate(catalog.store_ids)
             for j, p in enumerate(catalog.product_ids)}  # fmt: skip
    last_time: dict[tuple[str, str], int] = {}
    for event in events:
        if event["event_type"] != "inventory_update":
            continue
        key = (event["store_id"], event["product_id"])
        assert event["new_quantity"] >= 0
        assert event["quantity_change"] != 0
        assert stock[key] + event["quantity_change"] == event["new_quantity"], event
        stock[key] = event["new_quantity"]
        t = _ms(event)
        assert t > last_time.get(key, 0), "inventory events of a store/product have distinct, increasing times"
        last_time[key] = t
    assert np.array_equal(np.array(list(stock.values())), generator.stock)


def test_events_of_a_store_are_in_event_time_order(run):
    last: dict[str, int] = {}
    for event in run[3]:
        t = _ms(event)
        assert t >= last.get(event["store_id"], 0)
        last[event["store_id"]] = t


def test_each_sale_line_has_its_inventory_update(run):
    events = run[3]
    for sale, update in zip(events, events[1:], strict=False):
        if sale["event_type"] != "sales_transaction":
            continue
        assert update["event_type"] == "inventory_update" and update["reason"] == "sale"
        assert update["reference_id"] == sale["transaction_id"]
        assert update["quantity_change"] == -sale["quantity"]
        assert (update["store_id"], update["product_id"], update["event_time"]) == (
            sale["store_id"], sale["product_id"], sale["event_time"],
        )  # fmt: skip
    transactions = [e["transaction_id"] for e in events if e["event_type"] == "sales_transaction"]
    assert len(set(transactions)) == len(transactions)  # one line per transaction: sale_id in fact_sales


def test_stock_outs_censor_demand(run):
    catalog, _, rows, _ = run
    lost = rows.kind == b.LOST
    assert lost.any()
    cells = rows.store * len(catalog.products) + rows.product
    level = catalog.initial_stock.reshape(-1).copy()
    for i in range(len(rows)):
        kind, cell = rows.kind[i], cells[i]
        if kind == b.SALE:
            assert 0 < rows.quantity[i] <= level[cell], "a sale never exceeds the stock on the shelf"
        elif kind == b.LOST:
            assert level[cell] == 0, "demand is lost only when the shelf is empty"
        elif kind in b.INVENTORY_KINDS:
            level[cell] = rows.new_quantity[i]


def test_orders_fire_at_the_reorder_point_and_deliver_after_the_lead_time(run):
    catalog, _, rows, _ = run
    P = len(catalog.products)
    orders = {}
    for i in np.flatnonzero(rows.kind == b.ORDER):
        cell = int(rows.store[i] * P + rows.product[i])
        ref = tuple(rows.reference[i])
        orders[ref] = (cell, int(rows.time_ms[i]), int(rows.quantity[i]))
        # Placed right after the row that took stock to the reorder point or below.
        previous = [j for j in range(i - 1, max(i - 50, -1), -1) if rows.store[j] * P + rows.product[j] == cell]
        inventory = [j for j in previous if rows.kind[j] in b.INVENTORY_KINDS]
        assert inventory and rows.new_quantity[inventory[0]] <= catalog.reorder_point.reshape(-1)[cell]
    deliveries = np.flatnonzero(rows.kind == b.INV_DELIVERY)
    assert deliveries.size
    for i in deliveries:
        cell, placed, quantity = orders[tuple(rows.reference[i])]
        product = catalog.products[cell % P]
        supplier = next(s for s in catalog.suppliers if s.supplier_id == product.supplier_id)
        lead_days = (rows.time_ms[i] - placed) / 86_400_000
        assert 0.5 <= lead_days <= supplier.lead_time_days + 6 * supplier.lead_time_stddev_days + 0.001
        assert rows.quantity[i] == quantity == catalog.order_quantity.reshape(-1)[cell]
    # At most one open order per store/product: orders and deliveries alternate.
    sequence = defaultdict(list)
    for i in np.flatnonzero(np.isin(rows.kind, [b.ORDER, b.INV_DELIVERY])):
        sequence[int(rows.store[i] * P + rows.product[i])].append(int(rows.kind[i]))
    for kinds in sequence.values():
        assert all(k == (b.ORDER if n % 2 == 0 else b.INV_DELIVERY) for n, k in enumerate(kinds))


def test_sales_are_charged_the_price_in_force(run):
    catalog, _, _, events = run
    price: dict[tuple[str, str], float] = {}
    for store in catalog.stores:
        local_day = START.astimezone(zone(store.timezone)).date().toordinal()
        for j, product in enumerate(catalog.products):
            price[(store.store_id, product.product_id)] = catalog.promotions.prices(local_day)[j] / 100
    changes = 0
    for event in events:
        key = (event["store_id"], event["product_id"])
        if event["event_type"] == "price_change":
            assert event["old_price"] == price[key] != event["new_price"]
            local = datetime.fromisoformat(event["event_time"][:-1] + "+00:00").astimezone(
                zone(catalog.stores[catalog.store_ids.index(event["store_id"])].timezone)
            )
            assert (local.hour, local.minute) == (0, 0), "prices change at local midnight"
            assert event["reason"] == ("promotion_start" if event["promotion"] else "promotion_end") or (
                event["reason"] == "promotion_change"
            )
            price[key] = event["new_price"]
            changes += 1
        elif event["event_type"] == "sales_transaction":
            assert event["unit_price"] == price[key]
    assert changes > 0


def test_no_sales_outside_opening_hours(run):
    catalog, _, _, events = run
    stores = {s.store_id: s for s in catalog.stores}
    assert any(s.closed_weekdays for s in catalog.stores) and any(s.close_hour < 24 for s in catalog.stores)
    sales_by_weekday: dict[str, set[int]] = defaultdict(set)
    for event in events:
        if event["event_type"] != "sales_transaction":
            continue
        store = stores[event["store_id"]]
        local = datetime.fromisoformat(event["event_time"][:-1] + "+00:00").astimezone(zone(store.timezone))
        assert store.open_hour <= local.hour < store.close_hour, (event["event_time"], store.timezone)
        assert local.weekday() not in store.closed_weekdays
        sales_by_weekday[store.store_id].add(local.weekday())
    assert all(len(days) == 7 - len(stores[s].closed_weekdays) for s, days in sales_by_weekday.items())


def test_each_order_is_a_placed_event_and_its_delivery_a_received_one(run):
    catalog, _, rows, events = run
    orders = [e for e in events if e["event_type"] == "purchase_order"]
    placed = {e["order_id"]: e for e in orders if e["status"] == "placed"}
    received = {e["order_id"]: e for e in orders if e["status"] == "received"}
    assert len(placed) == np.count_nonzero(rows.kind == b.ORDER) and received
    assert len({e["event_id"] for e in events}) == len(events)  # derived ids collide with nothing
    deliveries = {
        e["reference_id"]: e for e in events if e["event_type"] == "inventory_update" and e["reason"] == "delivery"
    }
    assert set(received) == set(deliveries) and set(received) <= set(placed)
    for order_id, receipt in received.items():
        delivery, order = deliveries[order_id], placed[order_id]
        assert receipt["event_time"] == delivery["event_time"] and receipt["quantity"] == delivery["quantity_change"]
        assert (receipt["store_id"], receipt["product_id"]) == (order["store_id"], order["product_id"])
        assert receipt["quantity"] == order["quantity"] and receipt["expected_delivery"] is None
    stores = {s.store_id: s for s in catalog.stores}
    means = {p.product_id: p for p in catalog.products}
    suppliers = {s.supplier_id: s for s in catalog.suppliers}
    for order in placed.values():
        mean = suppliers[means[order["product_id"]].supplier_id].lead_time_days
        due = datetime.fromtimestamp(_ms(order) / 1000 + mean * 86400, timezone.utc)
        assert order["expected_delivery"] == due.astimezone(zone(stores[order["store_id"]].timezone)).date().isoformat()
