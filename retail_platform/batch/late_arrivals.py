"""Late arrivals for closed days: which loaded days the stream has since added rows to, and the
recompute (a ``daily_etl`` run) each of them gets. Run every 15 minutes by the ``late_arrivals`` DAG.

After day D is closed (its ``ops_batch_watermark`` row), events of D can still arrive through the
stream (late events, a stream that caught up after an outage). The serving views take D from the
batch side, which lacks them, until D is recomputed. Two counts find such days exactly:

- ``ops_stream_days``: the streaming job writes, per micro-batch, event type and day, how many events
  it appended to that day's bronze partition (sql/0016_late_arrivals.sql);
- ``ops_batch_watermark.stream_rows``: how many bronze rows of D came from the stream (a contract
  topic as ``kafka_topic``) when the daily load read D (``batch.daily``).

Why comparing them is exact: the stream appends a batch's rows to bronze *before* it writes that
batch's ``ops_stream_days`` rows. So at any instant, sum(events) over the ops rows <= the stream rows
in bronze: a batch the load counted may have its ops row later, never the reverse. Hence, with S the
sum now and R the rows the load read:

- S > R means bronze now holds at least S > R stream rows of D: rows the load did not see. Never a
  false alarm, whenever it is asked.
- every stream row appended after the load belongs to a batch whose ops row is written once the
  batch completes (a crashed batch is replayed until it does), and then S exceeds R. Nothing missed.

Both sides count rows as appended, before deduplication: a replayed batch appends nothing to Delta
(txnVersion) and its repeated ops row collapses under FINAL (the batch's identity is the
ReplacingMergeTree key), so neither side counts it twice. Only the types the daily load reads
(sales, inventory, purchase orders) are compared.

A recompute of D corrects D. Stock is carried from day to day (end-of-day on hand for a quiet
store/product, and stock on order always: ``facts.on_order``), so a late event can change what the
days after D start from. Hence the cascade: a load whose range ends on D, when D + 1 is closed,
compares the snapshot D + 1 starts from (``warehouse_load.previous_snapshots``) before and after its
swaps (``carried_changed``); if it changed, it records a request to recompute D + 1 (an
``ops_recomputes`` row with reason ``carried_stock_changed`` and no run id). ``detect_and_record``
finds a request newer than the day's latest load like a late day and triggers its recompute, which
in turn requests D + 2 if its own snapshot changed, and so on: the chain stops at the first day whose
carried snapshot comes out unchanged (or at the newest closed day), and then every closed day holds
the figures a load of the whole range would give.

A day is not triggered again while its recompute is pending: triggered after the day's latest load
and less than ``PENDING_HOURS`` ago (daily_etl runs one day at a time, its runs time out after 3 h).
A recompute that failed is triggered again once that window has passed, if the day is still behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd

from retail_platform import topics

log = logging.getLogger(__name__)

# The event types the daily load reads from bronze (batch.daily.TYPES; a unit test keeps them equal).
LOADED_TYPES = ("sales_transaction", "inventory_update", "purchase_order")
REASON_LATE_STREAM_EVENTS = "late_stream_events"
# The snapshot a closed day starts from changed (a recompute of the day before): see the docstring.
REASON_CARRIED_STOCK = "carried_stock_changed"
# What a day's load reads of the day before and carries on: end-of-day stock and stock on order.
CARRIED_COLUMNS = (
    "store_id", "product_id", "quantity_on_hand", "quantity_on_order", "last_event_id", "last_event_time",
)  # fmt: skip
RECOMPUTE_DAG = "daily_etl"
# A triggered recompute counts as pending this long (queued behind other days, then at most 3 h).
PENDING_HOURS = 6
STREAM_DAYS = "ops_stream_days"
RECOMPUTES = "ops_recomputes"
WATERMARK = "ops_batch_watermark"


def stream_topics() -> tuple[str, ...]:
    """``kafka_topic`` values of bronze rows that came from the stream (the contract topics); the
    history generator writes "history", the landing-zone imports "landing:<kind>"."""
    return tuple(t.name for t in topics.ALL_TOPICS)


@dataclass(frozen=True)
class LateDay:
    """A closed day whose stream rows outnumber what its latest load read."""

    day: date
    stream_events: int  # sum(events) of ops_stream_days (loaded types)
    stream_rows_at_load: int  # stream_rows of the latest watermark row
    loaded_batch_id: str
    loaded_at: datetime
    reason: str = REASON_LATE_STREAM_EVENTS

    @property
    def missing(self) -> int:
        return self.stream_events - self.stream_rows_at_load

    def describe(self) -> str:
        if self.reason == REASON_CARRIED_STOCK:
            return f"the stock it starts from changed since its load ({self.loaded_batch_id})"
        return (
            f"the stream appended {self.stream_events} rows, its load ({self.loaded_batch_id}) "
            f"read {self.stream_rows_at_load}"
        )


@dataclass(frozen=True)
class Recompute:
    """One automatic recompute: the ``ops_recomputes`` row and the daily_etl run to trigger."""

    late: LateDay
    run_id: str
    detected_at: datetime
    detected_by: str = ""

    @property
    def reason(self) -> str:
        return self.late.reason

    def row(self) -> list[Any]:
        return [
            self.late.day,
            self.reason,
            self.late.stream_events,
            self.late.stream_rows_at_load,
            self.late.loaded_batch_id,
            RECOMPUTE_DAG,
            self.run_id,
            self.detected_by,
            self.detected_at,
        ]

    def trigger_kwargs(self) -> dict[str, Any]:
        """Arguments of one mapped TriggerDagRunOperator (``expand_kwargs``)."""
        return {"trigger_run_id": self.run_id, "conf": {"date": self.late.day.isoformat()}}


RECOMPUTE_COLUMNS = [
    "day",
    "reason",
    "stream_events",
    "stream_rows_at_load",
    "loaded_batch_id",
    "dag_id",
    "triggered_run_id",
    "detected_by",
    "detected_at",
]


# ---- pure parts ---------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def is_late(stream_events: int, stream_rows_at_load: int) -> bool:
    """The detection rule: the stream has appended more rows of the day than its load read."""
    return stream_events > stream_rows_at_load


def is_pending(last_triggered: datetime | None, loaded_at: datetime, now: datetime, hours: float) -> bool:
    """A recompute triggered after the day's latest load, within the window, is still to land."""
    if last_triggered is None:
        return False
    last_triggered = _utc(last_triggered)
    return last_triggered > _utc(loaded_at) and _utc(now) - last_triggered < timedelta(hours=hours)


