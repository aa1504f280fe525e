"""Stock on order end to end: the simulator's purchase orders (placed when its policy orders, received
with the delivery) go through Kafka, the real stream and bronze, the days are closed by the real daily
load, and ``fact_inventory.quantity_on_order`` equals the simulator's ground truth of open orders for
every store/product at the end of every day. Then a purchase order for the first closed day arrives
late: the late-arrival detection recomputes that day, and the cascade carries the change through the
following closed days (each recompute whose carried snapshot changed requests the next day).

The job and the daily load write to this module's own warehouse database and lake folder; the topics
are shared with the session's other tests, so the job starts at the topics' end and the catalogue's
stores get ids of their own (random), to which every assertion is scoped."""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from time import sleep
from typing import Any

import numpy as np
import pytest
from kafka import KafkaProducer

from retail_platform import topics
from retail_platform.batch import late_arrivals as late
from retail_platform.optimization.policy import OptimizationConfig
from retail_platform.optimization.warehouse import run_day
from retail_platform.settings import Settings
from retail_platform.simulation import batch as b
from retail_platform.simulation.catalog import Catalog, CatalogConfig, generate_catalog
from retail_platform.simulation.catalog_load import load_warehouse
from retail_platform.simulation.encoding import Encoder
from retail_platform.simulation.generator import EventGenerator, GeneratorConfig
from retail_platform.simulation.ground_truth import GroundTruth
from retail_platform.streaming.config import QUERY_NAME
from retail_platform.warehouse.client import connect
from tests.integration.databases import scratch_database
from tests.integration.test_stream_events import StreamJob
from tests.integration.test_switch_exact import close_days, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.warehouse, pytest.mark.spark]

UTC = timezone.utc
FIRST = datetime.now(UTC).date() - timedelta(days=4)
DAYS = [FIRST + timedelta(days=i) for i in range(3)]  # all well past the close grace
TAG = uuid.uuid4().hex[:6]


def catalog() -> Catalog:
    """A small fleet with store ids of its own, starting a little above the reorder points (so every
    store/product orders within the run and many receive their order in it)."""
    base = generate_catalog(CatalogConfig(seed=11, stores=2, products=8, lines_per_store_hour=20.0))
    numbers = random.Random(TAG).sample(range(10000, 99999), len(base.stores))
    stores = tuple(dataclasses.replace(s, store_id=f"store_{n}") for s, n in zip(base.stores, numbers, strict=True))
    extra = np.random.default_rng(11).integers(1, 6, base.reorder_point.shape)
    return dataclasses.replace(base, stores=stores, initial_stock=base.reorder_point + extra)


def end_of_day_ms(day: date) -> int:
    return int(datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC).timestamp() * 1000) - 1


@pytest.fixture(scope="module")
def scoped(warehouse: Settings, kafka: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    lake = tmp_path_factory.mktemp("orders") / "lake"
    with scratch_database(warehouse, "orders") as settings:
        yield dataclasses.replace(settings, lake_uri=f"file://{lake}")


def produce(settings: Settings, cat: Catalog) -> GroundTruth:
    """Every generated event of DAYS to its topic (keyed by store), and the ground truth of the run."""
    start = datetime.combine(DAYS[0], time(), tzinfo=UTC)
    generator = EventGenerator(cat, GeneratorConfig(start=start, end=start + timedelta(days=len(DAYS)), seed=3))
    truth = GroundTruth.start("orders", 3, "test", cat.store_ids, cat.product_ids, cat.initial_stock)
    encoder = Encoder(cat)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20)
    try:
        for rows in generator.batches():
            truth.add_rows(rows)
            messages = encoder.encode(rows)
            for kind, store, value in zip(
                messages.event_type.tolist(), messages.store.tolist(), messages.values, strict=True
            ):
                producer.send(b.TOPICS[kind], value, key=cat.store_ids[store].encode())
        producer.flush()
    finally:
        producer.close()
    return truth


def facts(settings: Settings, stores: list[str]) -> dict[tuple[str, str, date], int]:
    client = connect(settings)
    try:
        rows = client.query(
            "SELECT store_id, product_id, date_key, quantity_on_order FROM fact_inventory FINAL "
            "WHERE store_id IN %(stores)s",
            parameters={"stores": stores},
        ).result_rows
    finally:
        client.close()
    return {(s, p, d): int(q) for s, p, d, q in rows}


def send_late_order(settings: Settings, store: str, product: str, day: date, units: int) -> str:
    """A purchase order placed on ``day`` (already closed) that reaches Kafka only now."""
    order_id = f"PO-late-{TAG}"
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "purchase_order",
        "schema_version": 1,
        "event_time": f"{day.isoformat()}T12:00:00.000Z",
        "store_id": store,
        "product_id": product,
        "order_id": order_id,
        "status": "placed",
        "quantity": units,
        "expected_delivery": (day + timedelta(days=30)).isoformat(),
    }
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        producer.send(topics.PURCHASE_ORDERS.name, json.dumps(event).encode(), key=store.encode()).get(timeout=30)
    finally:
        producer.close()
    return order_id


