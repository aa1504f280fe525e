"""One micro-batch, from its collected records to every sink, in the order that keeps replays exact.

Spark runs ``foreachBatch`` at least once per batch: after a crash it replays the last batch with the
same id and the same records (offsets and dedup state come from the checkpoint). Every write below is
idempotent for a repeated batch id, so any prefix of this function may have run before:

0. duplicates redelivered after the dedup operator's window are dropped (reads only: the ids earlier
   batches accepted, ``late_duplicates``);
1. restock alerts and anomalies (stock, sales velocity) are decided first (reads only: the states as
   the previous batch left them, the reorder policies, the forecasts; an earlier attempt's stored
   alerts and anomalies win);
2. rt_quarantine, rt_sales_5min, rt_stock, rt_restock_alerts, rt_restock_state, rt_anomalies,
   rt_anomaly_state and rt_event_ids (deduplication token per table and batch): from here on the
   batch's events are queryable, which is why these come before the lake (the bronze appends cost
   more than all of them together);
3. bronze Delta appends of the events and the alerts (``txnAppId``/``txnVersion``: Delta skips a
   version it already committed), all four tables at once;
4. ops_stream_days, after bronze: the late-arrival check of closed days reads it as "the lake has
   these rows";
5. dead letters, restock alerts and anomaly alerts to Kafka (the outbox publishes each message once);
6. the ops_stream_batches row, last: its presence means the batch is complete in every sink; it
   records when step 2 ended (``queryable_at``) beside when the batch finished.

A crash between 2 and 3 leaves real-time rows whose lake rows come with the replay; the batch layer
never reads the real-time tables for a day before ops_stream_batches and ops_stream_days say the
stream is past it, so nothing closes on them in between.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from retail_platform import topics
from retail_platform.events.contracts import validate
from retail_platform.streaming import alerts as restock
from retail_platform.streaming import anomalies, deadletter, tables, velocity
from retail_platform.streaming.late_duplicates import Band, Identity, day_rows, id_rows, probes
from retail_platform.streaming.ops import BatchStats, PartitionInput, batch_row
from retail_platform.streaming.outbox import OutMessage
from retail_platform.streaming.realtime import sales_window_rows, stock_rows
from retail_platform.streaming.sink import DetectorState, Warehouse

log = logging.getLogger(__name__)


ROW_KIND = "row_kind"  # "event": parsed and deduplicated; "input": one per consumed record (the tally)
SALES_FIELDS = ["event_id", "event_time", "store_id", "product_id", "quantity", "unit_price"]
INVENTORY_FIELDS = ["event_id", "event_time", "store_id", "product_id", "quantity_change", "new_quantity", "reason"]
REJECTED_FIELDS = [
    "topic",
    "partition",
    "offset",
    "kafka_timestamp",
    "kafka_key",
    "event_type",
    "rejection_reason",
    "raw_value",
]
# What the driver collects of a micro-batch (prices only count: they go to the lake, not the warehouse).
IDENTITY_FIELDS = ["event_id", "event_type", "event_time", "arrival"]
COLLECTED_COLUMNS = sorted({*SALES_FIELDS, *INVENTORY_FIELDS, *REJECTED_FIELDS, *IDENTITY_FIELDS, ROW_KIND})


@dataclass
class CollectedBatch:
    """A micro-batch's records on the driver: accepted sales and inventory events (dicts of typed
    fields), rejected records (coordinates, reason, raw bytes) and the counts."""

    batch_id: int
    stats: BatchStats
    sales: list[dict[str, Any]] = field(default_factory=list)
    inventory: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Every accepted event of every type (prices too); empty: derived from sales and inventory.
    accepted: list[Identity] = field(default_factory=list)

    def identities(self) -> list[Identity]:
        if self.accepted:
            return self.accepted
        return [
            Identity(e["event_id"], event_type, e["event_time"], None)
            for event_type, events in (("sales_transaction", self.sales), ("inventory_update", self.inventory))
            for e in events
        ]

    def drop(self, event_ids: set[str]) -> None:
        """Remove late duplicates: they leave the accepted counts (so the batch's tally counts them
        as duplicates dropped) and every list a sink writes."""
        if not event_ids:
            return
        identities = self.identities()
        dropped = Counter(i.event_type for i in identities if i.event_id in event_ids)
        for event_type, n in dropped.items():
            self.stats.accepted_by_type[event_type] -= n
            if not self.stats.accepted_by_type[event_type]:
                del self.stats.accepted_by_type[event_type]
        self.accepted = [i for i in identities if i.event_id not in event_ids]
        self.sales = [e for e in self.sales if e["event_id"] not in event_ids]
        self.inventory = [e for e in self.inventory if e["event_id"] not in event_ids]

    @classmethod
    def from_arrow(cls, table: pa.Table, batch_id: int) -> CollectedBatch:
        """Collected rows (``COLLECTED_COLUMNS``: deduplicated events and the input tally) -> the
        batch's counts, accepted sales and inventory events, and rejected records."""
        is_input = pc.equal(table.column(ROW_KIND), "input")
        tally = table.filter(is_input).select(["topic", "partition", "offset"])
        events = table.filter(pc.invert(is_input))

        stats = BatchStats()
        if tally.num_rows:
            grouped = tally.group_by(["topic", "partition"]).aggregate([("offset", "count"), ("offset", "max")])
            for row in grouped.to_pylist():
                key = (row["topic"], int(row["partition"]))
                stats.inputs[key] = PartitionInput(int(row["offset_count"]), int(row["offset_max"]))

        rejected_mask = pc.is_valid(events.column("rejection_reason"))
        rejected = events.filter(rejected_mask)
        accepted = events.filter(pc.invert(rejected_mask))
        stats.quarantined = rejected.num_rows
        stats.accepted_by_type = dict(sorted(Counter(accepted.column("event_type").to_pylist()).items()))
        if accepted.num_rows:
            stats.max_event_time = pc.max(accepted.column("event_time")).as_py()

        def of_type(name: str, fields: list[str]) -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = (
                accepted.filter(pc.equal(accepted.column("event_type"), name)).select(fields).to_pylist()
            )
            return rows

        return cls(
            batch_id=batch_id,
            stats=stats,
            sales=of_type("sales_transaction", SALES_FIELDS),
            inventory=of_type("inventory_update", INVENTORY_FIELDS),
            rejected=rejected.select(REJECTED_FIELDS).to_pylist(),
            accepted=[Identity(**row) for row in accepted.select(IDENTITY_FIELDS).to_pylist()],
        )


