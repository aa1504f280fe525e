"""The streaming job against the real Kafka broker, warehouse endpoint and Spark.

A known set of events (built from the contract fixtures: valid sales, inventory and price changes,
exact duplicates, late events, malformed JSON and schema-invalid events) is produced to the contract
topics; the job runs as a spark-submit subprocess until ops_stream_batches shows every offset
consumed. Then: units and revenue per store/product, stock, quarantine reasons and offsets, the
reconciliation produced = accepted + quarantined + duplicates, bronze (read with pyarrow from the
Delta log) and restock alerts are exact. A second wave is produced while the job is SIGKILLed and
restarted twice; the totals stay exact and no alert is published twice.

The job writes to its own warehouse database and lake folder. The Kafka topics are shared with any
other test of the session, so assertions are scoped to this module's stores (random store numbers)
and to the offsets its producer got back.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from retail_platform import topics
from retail_platform.settings import REPO_ROOT, Settings
from retail_platform.spark import submit_args, submit_env
from retail_platform.streaming import ops, tables
from retail_platform.streaming.alerts import Alert, alert_event_id
from retail_platform.streaming.batch import CollectedBatch, process
from retail_platform.streaming.columns import INPUT_TOPICS
from retail_platform.streaming.outbox import KafkaOutbox, message_id_of
from retail_platform.streaming.sink import Warehouse
from retail_platform.warehouse import migrations
from retail_platform.warehouse.client import connect

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.warehouse, pytest.mark.spark]

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "events"
INVALID = json.loads((FIXTURES / "invalid.json").read_text())
UTC = timezone.utc
QUERY_NAME = "stream_events_it"
REORDER_POINT, ORDER_QUANTITY = 10, 40


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.valid.json").read_text())


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- the scenario: what is produced and what must come out ---------------------------------------


@dataclass
class Scenario:
    """Produces events and keeps the ground truth of everything it produced."""

    producer: KafkaProducer
    stores: list[str]
    products: list[str]
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    valid: dict[str, dict[str, Any]] = field(default_factory=dict)  # event_id -> event (first copy)
    duplicates: int = 0
    rejected: dict[tuple[str, int, int], str] = field(default_factory=dict)  # coordinates -> reason
    expected_alert_sources: list[str] = field(default_factory=list)  # inventory event ids that cross
    produced: int = 0

    def _send(self, topic: str, value: bytes, key: str | None) -> tuple[str, int, int]:
        meta = self.producer.send(topic, value=value, key=key.encode() if key else None).get(timeout=30)
        self.produced += 1
        return meta.topic, meta.partition, meta.offset

    def _valid(self, topic: str, event: dict[str, Any]) -> dict[str, Any]:
        self._send(topic, json.dumps(event).encode(), event["store_id"])
        self.valid[event["event_id"]] = event
        return event

    def sale(self, store: str, product: str, quantity: int, price: float, at: datetime) -> dict[str, Any]:
        event = fixture("sales_transaction") | {
            "event_id": str(uuid.uuid4()),
            "event_time": iso(at),
            "store_id": store,
            "product_id": product,
            "transaction_id": f"txn-{uuid.uuid4().hex[:8]}",
            "quantity": quantity,
            "unit_price": price,
        }
        return self._valid(topics.SALES.name, event)

    def stock(self, store: str, product: str, level: int, at: datetime, *, alerts: bool = False) -> dict[str, Any]:
        event = fixture("inventory_update") | {
            "event_id": str(uuid.uuid4()),
            "event_time": iso(at),
            "store_id": store,
            "product_id": product,
            "quantity_change": -1,
            "new_quantity": level,
        }
        if alerts:
            self.expected_alert_sources.append(event["event_id"])
        return self._valid(topics.INVENTORY.name, event)

    def price(self, store: str, product: str, at: datetime) -> dict[str, Any]:
        event = fixture("price_change") | {
            "event_id": str(uuid.uuid4()),
            "event_time": iso(at),
            "store_id": store,
            "product_id": product,
        }
        return self._valid(topics.PRICES.name, event)

    def duplicate(self, event: dict[str, Any]) -> None:
        topic = {
            "sales_transaction": topics.SALES.name,
            "inventory_update": topics.INVENTORY.name,
            "price_change": topics.PRICES.name,
        }[event["event_type"]]
        self._send(topic, json.dumps(event).encode(), event["store_id"])
        self.duplicates += 1

    def bad(self, topic: str, value: bytes, reason: str, key: str | None = None) -> None:
        self.rejected[self._send(topic, value, key)] = reason

    def all_invalid_fixtures(self) -> None:
        by_type = {"inventory_update": topics.INVENTORY.name, "price_change": topics.PRICES.name}
        for case in INVALID:
            event = case["event"]
            value = (event if isinstance(event, str) else json.dumps(event)).encode()
            kind = event.get("event_type") if isinstance(event, dict) else None
            self.bad(by_type.get(kind, topics.SALES.name), value, case["reason"], self.stores[0])
        self.bad(topics.SALES.name, json.dumps(fixture("price_change")).encode(), "wrong_topic")
        self.bad(topics.INVENTORY.name, b"\xff\xfe not utf-8 at all", "malformed_json")

    # ---- expectations -----------------------------------------------------------------------------

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.valid.values() if e["event_type"] == event_type]

    def sales_totals(self) -> dict[tuple[str, str], tuple[int, Decimal]]:
        totals: dict[tuple[str, str], tuple[int, Decimal]] = {}
        for sale in self.of_type("sales_transaction"):
            key = (sale["store_id"], sale["product_id"])
            units, revenue = totals.get(key, (0, Decimal("0.00")))
            price = Decimal(str(sale["unit_price"])).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            totals[key] = (units + sale["quantity"], revenue + sale["quantity"] * price)
        return totals

    def current_stock(self) -> dict[tuple[str, str], int]:
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for event in self.of_type("inventory_update"):
            key = (event["store_id"], event["product_id"])
            if key not in newest or (event["event_time"], event["event_id"]) > (
                newest[key]["event_time"],
                newest[key]["event_id"],
            ):
                newest[key] = event
        return {key: e["new_quantity"] for key, e in newest.items()}


def wave_one(s: Scenario) -> None:
    """Sales over several windows and stores, a late day, duplicates, stock sequences that cross the
    reorder point (in order, out of order, late), prices, and every kind of invalid event."""
    a, b, c = s.stores
    p1, p2, p3 = s.products
    t = s.now - timedelta(minutes=40)
    first = s.sale(a, p1, 2, 29.99, t)
    s.sale(a, p1, 1, 29.99, t + timedelta(minutes=7))
    s.sale(a, p2, 3, 0.1, t + timedelta(minutes=1))
    s.sale(b, p1, 5, 2.675, t + timedelta(minutes=12))
    late = s.sale(b, p2, 4, 19.5, s.now - timedelta(days=3))  # late: days ago, still counted
    s.sale(c, p3, 1, 99999.99, t + timedelta(minutes=20))
    s.duplicate(first)
    s.duplicate(late)

    # a/p1: 50 -> 30 -> 9 (alert) -> 5 (still alerted); a late, older 100 changes nothing.
    s.stock(a, p1, 50, t)
    s.stock(a, p1, 30, t + timedelta(minutes=1))
    s.stock(a, p1, 9, t + timedelta(minutes=2), alerts=True)
    low = s.stock(a, p1, 5, t + timedelta(minutes=3))
    s.stock(a, p1, 100, s.now - timedelta(days=2))
    s.duplicate(low)
    # b/p1: 8 (alert) -> 60 (re-armed) -> 7 (alert again)
    s.stock(b, p1, 8, t, alerts=True)
    s.stock(b, p1, 60, t + timedelta(minutes=1))
    s.stock(b, p1, 7, t + timedelta(minutes=2), alerts=True)
    # c/p3 out of order: the newer level (3, alerts) is produced before the older one (20)
    s.stock(c, p3, 3, t + timedelta(minutes=5), alerts=True)
    s.stock(c, p3, 20, t + timedelta(minutes=4))
    # a/p2 never reaches the reorder point
    s.stock(a, p2, 40, t)
    s.stock(a, p2, 11, t + timedelta(minutes=1))

    s.price(a, p1, t)
    s.duplicate(s.price(b, p2, t + timedelta(minutes=2)))
    s.all_invalid_fixtures()


def wave_two(s: Scenario, rnd: random.Random) -> Iterator[None]:
    """More of everything, in steps (the caller kills and restarts the job between steps)."""
    a, b, c = s.stores
    p1, p2, p3 = s.products
    t = s.now - timedelta(minutes=10)
    earlier = list(s.valid.values())
    for step in range(6):
        for i in range(25):
            store, product = rnd.choice(s.stores), rnd.choice(s.products)
            at = t + timedelta(seconds=step * 60 + i)
            if i % 9 == 0:
                at = s.now - timedelta(days=1 + i % 3)  # late
            s.sale(store, product, rnd.randint(1, 7), rnd.choice([1.99, 4.5, 12.0, 0.35]), at)
            if i % 7 == 0:
                s.duplicate(rnd.choice(earlier))  # a redelivery from wave one, minutes later
            if i % 11 == 0:
                s.bad(topics.SALES.name, b'{"event_id": "half', "malformed_json", store)
        if step == 1:
            s.stock(b, p1, 70, t + timedelta(minutes=1))  # restocked: re-armed
            s.stock(b, p1, 4, t + timedelta(minutes=2), alerts=True)
            s.stock(a, p1, 3, t + timedelta(minutes=2))  # still alerted: nothing
        if step == 3:
            s.stock(c, p3, 10, t + timedelta(minutes=3))  # still alerted since wave one
            s.stock(a, p2, 10, t + timedelta(minutes=3), alerts=True)  # exactly the reorder point
        if step == 4:
            s.price(c, p2, t)
        s.producer.flush()
        yield


# ---- the job as a subprocess ----------------------------------------------------------------------


class StreamJob:
    def __init__(self, settings: Settings, database: str, lake: Path, log_dir: Path) -> None:
        self.settings, self.database, self.lake, self.log_dir = settings, database, lake, log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *options: str) -> None:
        env = {
            **submit_env(self.settings),
            "RETAIL_CLICKHOUSE_DATABASE": self.database,
            "RETAIL_LAKE_URI": f"file://{self.lake}",
        }
        argv = [
            "spark-submit",
            *submit_args(self.settings),
            "--driver-memory",
            "1g",
            str(REPO_ROOT / "spark_jobs" / "stream_events.py"),
            "--query-name",
            QUERY_NAME,
            "--trigger-seconds",
            "1",
            *options,
        ]
        self.starts += 1
        log = (self.log_dir / f"stream-{self.starts}.log").open("wb")
        # Own process group: SIGKILL reaches the JVM and the Python driver it started, nothing else.
        self.proc = subprocess.Popen(
            argv, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()

    def log_tail(self) -> str:
        text = (self.log_dir / f"stream-{self.starts}.log").read_text(errors="replace")
        return "\n".join(line for line in text.splitlines() if "WARN" not in line)[-4000:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def status(settings: Settings, database: str) -> ops.StreamStatus:
    client = connect(settings, database=database)
    try:
        return ops.stream_status(client, settings.kafka_bootstrap, QUERY_NAME, [t.name for t in INPUT_TOPICS])
    finally:
        client.close()


def batches_recorded(settings: Settings, database: str) -> int:
    client = connect(settings, database=database)
    try:
        return int(client.command(f"SELECT count() FROM ops_stream_batches FINAL WHERE query_name = '{QUERY_NAME}'"))
    finally:
        client.close()


def wait_until(predicate: Any, timeout: float, job: StreamJob, what: str, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if not job.alive():
            pytest.fail(f"the streaming job exited while waiting for {what}:\n{job.log_tail()}")
        time.sleep(every)
    pytest.fail(f"timed out waiting for {what}:\n{job.log_tail()}")


def wait_caught_up(settings: Settings, database: str, job: StreamJob, timeout: float = 420) -> ops.StreamStatus:
    wait_until(
        lambda: status(settings, database).total_lag == 0 and batches_recorded(settings, database) > 0,
        timeout,
        job,
        "every offset to be consumed",
    )
    return status(settings, database)


# ---- reading the sinks ----------------------------------------------------------------------------


def delta_table(path: Path) -> tuple[pa.Table | None, list[list[tuple[str, ...]]]]:
    """Rows of a Delta table (active files per its JSON log) and, per commit, the partitions added."""
    active: dict[str, dict[str, str]] = {}
    commits: list[list[tuple[str, ...]]] = []
    for entry in sorted((path / "_delta_log").glob("*.json")):
        added: list[tuple[str, ...]] = []
        for line in entry.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                active[action["add"]["path"]] = action["add"]["partitionValues"]
                added.append(tuple(action["add"]["partitionValues"][k] for k in ("year", "month", "day")))
            elif "remove" in action:
                active.pop(action["remove"]["path"], None)
        commits.append(added)
    parts = []
    for relative, values in active.items():
        part = pq.read_table(path / unquote(relative))
        for name, value in values.items():
            part = part.append_column(name, pa.array([value] * part.num_rows, pa.string()))
        parts.append(part)
    return (pa.concat_tables(parts) if parts else None), commits


def topic_messages(settings: Settings, topic: str) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(tps)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


# ---- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database(warehouse: Settings, kafka: Settings) -> Iterator[str]:
    name = f"stream_it_{uuid.uuid4().hex[:8]}"
    client = connect(warehouse, database="")
    migrations.apply_all(client, database=name)
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    client.close()


@pytest.fixture(scope="module")
def scenario(kafka: Settings, database: str) -> Iterator[Scenario]:
    rnd = random.Random()
    # Keys in the formats retailers use (events/identifiers.py), not only the simulator's: a seed-000
    # store code, a store name with a space and a slash, the simulator's; a seed-000 product code, an
    # EAN-13 with a leading zero, a supplier code with a dot and a slash, case kept.
    s1, s2, s3 = rnd.sample(range(10000, 99999), 3)
    stores = [f"STORE-{s1}", f"Berlin Mitte/{s2}", f"store_{s3:05d}"]
    p1, p2, p3 = rnd.sample(range(100000, 999999), 3)
    products = [f"PROD-ABC{p1}", f"0{p2:06d}{p3:06d}", f"sku.{p3}/b"]
    producer = KafkaProducer(bootstrap_servers=kafka.kafka_bootstrap, acks="all", linger_ms=2)
    client = connect(kafka, database=database)
    client.insert(
        "rt_reorder_policy",
        [[s, p, REORDER_POINT, ORDER_QUANTITY] for s in stores for p in products],
        column_names=["store_id", "product_id", "reorder_point", "order_quantity"],
    )
    client.close()
    yield Scenario(producer, stores, products)
    producer.close()


@pytest.fixture(scope="module")
def job(kafka: Settings, database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamJob]:
    root = tmp_path_factory.mktemp("stream")
    running = StreamJob(kafka, database, root / "lake", root)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wave_one_done(kafka: Settings, database: str, scenario: Scenario, job: StreamJob) -> ops.StreamStatus:
    wave_one(scenario)
    scenario.producer.flush()
    job.start()
    return wait_caught_up(kafka, database, job)


# ---- assertions shared by both waves --------------------------------------------------------------


def assert_exact(settings: Settings, database: str, s: Scenario, lake: Path, consumed_from: int = 0) -> None:
    """``consumed_from``: the records the job's checkpoint started after (0 when it read from the start)."""
    client = connect(settings, database=database)
    mine = {"stores": tuple(s.stores)}
    try:
        sales = client.query(
            "SELECT store_id, product_id, sum(units), sum(revenue) FROM rt_sales_5min "
            "WHERE store_id IN %(stores)s GROUP BY store_id, product_id",
            parameters=mine,
        ).result_rows
        stock = client.query(
            "SELECT store_id, product_id, quantity FROM rt_stock FINAL WHERE store_id IN %(stores)s", parameters=mine
        ).result_rows
        quarantine = client.query(
            "SELECT source_topic, source_partition, source_offset, reason, count() FROM rt_quarantine FINAL "
            "GROUP BY source_topic, source_partition, source_offset, reason"
        ).result_rows
        physical_quarantine = client.query(
            "SELECT source_topic, source_partition, source_offset, count() FROM rt_quarantine "
            "GROUP BY source_topic, source_partition, source_offset HAVING count() > 1"
        ).result_rows
        alerts = client.query(
            "SELECT event_id, source_event_id, count() FROM rt_restock_alerts WHERE store_id IN %(stores)s "
            "GROUP BY event_id, source_event_id",
            parameters=mine,
        ).result_rows
        velocity = client.query(
            "SELECT store_id, product_id, units_7d, revenue_7d FROM v_rt_sales_velocity WHERE store_id IN %(stores)s",
            parameters=mine,
        ).result_rows
        risk = client.query(
            "SELECT store_id, product_id, current_stock, reorder_point, demand_per_day, days_of_cover, risk_level "
            "FROM v_rt_stock_risk WHERE store_id IN %(stores)s",
            parameters=mine,
        ).result_rows
        batches = client.query(
            "SELECT batch_id, input_total, accepted, quarantined, duplicates_dropped FROM ops_stream_batches FINAL "
            "WHERE query_name = %(q)s",
            parameters={"q": QUERY_NAME},
        ).result_rows
    finally:
        client.close()

    # units and revenue per store/product, late sales included
    assert {(st, p): (int(u), Decimal(r)) for st, p, u, r in sales} == s.sales_totals()
    # stock: newest event by event_time, whatever the arrival order
    assert {(st, p): int(q) for st, p, q in stock} == s.current_stock()
    # the views: every sale of this module is within the velocity window (late ones are days, not
    # weeks, old); risk joins the current stock with the policy and the demand
    assert {(st, p): (int(u), Decimal(r)) for st, p, u, r in velocity} == s.sales_totals()
    expected_stock = s.current_stock()
    assert {(st, p): int(q) for st, p, q, *_ in risk} == expected_stock
    for store, product, current, reorder_point, demand, cover, level in risk:
        assert reorder_point == REORDER_POINT
        if current <= 0:
            assert level == "out_of_stock"
        elif current <= REORDER_POINT:
            assert level == "below_reorder_point", (store, product)
        if demand:
            assert cover == pytest.approx(current / demand)
        else:
            assert cover is None
    # every rejected record once, with the contracts' reason, at its offset
    quarantined = {(t, int(p), int(o)): reason for t, p, o, reason, _ in quarantine}
    for coordinates, reason in s.rejected.items():
        assert quarantined.get(coordinates) == reason, coordinates
    assert physical_quarantine == []

    # reconciliation, batch by batch and in total
    for batch_id, total, accepted, rejected, dups in batches:
        assert total == accepted + rejected + dups, batch_id
    # offsets consumed since the job's starting offsets (topics start at 0)
    topic_total = sum(status(settings, database).positions.values()) - consumed_from
    assert sum(int(b[1]) for b in batches) == topic_total
    accepted_total = sum(int(b[2]) for b in batches)
    dups_total = sum(int(b[4]) for b in batches)
    if topic_total == s.produced:  # the topics hold only this module's events: the totals are exactly ours
        assert accepted_total == len(s.valid)
        assert sum(int(b[3]) for b in batches) == len(s.rejected)
        assert dups_total == s.duplicates

    # bronze: every accepted event exactly once, in its event day's partition, one file per day and batch
    for source, event_type in (
        ("sales", "sales_transaction"),
        ("inventory", "inventory_update"),
        ("prices", "price_change"),
    ):
        table, commits = delta_table(lake / "raw-data" / source)
        assert table is not None
        rows = [r for r in table.to_pylist() if r["store_id"] in s.stores]
        ids = Counter(r["event_id"] for r in rows)
        assert set(ids) == {e["event_id"] for e in s.of_type(event_type)}, source
        assert max(ids.values()) == 1, source
        for row in rows:
            day = s.valid[row["event_id"]]["event_time"][:10]
            assert (row["year"], row["month"], row["day"]) == tuple(day.split("-"))
        for added in commits:
            assert len(added) == len(set(added)), f"{source}: more than one file for a day in one commit"

    # alerts: one per crossing, in the table and on the topic, each published exactly once
    expected = {alert_event_id(source): source for source in s.expected_alert_sources}
    assert {e: src for e, src, _ in alerts} == expected
    published = Counter(
        json.loads(r.value)["event_id"]
        for r in topic_messages(settings, topics.RESTOCK_ALERTS.name)
        if json.loads(r.value)["store_id"] in s.stores
    )
    assert set(published) == set(expected)
    assert max(published.values(), default=1) == 1, published
    events_table, _ = delta_table(lake / "raw-data" / "events")
    assert events_table is not None
    assert Counter(r["event_id"] for r in events_table.to_pylist() if r["store_id"] in s.stores) == Counter(
        expected.keys()
    )

    # dead letters: every rejected record of this module, once, with its reason
    letters = Counter()
    for record in topic_messages(settings, topics.DEAD_LETTER.name):
        body = json.loads(record.value)
        coordinates = (body.get("source_topic"), body.get("source_partition"), body.get("source_offset"))
        if coordinates in s.rejected:
            assert body["reason"] == s.rejected[coordinates]
            letters[coordinates] += 1
    assert set(letters) == set(s.rejected)
    assert max(letters.values()) == 1


