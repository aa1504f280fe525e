"""Replays are exact: a micro-batch interrupted after any of its writes and run again (what Spark does
after a crash) leaves every sink as one clean run would, publishes no message twice and raises no
alert twice. The sinks are in-memory fakes with the real sinks' idempotency rules (ClickHouse
deduplication tokens, Delta txnVersion, the Kafka log the outbox reads back)."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from retail_platform import topics
from retail_platform.streaming import tables
from retail_platform.streaming.alerts import Alert, KeyState, Policy
from retail_platform.streaming.anomalies import Anomaly, StockState
from retail_platform.streaming.batch import CollectedBatch, process
from retail_platform.streaming.late_duplicates import Identity
from retail_platform.streaming.ops import BatchStats, PartitionInput
from retail_platform.streaming.outbox import KafkaOutbox, OutMessage, message_id_of, unpublished
from retail_platform.streaming.sink import dedup_token
from retail_platform.streaming.velocity import Forecast, VelocityState

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
QID = "query-1"


class Crash(RuntimeError):
    pass


class Fuse:
    """Raises Crash at the n-th write (counting every sink write), once."""

    def __init__(self, at: int | None) -> None:
        self.at, self.count = at, 0

    def tick(self) -> None:
        self.count += 1
        if self.at is not None and self.count == self.at:
            raise Crash(f"crash at write {self.count}")


# ---- Kafka ----------------------------------------------------------------------------------------


@dataclass
class Record:
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass
class FakeKafka:
    log: dict[str, list[Record]] = field(default_factory=dict)

    def values(self, topic: str) -> list[bytes]:
        return [r.value for r in self.log.get(topic, [])]


class Sent:
    def get(self, timeout: float | None = None) -> None:
        return None


class FakeProducer:
    def __init__(self, kafka: FakeKafka, fuse: Fuse) -> None:
        self.kafka, self.fuse, self.pending = kafka, fuse, []

    def send(self, topic, key=None, value=None, headers=None):
        self.pending.append((topic, key, value, headers))
        return Sent()

    def flush(self) -> None:
        # A crash mid-flush leaves the first half of the messages in the log.
        for i, (topic, key, value, headers) in enumerate(self.pending):
            if i == len(self.pending) // 2:
                try:
                    self.fuse.tick()
                except Crash:
                    self.pending = []
                    raise
            log = self.kafka.log.setdefault(topic, [])
            log.append(Record(len(log), key, value, headers))
        self.pending = []


class FakeConsumer:
    def __init__(self, kafka: FakeKafka) -> None:
        self.kafka, self.positions = kafka, {}

    def partitions_for_topic(self, topic):
        return {0}

    def end_offsets(self, tps):
        return {tp: len(self.kafka.log.get(tp.topic, [])) for tp in tps}

    def assign(self, tps):
        self.positions = {tp: 0 for tp in tps}

    def seek(self, tp, offset):
        self.positions[tp] = offset

    def poll(self, timeout_ms=0):
        out = {}
        for tp, position in self.positions.items():
            records = self.kafka.log.get(tp.topic, [])[position:]
            if records:
                out[tp] = records
                self.positions[tp] = position + len(records)
        return out

    def position(self, tp):
        return self.positions[tp]

    def unsubscribe(self):
        self.positions = {}


# ---- ClickHouse and the lake ---------------------------------------------------------------------


class FakeWarehouse:
    """The Warehouse sink's contract: token deduplication per table, state as of batch N-1."""

    def __init__(
        self, fuse: Fuse, policies: dict[tuple[str, str], Policy], forecasts: dict[tuple[str, str], Forecast]
    ) -> None:
        self._forecasts = forecasts
        self.fuse = fuse
        self.rows: dict[str, list[list[Any]]] = {t.name: [] for t in tables.ALL_TABLES}
        self.tokens: set[str] = set()
        self._policies = policies
        self.query_id = QID

    def _insert(self, table: str, rows: list[list[Any]], token: str) -> None:
        self.fuse.tick()
        if token not in self.tokens:
            self.tokens.add(token)
            self.rows[table].extend(copy.deepcopy(rows))

    def insert(self, table: tables.Table, rows, batch_id: int) -> int:
        if rows:
            self._insert(table.name, rows, dedup_token(table.name, QID, batch_id))
        return len(rows)

    def named(self, table: tables.Table) -> list[dict[str, Any]]:
        return [dict(zip(table.column_names, r, strict=True)) for r in self.rows[table.name]]

    def restock_states(self, batch_id, keys):
        states = {}
        for row in sorted(self.named(tables.RESTOCK_STATE), key=lambda r: r["batch_id"]):
            key = (row["store_id"], row["product_id"])
            if row["batch_id"] < batch_id and key in keys:
                states[key] = KeyState(row["stock"], row["event_time"], row["event_id"], bool(row["alerted"]))
        return states

    def policies(self, keys):
        return {k: p for k, p in self._policies.items() if k in keys}

    def seen_event_ids(self, batch_id, probes):
        recorded = {
            (r["early"], r["event_hour"], r["event_id"])
            for r in self.named(tables.EVENT_IDS)
            if not (r["query_id"] == QID and r["batch_id"] >= batch_id)
        }
        return {key[2] for key in probes if key in recorded}

    def alerts_of_batch(self, batch_id):
        return [
            Alert(
                r["event_id"],
                r["event_time"],
                r["store_id"],
                r["product_id"],
                r["current_stock"],
                r["reorder_point"],
                r["recommended_quantity"],
                r["source_event_id"],
            )
            for r in self.named(tables.RESTOCK_ALERTS)
            if r["batch_id"] == batch_id
        ]

    def anomaly_states(self, batch_id, keys):
        states = {}
        for row in sorted(self.named(tables.ANOMALY_STATE), key=lambda r: r["batch_id"]):
            key = (row["store_id"], row["product_id"])
            if row["batch_id"] < batch_id and key in keys:
                stock = None
                if row["level"] is not None:
                    stock = StockState(row["level"], row["event_time"], row["event_id"], row["episode"])
                sales = None
                if row["sales_newest_time"] is not None:
                    buckets = tuple(zip(row["bucket_numbers"], row["bucket_units"], strict=True))
                    sales = VelocityState(
                        row["sales_newest_time"],
                        row["sales_first_time"],
                        row["bucket_ms"],
                        buckets,
                        row["velocity_kind"],
                        row["velocity_episode"],
                    )
                states[key] = (stock, sales)
        return states

    def forecasts(self, needed):
        return {(k[0], k[1], d): f for k, days in needed.items() for d in days if (f := self._forecasts.get(k))}

    def anomalies_of_batch(self, batch_id):
        fields = [c for c in tables.ANOMALIES.column_names if c not in ("query_id", "batch_id")]
        return [Anomaly(**{f: r[f] for f in fields}) for r in self.named(tables.ANOMALIES) if r["batch_id"] == batch_id]

    def outbox_markers(self, batch_id, topic):
        return {
            r["partition"]: r["start_offset"]
            for r in self.named(tables.STREAM_OUTBOX)
            if r["batch_id"] == batch_id and r["topic"] == topic
        }

    def record_outbox_markers(self, batch_id, topic, ends):
        rows = [[QID, batch_id, topic, p, o] for p, o in ends.items()]
        self._insert(tables.STREAM_OUTBOX.name, rows, dedup_token(f"ops_stream_outbox/{topic}", QID, batch_id))