class Publisher(Protocol):
    def publish(self, topic: str, batch_id: int, messages: list[OutMessage]) -> int: ...


class Bronze(Protocol):
    """The lake side (bronze.BoundBronze: DeltaBronze bound to the batch's DataFrame)."""

    def write(self, alerts: list[restock.Alert], skip_event_ids: frozenset[str] = frozenset()) -> dict[str, int]:
        """Append the batch's accepted events (but the skipped ones) and these alerts; rows written per
        lake folder."""
        ...


def contract_message(event: dict[str, Any], event_type: str) -> OutMessage:
    """One of the job's own events (a restock or anomaly alert) as its topic's message: checked against
    its contract, which consumers rely on, and keyed by store like every contract topic, so one store's
    messages stay ordered."""
    reason = validate(event, event_type)
    if reason is not None:
        raise ValueError(f"{event_type} {event['event_id']} breaks its contract: {reason}")
    value = json.dumps(event, separators=(",", ":")).encode()
    return OutMessage(message_id=event["event_id"], key=event["store_id"].encode(), value=value)


def alert_message(alert: restock.Alert) -> OutMessage:
    return contract_message(alert.to_event(), "restock_alert")


def alert_row(alert: restock.Alert, query_id: str, batch_id: int) -> list[Any]:
    return [
        alert.event_id,
        alert.event_time,
        alert.store_id,
        alert.product_id,
        alert.current_stock,
        alert.reorder_point,
        alert.recommended_quantity,
        alert.source_event_id,
        query_id,
        batch_id,
    ]


def state_row(key: restock.Key, state: restock.KeyState, query_id: str, batch_id: int) -> list[Any]:
    return [query_id, key[0], key[1], batch_id, state.stock, state.event_time, state.event_id, int(state.alerted)]


def decide_alerts(
    batch: CollectedBatch, warehouse: Warehouse
) -> tuple[list[restock.Alert], dict[restock.Key, restock.KeyState]]:
    """Alerts of the batch and the states it changed, starting from the state before the batch."""
    keys = sorted({(e["store_id"], e["product_id"]) for e in batch.inventory})
    if not keys:
        return [], {}
    states = warehouse.restock_states(batch.batch_id, keys)
    policies = warehouse.policies(keys)
    changed, decided = restock.run(batch.inventory, states, policies)
    earlier = warehouse.alerts_of_batch(batch.batch_id)
    if earlier:
        # A replay: what an earlier attempt stored is what consumers may already have seen.
        if {a.event_id for a in earlier} != {a.event_id for a in decided}:
            log.warning(
                "batch %s: replay decided %d alerts, the earlier attempt stored %d (reorder policy changed "
                "in between); keeping the stored ones",
                batch.batch_id,
                len(decided),
                len(earlier),
            )
        decided = earlier
    return decided, changed