def recompute_run_id(day: date, now: datetime) -> str:
    """The triggered daily_etl run's id (Airflow's allowed run id characters only)."""
    return f"late_arrivals__{day.isoformat()}__{_utc(now):%Y%m%dT%H%M%S}"


def plan(
    late: Iterable[LateDay],
    last_triggered: Mapping[date, datetime],
    now: datetime,
    *,
    detected_by: str = "",
    pending_hours: float = PENDING_HOURS,
) -> list[Recompute]:
    """The recomputes to trigger now: every late day without a pending recompute, oldest first (a
    day's end-of-day stock carries into the next day's)."""
    chosen = []
    for day in sorted(late, key=lambda d: d.day):
        if is_pending(last_triggered.get(day.day), day.loaded_at, now, pending_hours):
            log.info("%s: %s; recompute already pending", day.day, day.describe())
            continue
        chosen.append(Recompute(day, recompute_run_id(day.day, now), _utc(now), detected_by))
    return chosen


def carried_changed(before: pd.DataFrame, after: pd.DataFrame) -> bool:
    """Whether the snapshot a day starts from differs (as a set of rows over ``CARRIED_COLUMNS``;
    row order and extra columns do not matter)."""

    def rows(frame: pd.DataFrame) -> set[tuple[Any, ...]]:
        if frame is None or frame.empty:
            return set()
        values = frame[list(CARRIED_COLUMNS)]
        return {tuple(_comparable(v) for v in row) for row in values.itertuples(index=False, name=None)}

    return rows(before) != rows(after)