class FakeBronze:
    """Delta appends with txnAppId/txnVersion: a version already committed is skipped."""

    def __init__(self, fuse: Fuse, batch: CollectedBatch, lake: dict[str, list[Any]]) -> None:
        self.fuse, self.batch, self.lake = fuse, batch, lake

    def _append(self, table: str, rows: list[Any]) -> None:
        self.fuse.tick()
        versions = self.lake.setdefault(f"{table}/_versions", [])
        if self.batch.batch_id not in versions:
            versions.append(self.batch.batch_id)
            self.lake.setdefault(table, []).extend(rows)

    def write(self, alerts, skip_event_ids=frozenset()):
        self._append("raw-data/sales", [s["event_id"] for s in self.batch.sales])
        self._append("raw-data/inventory", [e["event_id"] for e in self.batch.inventory])
        written = {"raw-data/sales": len(self.batch.sales), "raw-data/inventory": len(self.batch.inventory)}
        if alerts:
            self._append("raw-data/events", [a.event_id for a in alerts])
            written["raw-data/events"] = len(alerts)
        return written


@dataclass
class World:
    fuse: Fuse
    warehouse: FakeWarehouse
    kafka: FakeKafka
    lake: dict[str, list[Any]]

    def run(self, batch: CollectedBatch) -> None:
        batch = copy.deepcopy(batch)  # each attempt collects the batch anew (drop() edits it)
        outbox = KafkaOutbox(self.warehouse, FakeProducer(self.kafka, self.fuse), FakeConsumer(self.kafka))
        process(
            batch,
            query_name="stream_events",
            query_id=QID,
            warehouse=self.warehouse,  # type: ignore[arg-type]
            publisher=outbox,
            bronze=FakeBronze(self.fuse, batch, self.lake),
            started_at=T0,
            clock=lambda: T0,
        )

    def snapshot(self) -> dict[str, Any]:
        """Everything a consumer can observe (row order within a table aside)."""
        return {
            "tables": {name: sorted(map(repr, rows)) for name, rows in self.warehouse.rows.items()},
            "topics": {name: [r.value for r in log] for name, log in self.kafka.log.items()},
            "lake": {name: sorted(map(str, rows)) for name, rows in self.lake.items()},
        }