def anomaly_message(anomaly: anomalies.Anomaly) -> OutMessage:
    return contract_message(anomaly.to_event(), "anomaly_alert")


def anomaly_row(anomaly: anomalies.Anomaly, query_id: str, batch_id: int) -> list[Any]:
    return [
        anomaly.anomaly_id,
        anomaly.kind,
        anomaly.status,
        anomaly.event_time,
        anomaly.store_id,
        anomaly.product_id,
        anomaly.observed,
        anomaly.expected,
        anomaly.lower,
        anomaly.upper,
        anomaly.source_event_id,
        query_id,
        batch_id,
    ]


def anomaly_state_row(key: restock.Key, state: DetectorState, query_id: str, batch_id: int) -> list[Any]:
    stock, sales = state
    return [
        query_id,
        key[0],
        key[1],
        batch_id,
        None if stock is None else stock.level,
        None if stock is None else stock.event_time,
        "" if stock is None else stock.event_id,
        "" if stock is None else stock.episode,
        None if sales is None else sales.newest,
        None if sales is None else sales.first,
        0 if sales is None else sales.bucket_ms,
        [] if sales is None else [b for b, _ in sales.buckets],
        [] if sales is None else [u for _, u in sales.buckets],
        "" if sales is None else sales.kind,
        "" if sales is None else sales.episode,
    ]


def decide_anomalies(
    batch: CollectedBatch,
    warehouse: Warehouse,
    config: anomalies.AnomalyConfig,
    velocity_config: velocity.VelocityConfig,
) -> tuple[list[anomalies.Anomaly], dict[restock.Key, DetectorState]]:
    """Anomaly rows of the batch (stock, then sales velocity) and the detector states it changed,
    starting from the states before the batch. A few reads per batch, whatever its size: the states of
    the keys it touched, the forecasts missing from the minute's cache, and the rows an earlier attempt
    of the batch stored."""
    keys = sorted({(e["store_id"], e["product_id"]) for e in (*batch.inventory, *batch.sales)})
    if not keys:
        return [], {}
    states = warehouse.anomaly_states(batch.batch_id, keys)
    stock_states = {k: stock for k, (stock, _) in states.items() if stock is not None}
    sales_states = {k: sales for k, (_, sales) in states.items() if sales is not None}
    stock_changed, decided = anomalies.run_stock(batch.inventory, stock_states, config)
    forecasts = warehouse.forecasts(velocity.days_needed(batch.sales)) if batch.sales else {}
    sales_changed, paced = velocity.run_velocity(batch.sales, sales_states, forecasts, velocity_config)
    decided = decided + paced
    changed: dict[restock.Key, DetectorState] = {
        k: (stock_changed.get(k, stock_states.get(k)), sales_changed.get(k, sales_states.get(k)))
        for k in sorted(stock_changed.keys() | sales_changed.keys())
    }
    earlier = warehouse.anomalies_of_batch(batch.batch_id)
    if earlier:
        # A replay: what an earlier attempt stored is what consumers may already have seen.
        if {(a.anomaly_id, a.status) for a in earlier} != {(a.anomaly_id, a.status) for a in decided}:
            log.warning(
                "batch %s: replay decided %d anomaly rows, the earlier attempt stored %d (settings or "
                "forecasts changed in between); keeping the stored ones",
                batch.batch_id,
                len(decided),
                len(earlier),
            )
        decided = earlier
    return decided, changed