def _comparable(value: Any) -> Any:
    """One value per meaning: numbers as int, instants as UTC epoch milliseconds, the rest as text."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return int(stamp.value // 1_000_000)
    if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu":  # numpy integers
        return int(value)
    if isinstance(value, (int, str)):
        return value
    return str(value)


def cascade_to(last: date, before: pd.DataFrame, after: pd.DataFrame, next_closed: bool) -> date | None:
    """The day whose recompute a load ending on ``last`` must request: ``last`` + 1 when that day is
    closed and the snapshot it starts from changed (``before``/``after`` the load's swaps), else None."""
    if not next_closed or not carried_changed(before, after):
        return None
    return last + timedelta(days=1)


# ---- warehouse ----------------------------------------------------------------------------------


def late_days(client: Any, database: str, since: date | None = None) -> list[LateDay]:
    """Closed days (a watermark row) whose stream events exceed the latest load's stream_rows."""
    rows = client.query(
        f"""
        SELECT w.day, s.events, w.last_stream_rows, w.last_batch_id, w.last_loaded_at
        FROM
        (
            -- The latest load of each day (what FINAL keeps once merged).
            SELECT day, argMax(stream_rows, loaded_at) AS last_stream_rows,
                   argMax(batch_id, loaded_at) AS last_batch_id, max(loaded_at) AS last_loaded_at
            FROM {database}.{WATERMARK}
            WHERE day >= %(since)s
            GROUP BY day
        ) AS w
        INNER JOIN
        (
            SELECT day, sum(events) AS events
            FROM {database}.{STREAM_DAYS} FINAL
            WHERE event_type IN %(types)s AND day >= %(since)s
            GROUP BY day
        ) AS s ON s.day = w.day
        WHERE s.events > w.last_stream_rows
        ORDER BY w.day
        """,
        parameters={"types": list(LOADED_TYPES), "since": since or date(1970, 1, 1)},
    ).result_rows
    return [LateDay(d, int(e), int(r), str(b), _utc(at)) for d, e, r, b, at in rows]


def requested_days(client: Any, database: str, since: date | None = None) -> list[LateDay]:
    """Closed days with a cascade request (``request_recompute``) newer than their latest load."""
    rows = client.query(
        f"""
        SELECT w.day, w.last_batch_id, w.last_loaded_at
        FROM
        (
            SELECT day, argMax(batch_id, loaded_at) AS last_batch_id, max(loaded_at) AS last_loaded_at
            FROM {database}.{WATERMARK}
            WHERE day >= %(since)s
            GROUP BY day
        ) AS w
        INNER JOIN
        (
            SELECT day, max(detected_at) AS requested_at
            FROM {database}.{RECOMPUTES}
            WHERE reason = %(reason)s AND triggered_run_id = '' AND day >= %(since)s
            GROUP BY day
        ) AS r ON r.day = w.day
        WHERE r.requested_at > w.last_loaded_at
        ORDER BY w.day
        """,
        parameters={"reason": REASON_CARRIED_STOCK, "since": since or date(1970, 1, 1)},
    ).result_rows
    return [LateDay(d, 0, 0, str(b), _utc(at), REASON_CARRIED_STOCK) for d, b, at in rows]


def request_recompute(client: Any, database: str, day: date, requested_by: str, now: datetime | None = None) -> bool:
    """Record that closed ``day`` must be recomputed because the stock it starts from changed (a row
    without a run id: ``detect_and_record`` triggers it). Returns False when ``day`` is not closed."""
    rows = client.query(
        f"SELECT argMax(batch_id, loaded_at) FROM {database}.{WATERMARK} WHERE day = %(day)s HAVING count() > 0",
        parameters={"day": day},
    ).result_rows
    if not rows:
        return False
    at = _utc(now or datetime.now(timezone.utc))
    row = [day, REASON_CARRIED_STOCK, 0, 0, str(rows[0][0]), RECOMPUTE_DAG, "", requested_by, at]
    client.insert(RECOMPUTES, [row], column_names=RECOMPUTE_COLUMNS, database=database)
    log.warning("%s: the stock it starts from changed (load %s): recompute requested", day, requested_by)
    return True


def last_triggered(client: Any, database: str, days: Sequence[date]) -> dict[date, datetime]:
    """When each of ``days`` was last sent to a recompute (``ops_recomputes`` rows with a run id; a
    cascade request has none)."""
    if not days:
        return {}
    rows = client.query(
        f"SELECT day, max(detected_at) FROM {database}.{RECOMPUTES} "
        f"WHERE day IN %(days)s AND triggered_run_id != '' GROUP BY day",
        parameters={"days": list(days)},
    ).result_rows
    return {d: _utc(at) for d, at in rows}


def record(client: Any, database: str, recomputes: Sequence[Recompute]) -> int:
    if not recomputes:
        return 0
    client.insert(RECOMPUTES, [r.row() for r in recomputes], column_names=RECOMPUTE_COLUMNS, database=database)
    return len(recomputes)


def detect_and_record(
    client: Any,
    database: str,
    *,
    detected_by: str = "",
    now: datetime | None = None,
    since: date | None = None,
    pending_hours: float = PENDING_HOURS,
) -> list[Recompute]:
    """Find the late days, record a recompute for each that has none pending, and return them (the
    caller triggers their daily_etl runs). Recorded before the trigger: a trigger that fails leaves
    the day pending for ``pending_hours``, then it is found again."""
    now = _utc(now or datetime.now(timezone.utc))
    # A day both late and requested is recomputed once (its stream counts are the more telling).
    by_day = {d.day: d for d in requested_days(client, database, since)}
    by_day |= {d.day: d for d in late_days(client, database, since)}
    late = sorted(by_day.values(), key=lambda d: d.day)
    chosen = plan(
        late,
        last_triggered(client, database, [d.day for d in late]),
        now,
        detected_by=detected_by,
        pending_hours=pending_hours,
    )
    record(client, database, chosen)
    for r in chosen:
        log.warning("%s: %s: recompute %s", r.late.day, r.late.describe(), r.run_id)
    return chosen