def detect(settings: Settings, expected: list[date], tries: int = 30) -> list[late.Recompute]:
    """One run of the late_arrivals DAG's detection, which must choose ``expected``. The stream writes
    a day's counts right after its bronze append, so it is asked again for a few seconds until then."""
    client = connect(settings)
    try:
        for _ in range(tries):
            chosen = late.detect_and_record(client, settings.clickhouse_database, detected_by="orders-test")
            if chosen:
                break
            sleep(1)
    finally:
        client.close()
    assert [r.late.day for r in chosen] == expected
    return chosen


def recompute(spark: Any, settings: Settings, chosen: list[late.Recompute]) -> list[str]:
    """The daily_etl runs the detection triggers (one day each); the reasons recorded."""
    for r in chosen:
        close_days(spark, settings, r.late.day, r.late.day)
    return [r.reason for r in chosen]


def test_quantity_on_order_equals_the_simulators_open_orders(scoped: Settings, spark: Any, tmp_path: Path) -> None:
    settings = scoped
    cat = catalog()
    load_warehouse(cat, settings)
    job = StreamJob(settings, settings.clickhouse_database, Path(settings.lake_uri.removeprefix("file://")), tmp_path)
    try:
        # From the topics' start (as the managed stream does): the close needs every partition read.
        job.start("--query-name", QUERY_NAME)
        truth = produce(settings, cat)
        wait_caught_up(settings, job)
        close_days(spark, settings, DAYS[0], DAYS[-1])

        placed = len(truth.orders["cell"])
        received = sum(1 for r in truth.orders["received_ms"] if r >= 0)
        assert placed > 10 and received > 5, "the run must place and receive orders on several days"
        shown = facts(settings, cat.store_ids)
        expected: dict[tuple[str, str, date], int] = {}
        for day in DAYS:
            units = truth.on_order_at(end_of_day_ms(day))
            for s, p in np.ndindex(*units.shape):
                expected[(cat.store_ids[s], cat.product_ids[p], day)] = int(units[s, p])
        # A store/product has a row from its first stock movement on (every one moves on the first open
        # day here); from then on, every day.
        assert {(s, p) for s, p, d in shown if d == DAYS[-1]} == {(s, p) for s, p, _ in expected}
        assert shown == {key: expected[key] for key in shown}
        assert sum(1 for v in expected.values() if v > 0) > 5

        # A late purchase order for the first closed day: late_arrivals recomputes that day; the stock
        # on order the next day starts from changed, so that recompute requests the next closed day,
        # and so on to the newest closed day, where the chain stops. Every closed day then shows it.
        store, product, extra = cat.store_ids[0], cat.product_ids[0], 17
        send_late_order(settings, store, product, DAYS[0], extra)
        wait_caught_up(settings, job)
        found = detect(settings, [DAYS[0]])
    finally:
        job.stop()  # consumed and counted: the recomputes need the stream's record, not the stream
    assert recompute(spark, settings, found) == [late.REASON_LATE_STREAM_EVENTS]
    assert recompute(spark, settings, detect(settings, [DAYS[1]], tries=1)) == [late.REASON_CARRIED_STOCK]
    assert recompute(spark, settings, detect(settings, [DAYS[2]], tries=1)) == [late.REASON_CARRIED_STOCK]
    client = connect(settings)
    try:
        assert late.detect_and_record(client, settings.clickhouse_database) == []  # converged
    finally:
        client.close()
    after = facts(settings, cat.store_ids)
    corrected = {k: v + (extra if k[:2] == (store, product) else 0) for k, v in expected.items()}
    assert after == {key: corrected[key] for key in after} and set(after) == set(shown)

    # The recommendations (the production function, warehouse in and out) take that stock on order:
    # their inventory position is on hand + on order of the last closed day.
    client = connect(settings)
    try:
        run_day(client, settings.clickhouse_database, DAYS[-1], OptimizationConfig(), run_id="orders-test")
        rows = client.query(
            "SELECT r.store_id, r.product_id, r.quantity_on_order, r.inventory_position, "
            "f.quantity_on_hand + f.quantity_on_order FROM ml_reorder_recommendations AS r FINAL "
            "INNER JOIN (SELECT * FROM fact_inventory FINAL WHERE date_key = %(d)s) AS f "
            "ON f.store_id = r.store_id AND f.product_id = r.product_id WHERE r.run_date = %(d)s",
            parameters={"d": DAYS[-1]},
        ).result_rows
    finally:
        client.close()
    assert len(rows) == len(cat.store_ids) * len(cat.product_ids)
    for store_id, product_id, ordered, position, on_hand_and_order in rows:
        assert ordered == corrected[(store_id, product_id, DAYS[-1])] and position == on_hand_and_order
