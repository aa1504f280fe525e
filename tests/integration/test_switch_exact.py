"""The batch/real-time switch moves no number: the real stream and the real daily load on the same
faulted events, with the serving views compared to the ground truth of what was produced before the
close, after it, and after the late events' recompute.

Faults: a duplicate redelivered after the stream's deduplication window (the job runs with a
20-second window here, so "later than the window" takes seconds, not 20 minutes), a sale of a product
the catalogue does not hold yet (counted live; an inferred member at the close), the stream stopped
while events on both sides of a midnight were produced and resumed, and late events for a day after
it closed (detected from ops_stream_days and recomputed).

The job and the daily load write to this module's own warehouse database and lake folder; the
topics are shared with the session's other tests, so every assertion is scoped to this module's
stores and products (random keys)."""

from __future__ import annotations

import dataclasses
import json
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from retail_platform import topics
from retail_platform.batch import close, daily, late_arrivals
from retail_platform.settings import Settings
from retail_platform.warehouse.client import connect
from tests.integration.databases import scratch_database
from tests.integration.test_stream_events import StreamJob, fixture, iso

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.warehouse, pytest.mark.spark]

UTC = timezone.utc
TODAY = datetime.now(UTC).date()
D = TODAY - timedelta(days=3)  # closed by this test (and D1: both well past the close grace)
D1 = D + timedelta(days=1)  # the day after D's midnight, closed with it
TAG = uuid.uuid4().hex[:6]
_N = random.Random(TAG).sample(range(10000, 99999), 5)
STORES = [f"store_{_N[0]}", f"store_{_N[1]}"]
KNOWN = [f"SKU{_N[2]}", f"SKU{_N[3]}"]
UNKNOWN = f"SKU{_N[4]}"  # not in the catalogue: an inferred member at the close
CATEGORY = f"Switch {TAG}"
CENT = Decimal("0.01")


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


@dataclasses.dataclass
class Truth:
    """Produces events and keeps what a correct platform must show."""

    producer: KafkaProducer
    sales: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    stock: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def _send(self, topic: str, event: dict[str, Any]) -> None:
        self.producer.send(topic, json.dumps(event).encode(), key=event["store_id"].encode()).get(timeout=30)

    def sale(self, store: str, product: str, quantity: int, price: float, when: datetime) -> dict[str, Any]:
        event = fixture("sales_transaction") | {
            "event_id": str(uuid.uuid4()),
            "event_time": iso(when),
            "store_id": store,
            "product_id": product,
            "transaction_id": f"T-{uuid.uuid4().hex[:8]}",
            "quantity": quantity,
            "unit_price": price,
        }
        self._send(topics.SALES.name, event)
        self.sales[event["event_id"]] = event
        return event

    def level(self, store: str, product: str, change: int, level: int, reason: str, when: datetime) -> None:
        event = fixture("inventory_update") | {
            "event_id": str(uuid.uuid4()),
            "event_time": iso(when),
            "store_id": store,
            "product_id": product,
            "quantity_change": change,
            "new_quantity": level,
            "reason": reason,
        }
        self._send(topics.INVENTORY.name, event)
        self.stock[event["event_id"]] = event

    def redeliver(self, event: dict[str, Any]) -> None:
        self._send(topics.SALES.name, event)

    # ---- expectations ---------------------------------------------------------------------------

    def sales_daily(self) -> dict[tuple[str, str, date], tuple[int, Decimal, int]]:
        out: dict[tuple[str, str, date], list[Any]] = defaultdict(lambda: [0, Decimal("0.00"), 0])
        for s in self.sales.values():
            row = out[(s["store_id"], s["product_id"], datetime.fromisoformat(s["event_time"]).date())]
            price = Decimal(repr(float(s["unit_price"]))).quantize(CENT, rounding=ROUND_HALF_UP)
            row[0] += s["quantity"]
            row[1] += s["quantity"] * price
            row[2] += 1
        return {k: (u, r, n) for k, (u, r, n) in out.items()}

    def store_daily(self) -> dict[tuple[str, date], tuple[int, Decimal, int]]:
        out: dict[tuple[str, date], list[Any]] = defaultdict(lambda: [0, Decimal("0.00"), 0])
        for (store, _, day), (units, revenue, lines) in self.sales_daily().items():
            row = out[(store, day)]
            row[0], row[1], row[2] = row[0] + units, row[1] + revenue, row[2] + lines
        return {k: tuple(v) for k, v in out.items()}  # type: ignore[misc]

    def category_daily(self, days: set[date]) -> dict[date, tuple[int, Decimal]]:
        out: dict[date, list[Any]] = defaultdict(lambda: [0, Decimal("0.00")])
        for (_, product, day), (units, revenue, _) in self.sales_daily().items():
            if product in KNOWN and day in days:
                out[day][0] += units
                out[day][1] += revenue
        return {k: tuple(v) for k, v in out.items()}  # type: ignore[misc]

    def stock_current(self) -> dict[tuple[str, str], int]:
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for e in self.stock.values():
            key = (e["store_id"], e["product_id"])
            if key not in newest or (e["event_time"], e["event_id"]) > (
                newest[key]["event_time"],
                newest[key]["event_id"],
            ):
                newest[key] = e
        return {k: e["new_quantity"] for k, e in newest.items()}