@contextmanager
def _timed(timings: dict[str, float] | None, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[step] = round(time.perf_counter() - started, 3)


def process(
    batch: CollectedBatch,
    *,
    query_name: str,
    query_id: str,
    warehouse: Warehouse,
    publisher: Publisher,
    bronze: Bronze,
    started_at: datetime,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    timings: dict[str, float] | None = None,
    band: Band = Band(timedelta(minutes=15)),
    anomaly_config: anomalies.AnomalyConfig = anomalies.AnomalyConfig(),
    velocity_config: velocity.VelocityConfig = velocity.VelocityConfig(),
) -> list[Any]:
    """Write the batch everywhere; returns the ops_stream_batches row it inserted last. ``timings``,
    when given, receives the seconds each step took; ``band`` is the on-time band of the query's
    dedup window; ``anomaly_config`` and ``velocity_config`` the anomaly detectors' settings."""
    batch_id = batch.batch_id
    written: dict[str, int] = {}

    with _timed(timings, "late_duplicates"):
        late = warehouse.seen_event_ids(batch_id, probes(batch.identities(), band))
        batch.drop(late)

    with _timed(timings, "alerts"):
        decided, changed = decide_alerts(batch, warehouse)

    with _timed(timings, "anomalies"):
        found, detector_states = decide_anomalies(batch, warehouse, anomaly_config, velocity_config)

    with _timed(timings, "warehouse"):
        quarantine = [deadletter.quarantine_row(r, query_id, batch_id) for r in batch.rejected]
        written[tables.QUARANTINE.name] = warehouse.insert(tables.QUARANTINE, quarantine, batch_id)
        sales = sales_window_rows(batch.sales)
        written[tables.SALES_5MIN.name] = warehouse.insert(tables.SALES_5MIN, sales, batch_id)
        written[tables.STOCK.name] = warehouse.insert(tables.STOCK, stock_rows(batch.inventory, batch_id), batch_id)
        alert_rows = [alert_row(a, query_id, batch_id) for a in decided]
        written[tables.RESTOCK_ALERTS.name] = warehouse.insert(tables.RESTOCK_ALERTS, alert_rows, batch_id)
        states = [state_row(k, s, query_id, batch_id) for k, s in sorted(changed.items())]
        written[tables.RESTOCK_STATE.name] = warehouse.insert(tables.RESTOCK_STATE, states, batch_id)
        anomaly_rows = [anomaly_row(a, query_id, batch_id) for a in found]
        written[tables.ANOMALIES.name] = warehouse.insert(tables.ANOMALIES, anomaly_rows, batch_id)
        detector_rows = [anomaly_state_row(k, s, query_id, batch_id) for k, s in sorted(detector_states.items())]
        written[tables.ANOMALY_STATE.name] = warehouse.insert(tables.ANOMALY_STATE, detector_rows, batch_id)
        identities = batch.identities()
        ids = id_rows(identities, band, query_id, batch_id)
        written[tables.EVENT_IDS.name] = warehouse.insert(tables.EVENT_IDS, ids, batch_id)
    queryable_at = clock()

    with _timed(timings, "bronze"):
        written.update(bronze.write(decided, frozenset(late)))

    with _timed(timings, "stream_days"):
        days = day_rows(identities, query_name, query_id, batch_id)
        written[tables.STREAM_DAYS.name] = warehouse.insert(tables.STREAM_DAYS, days, batch_id)

    with _timed(timings, "kafka"):
        # Recorded: the batch's messages (all in the topic once publish returns), not how many this
        # attempt had left to send, so the ops row is the same whichever attempt writes it.
        dead_letters = [deadletter.message(r) for r in batch.rejected]
        publisher.publish(topics.DEAD_LETTER.name, batch_id, dead_letters)
        written[f"kafka:{topics.DEAD_LETTER.name}"] = len(dead_letters)
        alert_messages = [alert_message(a) for a in decided]
        publisher.publish(topics.RESTOCK_ALERTS.name, batch_id, alert_messages)
        written[f"kafka:{topics.RESTOCK_ALERTS.name}"] = len(alert_messages)
        anomaly_messages = [anomaly_message(a) for a in anomalies.opened(found)]
        publisher.publish(topics.ANOMALY_ALERTS.name, batch_id, anomaly_messages)
        written[f"kafka:{topics.ANOMALY_ALERTS.name}"] = len(anomaly_messages)

    row = batch_row(
        query_name=query_name,
        query_id=query_id,
        batch_id=batch_id,
        started_at=started_at,
        queryable_at=queryable_at,
        finished_at=clock(),
        stats=batch.stats,
        alerts=len(decided),
        rows_written={k: v for k, v in written.items() if v},
    )
    warehouse.insert(tables.STREAM_BATCHES, [row], batch_id)
    return row


def summary(row: list[Any]) -> Mapping[str, Any]:
    """The ops row as a dict (the job logs it as one JSON line per batch)."""
    return dict(zip(tables.STREAM_BATCHES.column_names, row, strict=True))