def world(crash_at: int | None = None) -> World:
    fuse = Fuse(crash_at)
    policies = {("store_001", "SKU0001"): Policy(10, 40), ("store_001", "SKU0002"): Policy(5, None)}
    # SKU0001 sells 27 units in its first two minutes (19,440 a day) against a band from 30,000 a day.
    forecasts = {("store_001", "SKU0001"): Forecast(100_000.0, 90_000.0, 110_000.0)}
    return World(fuse, FakeWarehouse(fuse, policies, forecasts), FakeKafka(), {})


# ---- batches -------------------------------------------------------------------------------------


def sale(product: str, quantity: int, minutes: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sale:{product}:{quantity}:{minutes}")),
        "event_time": T0 + timedelta(minutes=minutes),
        "store_id": "store_001",
        "product_id": product,
        "quantity": quantity,
        "unit_price": 2.5,
    }


def stock(product: str, level: int, minutes: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"stock:{product}:{level}:{minutes}")),
        "event_time": T0 + timedelta(minutes=minutes),
        "store_id": "store_001",
        "product_id": product,
        "quantity_change": -1,
        "new_quantity": level,
        "reason": "sale",
    }


def rejected(offset: int) -> dict[str, Any]:
    return {
        "topic": topics.SALES.name,
        "partition": 0,
        "offset": offset,
        "kafka_timestamp": T0,
        "kafka_key": b"store_001",
        "event_type": "sales_transaction",
        "rejection_reason": "malformed_json",
        "raw_value": b"{oops",
    }


def batch(batch_id: int, sales, inventory, bad) -> CollectedBatch:
    stats = BatchStats(
        inputs={(topics.SALES.name, 0): PartitionInput(len(sales) + len(inventory) + len(bad) + 1, 100 * batch_id)},
        accepted_by_type={"sales_transaction": len(sales), "inventory_update": len(inventory)},
        quarantined=len(bad),
        max_event_time=T0,
    )
    return CollectedBatch(batch_id, stats, list(sales), list(inventory), list(bad))


BATCHES = [
    batch(
        0,
        [sale("SKU0001", 2, 0), sale("SKU0002", 1, 1), sale("SKU0001", 25, 2)],
        [stock("SKU0001", 30, 0), stock("SKU0001", 9, 3), stock("SKU0002", 6, 1)],
        [rejected(3), rejected(4)],
    ),
    batch(
        1,
        [sale("SKU0001", 1, 7), sale("SKU0002", 4, -3000)],  # a late sale
        [stock("SKU0001", 8, 8), stock("SKU0002", 5, 9), stock("SKU0001", 50, -60)],  # a late level
        [rejected(60)],
    ),
]
# Writes of each batch above: 6 real-time inserts, 2 bronze appends, 1 bronze alert append, 1
# ops_stream_days, 2 outbox markers, 2 flushes (crashing half-way), the ops row; and the anomalies:
# batch 0 opens a stock episode (SKU0001 falls from 30 to 9 with a sale of 1) and a velocity one
# (SKU0001 sells 27 units in two minutes): rows and state inserted, a marker and a flush for the
# anomaly topic; batch 1 closes the stock episode (8 is 9 minus the sale of 1): rows and state only.
# test_crash_points_cover_every_write checks it.
WRITES = {0: 19, 1: 17}
WRITES_PER_BATCH = max(WRITES.values())