# ---- tests ----------------------------------------------------------------------------------------


def test_a_repeated_insert_with_the_same_token_is_counted_once(warehouse: Settings, database: str):
    client = connect(warehouse, database=database)
    sink = Warehouse(client, query_id=f"token-test-{uuid.uuid4().hex[:6]}")
    t = datetime.now(UTC).replace(microsecond=0, second=0)
    store = f"store_{random.randint(10000, 99999)}"
    rows = [
        [store, "SKU0001", t, 2, Decimal("59.98"), 1],
        [store, "SKU0001", t - timedelta(days=10), 1, Decimal("1.10"), 1],  # another partition (day)
    ]
    try:
        for _ in range(3):
            sink.insert(tables.SALES_5MIN, rows, batch_id=7)  # a batch replayed twice
        sink.insert(tables.SALES_5MIN, rows[:1], batch_id=8)  # the next batch: counted
        totals = client.query(
            "SELECT sum(units), sum(revenue) FROM rt_sales_5min WHERE store_id = %(s)s", parameters={"s": store}
        ).result_rows[0]
    finally:
        client.close()
    assert (int(totals[0]), Decimal(totals[1])) == (5, Decimal("121.06"))


class CrashAfterDeadLetters(RuntimeError):
    pass


def test_a_batch_replayed_on_the_real_sinks_writes_and_publishes_once(kafka: Settings, database: str):
    """The sinks' real SQL and Kafka reads: crash after the dead letters were published, replay twice."""
    query_id = f"replay-{uuid.uuid4()}"
    store = f"store_{random.randint(10000, 99999)}"
    t = datetime.now(UTC) - timedelta(minutes=5)
    client = connect(kafka, database=database)
    client.insert(
        "rt_reorder_policy",
        [[store, "SKU0001", REORDER_POINT, ORDER_QUANTITY]],
        column_names=["store_id", "product_id", "reorder_point", "order_quantity"],
    )
    warehouse_sink = Warehouse(client, query_id)
    inventory = [
        {
            "event_id": str(uuid.uuid4()),
            "event_time": t + timedelta(seconds=i),
            "store_id": store,
            "product_id": "SKU0001",
            "quantity_change": -1,
            "new_quantity": level,
            "reason": "sale",
        }
        for i, level in enumerate([30, 10, 5])
    ]
    rejected = [
        {
            "topic": topics.SALES.name,
            "partition": 0,
            "offset": 10_000_000 + i,  # not a real record: coordinates only identify the dead letter
            "kafka_timestamp": t,
            "kafka_key": store.encode(),
            "event_type": "sales_transaction",
            "rejection_reason": "malformed_json",
            "raw_value": f"{query_id}-{i}".encode(),
        }
        for i in range(3)
    ]
    stats = ops.BatchStats(
        inputs={(topics.INVENTORY.name, 0): ops.PartitionInput(6, 5)},
        accepted_by_type={"inventory_update": 3},
        quarantined=3,
    )
    batch = CollectedBatch(0, stats, [], inventory, rejected)

    class Bronze:
        def write(self, alerts: list[Alert], skip_event_ids: frozenset[str] = frozenset()) -> dict[str, int]:
            return {"raw-data/events": len(alerts)}

    outbox = KafkaOutbox.connect(kafka.kafka_bootstrap, warehouse_sink)
    real_publish = outbox.publish

    def crashing_publish(topic: str, batch_id: int, messages: list) -> int:
        sent = real_publish(topic, batch_id, messages)
        if topic == topics.DEAD_LETTER.name:
            raise CrashAfterDeadLetters()
        return sent

    def run(publisher: Any) -> None:
        process(
            batch,
            query_name="replay-test",
            query_id=query_id,
            warehouse=warehouse_sink,
            publisher=publisher,
            bronze=Bronze(),
            started_at=t,
        )

    try:
        outbox.publish = crashing_publish  # type: ignore[method-assign]
        with pytest.raises(CrashAfterDeadLetters):
            run(outbox)
        outbox.publish = real_publish  # type: ignore[method-assign]
        run(outbox)
        run(outbox)
        alerts = client.query(
            "SELECT event_id, count() FROM rt_restock_alerts WHERE query_id = %(q)s GROUP BY event_id",
            parameters={"q": query_id},
        ).result_rows
        quarantine = int(client.command(f"SELECT count() FROM rt_quarantine WHERE query_id = '{query_id}'"))
        batches = int(client.command(f"SELECT count() FROM ops_stream_batches WHERE query_id = '{query_id}'"))
        states = int(client.command(f"SELECT count() FROM rt_restock_state WHERE query_id = '{query_id}'"))
    finally:
        outbox.close()
        client.close()

    assert alerts == [(alert_event_id(inventory[1]["event_id"]), 1)]  # 10 reaches the reorder point
    assert (quarantine, batches, states) == (3, 1, 1)
    letters = Counter(
        message_id_of(r.headers)
        for r in topic_messages(kafka, topics.DEAD_LETTER.name)
        if (json.loads(r.value).get("value") or "").startswith(query_id)
    )
    assert sorted(letters.values()) == [1, 1, 1]
    published = Counter(
        json.loads(r.value)["event_id"]
        for r in topic_messages(kafka, topics.RESTOCK_ALERTS.name)
        if json.loads(r.value)["store_id"] == store
    )
    assert published == {alert_event_id(inventory[1]["event_id"]): 1}