# ---- the views, scoped to this module's keys --------------------------------------------------------


def views(settings: Settings) -> dict[str, Any]:
    client = connect(settings)
    keys = {"stores": STORES}
    try:
        sales = client.query(
            "SELECT store_id, product_id, date, units, revenue, sale_lines FROM v_sales_daily "
            "WHERE store_id IN %(stores)s",
            parameters=keys,
        ).result_rows
        stores = client.query(
            "SELECT store_id, date, units, revenue, sale_lines FROM v_store_daily WHERE store_id IN %(stores)s",
            parameters=keys,
        ).result_rows
        stock = client.query(
            "SELECT store_id, product_id, quantity_on_hand FROM v_stock_current WHERE store_id IN %(stores)s",
            parameters=keys,
        ).result_rows
        category = client.query(
            "SELECT date, units, revenue FROM v_category_daily WHERE category = %(c)s", parameters={"c": CATEGORY}
        ).result_rows
        sources = client.query(
            "SELECT date, groupUniqArray(source) FROM v_sales_daily WHERE store_id IN %(stores)s GROUP BY date",
            parameters=keys,
        ).result_rows
    finally:
        client.close()
    return {
        "sales_daily": {(s, p, d): (int(u), Decimal(r), int(n)) for s, p, d, u, r, n in sales},
        "store_daily": {(s, d): (int(u), Decimal(r), int(n)) for s, d, u, r, n in stores},
        "stock_current": {(s, p): int(q) for s, p, q in stock},
        "category_daily": {d: (int(u), Decimal(r)) for d, u, r in category},
        "sources": {d: sorted(v) for d, v in sources},
    }


def assert_views_equal_truth(settings: Settings, truth: Truth, closed: set[date]) -> None:
    shown = views(settings)
    assert shown["sales_daily"] == truth.sales_daily()
    assert shown["store_daily"] == truth.store_daily()
    assert shown["stock_current"] == truth.stock_current()
    assert shown["category_daily"] == truth.category_daily(closed)
    assert shown["sources"] == {d: ["batch" if d in closed else "speed"] for d in shown["sources"]}


# ---- the stream and the close ------------------------------------------------------------------------


def caught_up(settings: Settings) -> bool:
    has_stream, positions = close.stream_positions(settings)
    return has_stream and not close.behind(close.take_target(settings).end_offsets, positions)


def wait_caught_up(settings: Settings, job: StreamJob, timeout: float = 420) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if caught_up(settings):
            return
        if not job.alive():
            pytest.fail(f"the streaming job exited:\n{job.log_tail()}")
        time.sleep(1)
    pytest.fail(f"the stream did not catch up:\n{job.log_tail()}")


def close_days(spark: Any, settings: Settings, first: date, last: date) -> None:
    """What daily_etl does for a range: refuse unless the stream is past it, then recompute."""
    close.await_closable(settings, [first, last], wait_seconds=120, poll_seconds=2)
    result = daily.run_days(spark, settings, first, last, run_id="switch-test")
    assert not result.failed, result.failed