def clean_run() -> dict[str, Any]:
    w = world()
    for b in BATCHES:
        w.run(b)
    return w.snapshot()


def test_crash_points_cover_every_write():
    w = world()
    for b in BATCHES:
        w.fuse.count = 0
        w.run(b)
        assert w.fuse.count == WRITES[b.batch_id]


def test_a_clean_run_alerts_once_per_crossing_and_keeps_state_across_batches():
    w = world()
    for b in BATCHES:
        w.run(b)
    alerts = w.warehouse.named(tables.RESTOCK_ALERTS)
    # SKU0001 reaches 9 <= 10 in batch 0 (alert), stays below in batch 1 (no alert; the late 50 is
    # older than the state); SKU0002 reaches 5 <= 5 in batch 1.
    assert [(a["product_id"], a["current_stock"], a["batch_id"]) for a in alerts] == [
        ("SKU0001", 9, 0),
        ("SKU0002", 5, 1),
    ]
    assert len(w.kafka.log[topics.RESTOCK_ALERTS.name]) == 2
    assert len(w.kafka.log[topics.DEAD_LETTER.name]) == 3
    anomalies = w.warehouse.named(tables.ANOMALIES)
    assert [(a["kind"], a["status"], a["observed"], a["expected"], a["batch_id"]) for a in anomalies] == [
        ("stock_unexplained", "open", 9.0, 29.0, 0),
        ("velocity_low", "open", 19_440.0, 100_000.0, 0),
        ("stock_unexplained", "closed", 8.0, 8.0, 1),
    ]
    assert len(w.kafka.log[topics.ANOMALY_ALERTS.name]) == 2
    assert [r["batch_id"] for r in w.warehouse.named(tables.STREAM_BATCHES)] == [0, 1]


@pytest.mark.parametrize("crash_at", range(1, WRITES_PER_BATCH + 1))
@pytest.mark.parametrize("crashing_batch", [0, 1])
def test_a_batch_replayed_after_a_crash_at_any_write_ends_as_a_clean_run(crashing_batch, crash_at):
    w = world()
    for b in BATCHES:
        if b.batch_id == crashing_batch:
            w.fuse.at, w.fuse.count = crash_at, 0
            try:
                w.run(b)
            except Crash:
                pass
            w.fuse.at = None
            w.run(b)  # the replay: same batch id, same records
            w.run(b)  # and once more, as after a second crash right at the end
        else:
            w.run(b)
    assert w.snapshot() == clean_run()


def test_every_message_id_is_in_the_topics_once_after_replays():
    w = world(crash_at=9)
    for b in BATCHES:
        try:
            w.run(b)
        except Crash:
            w.fuse.at = None
            w.run(b)
    for log in w.kafka.log.values():
        ids = [message_id_of(r.headers) for r in log]
        assert len(ids) == len(set(ids))


def test_unpublished_keeps_order_and_drops_known_and_repeated_ids():
    msgs = [OutMessage("a", None, b"1"), OutMessage("b", None, b"2"), OutMessage("a", None, b"1")]
    assert [m.message_id for m in unpublished(msgs, {"b"})] == ["a"]
    assert [m.message_id for m in unpublished(msgs, set())] == ["a", "b"]


def late_copy(batch_id: int, original: dict[str, Any], arrival: datetime) -> CollectedBatch:
    """A batch holding a redelivery of ``original`` (same event id and time) arriving at ``arrival``."""
    stats = BatchStats(
        inputs={(topics.SALES.name, 0): PartitionInput(1, 100 * batch_id)},
        accepted_by_type={"sales_transaction": 1},
    )
    identity = Identity(original["event_id"], "sales_transaction", original["event_time"], arrival)
    return CollectedBatch(batch_id, stats, [dict(original)], [], [], [identity])