def test_first_wave_is_exact(kafka: Settings, database: str, scenario: Scenario, job: StreamJob, wave_one_done):
    assert wave_one_done.total_lag == 0
    assert_exact(kafka, database, scenario, job.lake)


def in_flight_batch(checkpoint: Path) -> int | None:
    """A batch Spark has planned (offset log) but not committed: the one a kill interrupts."""

    def ids(folder: str) -> set[int]:
        path = checkpoint / folder
        return {int(p.name) for p in path.iterdir() if p.name.isdigit()} if path.exists() else set()

    pending = ids("offsets") - ids("commits")
    return max(pending) if pending else None


def lake_has_batch(lake: Path, batch_id: int) -> bool:
    """True once a bronze table committed the batch (its Delta txn action carries the batch id)."""
    for source in ("sales", "inventory", "prices"):
        for entry in sorted((lake / "raw-data" / source / "_delta_log").glob("*.json"))[-3:]:
            for line in entry.read_text().splitlines():
                txn = json.loads(line).get("txn")
                if txn is not None and txn["version"] == batch_id:
                    return True
    return False


def test_killed_and_restarted_mid_wave_totals_stay_exact(
    kafka: Settings, database: str, scenario: Scenario, job: StreamJob, wave_one_done
):
    rnd = random.Random()
    checkpoint = job.lake / "checkpoints" / QUERY_NAME
    # Small batches, so a wave takes several micro-batches and the kills land inside them.
    small = ("--max-offsets-per-trigger", "20")
    job.kill()
    job.start(*small)
    interrupted: list[int] = []
    for step, _ in enumerate(wave_two(scenario, rnd)):
        if step in (1, 3):
            before = batches_recorded(kafka, database)
            wait_until(
                lambda before=before: batches_recorded(kafka, database) > before, 240, job, "a second-wave batch"
            )
            wait_until(lambda: in_flight_batch(checkpoint) is not None, 120, job, "a batch in progress")
            if step == 1:
                time.sleep(rnd.uniform(0.0, 1.0))  # somewhere inside the batch (they take seconds)
            else:
                # right after the lake append of the batch: its warehouse and Kafka writes are not done.
                # That window lasts a few hundred milliseconds and the step's events make only a few
                # batches, so it is watched closely (a 1 s poll missed every window of a run).
                wait_until(
                    lambda: (b := in_flight_batch(checkpoint)) is not None and lake_has_batch(job.lake, b),
                    120,
                    job,
                    "a batch written to the lake",
                    every=0.02,
                )
            batch = in_flight_batch(checkpoint)
            job.kill()  # SIGKILL: no chance to finish the batch or close anything
            if batch is not None:
                interrupted.append(batch)
            job.start(*small)
    final = wait_caught_up(kafka, database, job)
    assert final.total_lag == 0
    assert job.starts == 4
    assert interrupted, "no kill landed inside a micro-batch"
    # every interrupted batch was replayed after the restart and committed
    wait_until(lambda: all((checkpoint / "commits" / str(b)).exists() for b in interrupted), 60, job, "the replays")
    assert_exact(kafka, database, scenario, job.lake)