@pytest.fixture(scope="module")
def scoped(warehouse: Settings, kafka: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    lake = tmp_path_factory.mktemp("switch") / "lake"
    with scratch_database(warehouse, "switch") as settings:
        yield dataclasses.replace(settings, lake_uri=f"file://{lake}")


def load_catalogue(settings: Settings) -> None:
    client = connect(settings)
    try:
        client.insert(
            "dim_store",
            [[s, f"Store {s}", "supermarket", "Lyon", "South", "FR", date(2020, 1, 1)] for s in STORES],
            column_names=["store_id", "store_name", "store_type", "city", "region", "country", "opened_on"],
        )
        client.insert(
            "dim_product",
            [
                [p, at(D - timedelta(days=30), 0), f"Product {p}", CATEGORY, "SUP-T", Decimal("1.25"), Decimal("2.50")]
                for p in KNOWN
            ],
            column_names=[
                "product_id",
                "valid_from",
                "product_name",
                "category",
                "supplier_id",
                "unit_cost",
                "unit_price",
            ],
        )
    finally:
        client.close()


def test_every_view_equals_the_ground_truth_across_the_switch(scoped: Settings, spark: Any, tmp_path: Path) -> None:
    settings = scoped
    load_catalogue(settings)
    a, b = STORES
    p1, p2 = KNOWN
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    truth = Truth(producer)
    job = StreamJob(settings, settings.clickhouse_database, Path(settings.lake_uri.removeprefix("file://")), tmp_path)
    options = ("--query-name", "stream_events", "--dedup-watermark", "20 seconds")
    try:
        job.start(*options)
        # Day D: known and unknown products, stock movements; today: an open day.
        first = truth.sale(a, p1, 2, 2.5, at(D, 9))
        truth.sale(a, p2, 1, 4.99, at(D, 10))
        truth.sale(b, p1, 3, 2.675, at(D, 11, 30))
        truth.sale(a, UNKNOWN, 4, 1.1, at(D, 12))
        truth.level(a, p1, 50, 50, "delivery", at(D, 8))
        truth.level(a, p1, -2, 48, "sale", at(D, 9))
        truth.level(b, p1, -3, 17, "sale", at(D, 11, 30))
        truth.sale(b, p2, 1, 3.0, datetime.now(UTC) - timedelta(minutes=3))
        wait_caught_up(settings, job)

        # A redelivery of D's first sale once the 20-second window is long past (traffic in between
        # moves the stream's watermark on, so its dedup state forgets the id).
        for _ in range(12):
            truth.sale(b, p2, 1, 3.0, datetime.now(UTC) - timedelta(seconds=5))
            time.sleep(4)
        truth.redeliver(first)
        wait_caught_up(settings, job)

        # The stream stopped across a midnight: sales on both sides of it wait in Kafka, then it resumes.
        job.stop()
        truth.sale(b, p2, 5, 3.0, at(D, 23, 59, 30))
        truth.sale(b, p2, 6, 3.0, at(D1, 0, 0, 30))
        truth.level(b, p1, 20, 37, "delivery", at(D1, 7))
        job.start(*options)
        wait_caught_up(settings, job)

        assert_views_equal_truth(settings, truth, closed=set())

        close_days(spark, settings, D, D1)
        assert_views_equal_truth(settings, truth, closed={D, D1})
        client = connect(settings)
        inferred = client.query("SELECT member_key FROM v_inferred_members WHERE kind = 'product'").result_rows
        client.close()
        assert UNKNOWN in {key for (key,) in inferred}

        # Late events for D after its close: served by the batch side, so missing until D is recomputed.
        truth.sale(b, p1, 7, 2.5, at(D, 15))
        truth.sale(a, UNKNOWN, 1, 1.1, at(D, 16))
        wait_caught_up(settings, job)
        client = connect(settings)
        late = late_arrivals.detect_and_record(client, settings.clickhouse_database, detected_by="switch-test")
        client.close()
        assert [r.late.day for r in late] == [D]
        close_days(spark, settings, D, D)
        assert_views_equal_truth(settings, truth, closed={D, D1})
        client = connect(settings)
        assert late_arrivals.late_days(client, settings.clickhouse_database) == []
        client.close()
    finally:
        job.stop()
        producer.close()