@pytest.mark.parametrize("delay_minutes", [20, 60 * 23])
def test_a_duplicate_redelivered_after_the_dedup_window_is_dropped_everywhere(delay_minutes):
    w = world()
    for b in BATCHES:
        w.run(b)
    before = w.snapshot()
    original = BATCHES[0].sales[0]
    w.run(late_copy(2, original, original["event_time"] + timedelta(minutes=delay_minutes)))
    after = w.snapshot()
    assert after["tables"][tables.SALES_5MIN.name] == before["tables"][tables.SALES_5MIN.name]
    assert after["lake"]["raw-data/sales"] == before["lake"]["raw-data/sales"]
    ops = w.warehouse.named(tables.STREAM_BATCHES)[-1]
    assert (ops["batch_id"], ops["input_total"], ops["accepted"], ops["duplicates_dropped"]) == (2, 1, 0, 1)


def test_an_early_event_redelivered_inside_the_band_is_dropped():
    """The original arrived 10 minutes before its own event_time (a fast till clock): a redelivery 20
    minutes later is on time by its arrival, and is found among the early ids."""
    w = world()
    first = sale("SKU0003", 4, 30)
    w.run(late_copy(0, first, first["event_time"] - timedelta(minutes=10)))
    w.run(late_copy(1, first, first["event_time"] + timedelta(minutes=10)))
    units = [r for r in w.warehouse.named(tables.SALES_5MIN) if r["product_id"] == "SKU0003"]
    assert [r["units"] for r in units] == [4]
    assert w.warehouse.named(tables.STREAM_BATCHES)[-1]["duplicates_dropped"] == 1


def test_a_replayed_batch_does_not_take_its_own_ids_for_duplicates():
    w = world()
    first = sale("SKU0004", 3, 0)
    batch0 = late_copy(0, first, first["event_time"] + timedelta(hours=2))  # late: looked up
    w.fuse.at, w.fuse.count = 6, 0  # rt_sales_5min, rt_anomaly_state, rt_event_ids, bronze (2), then the crash
    with pytest.raises(Crash):
        w.run(batch0)
    assert w.warehouse.named(tables.EVENT_IDS) and not w.warehouse.named(tables.STREAM_BATCHES)
    w.fuse.at = None
    w.run(batch0)
    assert [r["units"] for r in w.warehouse.named(tables.SALES_5MIN)] == [3]
    assert w.warehouse.named(tables.STREAM_BATCHES)[-1]["accepted"] == 1


def test_events_are_queryable_before_the_lake_append_and_the_ops_row_says_when():
    """The real-time rows are written before bronze (a crash at the first lake append leaves them,
    and the replay completes the lake); the ops row's queryable_at is the clock after them."""
    w = world()
    ticks = iter(T0 + timedelta(seconds=s) for s in range(100))
    # rt_quarantine, rt_sales_5min, rt_stock, rt_restock_alerts, rt_restock_state, rt_anomalies,
    # rt_anomaly_state, rt_event_ids; then the first lake append crashes.
    w.fuse.at = 9
    b = copy.deepcopy(BATCHES[0])
    outbox = KafkaOutbox(w.warehouse, FakeProducer(w.kafka, w.fuse), FakeConsumer(w.kafka))
    kwargs = dict(query_name="stream_events", query_id=QID, warehouse=w.warehouse, publisher=outbox, started_at=T0)
    with pytest.raises(Crash):
        process(b, bronze=FakeBronze(w.fuse, b, w.lake), clock=lambda: next(ticks), **kwargs)  # type: ignore[arg-type]
    assert w.warehouse.named(tables.SALES_5MIN) and w.warehouse.named(tables.EVENT_IDS)
    assert not w.lake.get("raw-data/sales") and not w.warehouse.named(tables.STREAM_DAYS)
    w.fuse.at = None
    b = copy.deepcopy(BATCHES[0])
    process(b, bronze=FakeBronze(w.fuse, b, w.lake), clock=lambda: next(ticks), **kwargs)  # type: ignore[arg-type]
    ops = w.warehouse.named(tables.STREAM_BATCHES)[-1]
    assert T0 < ops["queryable_at"] < ops["finished_at"]
    assert len(w.lake["raw-data/sales"]) == len(BATCHES[0].sales)
