"""When a day may close: the rule that makes the switch from the speed layer to the batch layer exact.

Closing day D means the daily load writing D's watermark row, after which the views serve D from the
facts instead of the real-time tables. The daily load reads D's bronze partition, which the stream
keeps appending to; if D closed while events of D were still in Kafka, unread, they would reach the
real-time tables (which no longer serve D) and bronze (which the load has already read) too late, and
the views would miss them until a recompute. So:

    D may close once, at some moment T >= end of D + grace (``settings.close_grace_minutes``), every
    record present in an input partition at T has been consumed by the stream: for every partition of
    the input topics (``streaming.columns.INPUT_TOPICS``) holding records at T, the stream's position
    (one past the highest offset a complete micro-batch of the current query consumed,
    ``streaming.ops.positions``) is >= the partition's end offset taken at T.

A ``CloseTarget`` is that snapshot: T and the end offsets of the partitions not empty at T (a partition
whose log start equals its end at T, including one emptied by retention, has nothing to wait for). The
snapshot is taken once and then waited on: a busy stream is always a micro-batch behind the *current*
end offsets, but it does pass any fixed snapshot. A snapshot taken at T also serves every day whose
end + grace is <= T, so one snapshot covers a range of days.

What the rule says without a stream: no ops_stream_batches rows and every input partition empty
(topics never written, or absent) -> nothing to wait for, the day closes (a history-only setup whose
bronze comes from landing files or the history generator). Input partitions holding records that no
stream query consumed -> the day waits (and the wait fails past its timeout, naming the partitions).

Closing today or a future day (end of D + grace later than now) is refused outright, whatever the
stream says: the day's events are still being produced. ``refuse_too_early`` says so.

The pure functions (``closes_at``, ``too_early``, ``behind``, ``verdict``) need no service; ``take_target``
asks Kafka, ``stream_positions`` the warehouse, ``await_closable`` both. The times are this machine's
clock: T is read before the end offsets are, so the offsets are those of a moment >= T.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from retail_platform.retry import poll
from retail_platform.settings import Settings

log = logging.getLogger(__name__)


class DayNotClosable(RuntimeError):
    """A day may not close yet (too early, or the stream has not consumed past it); the message says why."""


class TooEarly(DayNotClosable):
    """The day's end plus the grace is still ahead: no waiting on the stream can close it now."""


def day_end(day: date) -> datetime:
    """The first instant after ``day`` (UTC)."""
    nxt = day + timedelta(days=1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=timezone.utc)


def closes_at(day: date, grace_minutes: int) -> datetime:
    """The earliest moment ``day`` may close: its end plus the grace."""
    return day_end(day) + timedelta(minutes=grace_minutes)


def too_early(day: date, now: datetime, grace_minutes: int) -> str | None:
    """Why ``day`` may not close at ``now`` whatever the stream says, or None when it is late enough."""
    at = closes_at(day, grace_minutes)
    if now >= at:
        return None
    what = "a future day" if now < day_end(day) - timedelta(days=1) else "today" if now < day_end(day) else "too recent"
    return (
        f"{day} is {what}: a day closes no earlier than its end plus the close grace "
        f"({grace_minutes} min), i.e. {at:%Y-%m-%d %H:%M} UTC (now {now:%Y-%m-%d %H:%M} UTC); "
        f"its events are still arriving and the speed layer serves it until then"
    )


def refuse_too_early(days: Iterable[date], now: datetime, grace_minutes: int) -> None:
    """Raise DayNotClosable naming every day of ``days`` that may not close at ``now``."""
    reasons = [r for r in (too_early(d, now, grace_minutes) for d in sorted(set(days))) if r]
    if reasons:
        raise TooEarly("refused: " + "\n  ".join(reasons))


@dataclass(frozen=True)
class CloseTarget:
    """End offsets ("topic:partition" -> next offset to be written) of the input partitions that held
    records at ``taken_at``."""

    taken_at: datetime
    end_offsets: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"taken_at": self.taken_at.isoformat(), "end_offsets": dict(sorted(self.end_offsets.items()))}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> CloseTarget:
        taken_at = datetime.fromisoformat(str(value["taken_at"]))
        if taken_at.tzinfo is None:
            taken_at = taken_at.replace(tzinfo=timezone.utc)
        return cls(taken_at, {str(k): int(v) for k, v in dict(value.get("end_offsets") or {}).items()})


def target_from_offsets(taken_at: datetime, begin: Mapping[str, int], end: Mapping[str, int]) -> CloseTarget:
    """The target of a snapshot: only partitions holding records (end > log start) need consuming."""
    return CloseTarget(taken_at, {k: int(e) for k, e in sorted(end.items()) if int(e) > int(begin.get(k, 0))})


def behind(end_offsets: Mapping[str, int], positions: Mapping[str, int]) -> dict[str, int]:
    """Records each partition still has to consume to reach the target (only partitions behind)."""
    return {k: e - positions.get(k, 0) for k, e in sorted(end_offsets.items()) if positions.get(k, 0) < e}


@dataclass(frozen=True)
class Verdict:
    closable: bool
    reason: str
    behind: dict[str, int] = field(default_factory=dict)


def verdict(
    day: date, target: CloseTarget, positions: Mapping[str, int], grace_minutes: int, has_stream: bool = True
) -> Verdict:
    """Whether ``day`` (the newest day of a range) may close by ``target``, given the stream's positions."""
    at = closes_at(day, grace_minutes)
    if target.taken_at < at:
        return Verdict(
            False,
            f"the end offsets were taken at {target.taken_at:%Y-%m-%d %H:%M:%S} UTC, before {day} closes "
            f"({at:%Y-%m-%d %H:%M} UTC): they do not show the stream past the day",
        )
    lagging = behind(target.end_offsets, positions)
    if not lagging:
        if not target.end_offsets:
            return Verdict(True, f"{day} may close: the input topics held no records at {target.taken_at:%H:%M:%S}")
        return Verdict(
            True,
            f"{day} may close: the stream consumed every input partition past its end offset at "
            f"{target.taken_at:%Y-%m-%d %H:%M:%S} UTC",
        )
    parts = ", ".join(
        f"{k} behind by {n} record(s) (at {positions.get(k, 0)}, needs {target.end_offsets[k]})"
        for k, n in lagging.items()
    )
    lead = "no streaming query has consumed the input topics" if not has_stream else "the stream is behind"
    return Verdict(
        False,
        f"{day} may not close yet: {lead}; Kafka's end offsets at {target.taken_at:%Y-%m-%d %H:%M:%S} UTC "
        f"are not all consumed: {parts}",
        lagging,
    )


# ---- the services -------------------------------------------------------------------------------


def input_topic_names() -> list[str]:
    from retail_platform.streaming.columns import INPUT_TOPICS

    return [t.name for t in INPUT_TOPICS]


def take_target(
    settings: Settings, now: datetime | None = None, *, kafka: Mapping[str, Any] | None = None
) -> CloseTarget:
    """Kafka's offsets of every input partition, now. Topics that do not exist hold nothing (they are
    not created here). ``kafka``: kafka-python options with ``bootstrap_servers`` (an Airflow task's
    Kafka connection, ``KafkaHook.client_options()``); else the settings' broker and security."""
    from kafka import KafkaConsumer, TopicPartition

    from retail_platform.kafka_security import client_options

    taken_at = now or datetime.now(timezone.utc)
    if kafka is None:
        kafka = {"bootstrap_servers": settings.kafka_bootstrap, **client_options(settings)}
    options = dict(kafka)
    bootstrap = options["bootstrap_servers"]
    try:
        consumer = KafkaConsumer(
            enable_auto_commit=False,
            group_id=None,
            allow_auto_create_topics=False,
            request_timeout_ms=15000,
            **options,
        )
    except Exception as exc:  # NoBrokersAvailable and friends: the day cannot be shown closable
        raise DayNotClosable(f"cannot read Kafka's end offsets from {bootstrap}: {exc}") from exc
    try:
        existing = consumer.topics()
        tps = [
            TopicPartition(t, p)
            for t in input_topic_names()
            if t in existing
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        begin = consumer.beginning_offsets(tps) if tps else {}
        end = consumer.end_offsets(tps) if tps else {}
    finally:
        consumer.close()

    def key(tp: Any) -> str:
        return f"{tp.topic}:{tp.partition}"

    return target_from_offsets(
        taken_at, {key(tp): int(o) for tp, o in begin.items()}, {key(tp): int(o) for tp, o in end.items()}
    )


def stream_positions(settings: Settings, client: Any = None) -> tuple[bool, dict[str, int]]:
    """(whether a streaming query has recorded batches, its next offset per partition), read with
    ``client`` (an Airflow task's hook client, left open) or a client of the settings."""
    from retail_platform.streaming import ops
    from retail_platform.streaming.config import QUERY_NAME

    if client is not None:
        query_id, positions, _batches, _last, _at = ops.positions(client, QUERY_NAME)
        return query_id is not None, positions
    from retail_platform.warehouse.client import connect

    own = connect(settings)
    try:
        return stream_positions(settings, own)
    finally:
        own.close()


def check(settings: Settings, day: date, target: CloseTarget, client: Any = None) -> Verdict:
    has_stream, positions = stream_positions(settings, client)
    return verdict(day, target, positions, settings.close_grace_minutes, has_stream)


def await_closable(
    settings: Settings,
    days: Iterable[date],
    wait_seconds: float,
    poll_seconds: float = 10.0,
    target: CloseTarget | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    sleep: Callable[[float], None] = time.sleep,
) -> Verdict:
    """Refuse days too early to close; take a target (unless given) and wait up to ``wait_seconds`` for
    the stream to pass it. Returns the passing verdict; raises DayNotClosable with the last reason."""
    wanted = sorted(set(days))
    if not wanted:
        raise ValueError("no day to close")
    refuse_too_early(wanted, clock(), settings.close_grace_minutes)
    target = target or take_target(settings, clock())

    def closable(result: Verdict) -> bool:
        log.info("%s" if result.closable else "waiting: %s", result.reason)
        return result.closable

    result = poll(
        lambda: check(settings, wanted[-1], target), closable, timeout=wait_seconds, interval=poll_seconds, sleep=sleep
    )
    if not result.closable:
        raise DayNotClosable(f"{result.reason} (waited {wait_seconds:.0f} s)")
    return result


# ---- the daily_etl DAG's two steps (the DAG file only wires them) ------------------------------

# How long the DAG waits for the stream to pass a day's target before it fails the run.
STREAM_WAIT_SECONDS = 3600


def dag_target(
    settings: Settings, day: date, now: datetime | None = None, *, kafka: Mapping[str, Any]
) -> dict[str, Any]:
    """Refuse a day too recent to close, else take the target the sensor waits on (as JSON), from the
    Kafka of the task's connection (``kafka``: its kafka-python client options)."""
    now = now or datetime.now(timezone.utc)
    refuse_too_early([day], now, settings.close_grace_minutes)
    target = take_target(settings, now, kafka=kafka)
    log.info("%s: waiting for the stream to pass %s", day, target.to_json())
    return target.to_json()


def dag_poke(
    settings: Settings,
    day: date,
    target_json: Mapping[str, Any],
    max_wait_seconds: float = STREAM_WAIT_SECONDS,
    now: datetime | None = None,
    *,
    client: Any,
) -> bool:
    """One poke of the sensor: True when the day may close; raises DayNotClosable (with the partitions
    behind and by how much) once ``max_wait_seconds`` have passed since the target was taken. The
    stream's positions are read with ``client`` (the task's warehouse connection)."""
    target = CloseTarget.from_json(target_json)
    result = check(settings, day, target, client)
    if result.closable:
        log.info("%s", result.reason)
        return True
    waited = ((now or datetime.now(timezone.utc)) - target.taken_at).total_seconds()
    if waited >= max_wait_seconds:
        raise DayNotClosable(f"{result.reason} (waited {waited / 60:.0f} min)")
    log.info("still waiting (%.0f of %.0f min): %s", waited / 60, max_wait_seconds / 60, result.reason)
    return False


def split_too_early(days: Iterable[date], now: datetime, grace_minutes: int) -> tuple[list[date], list[date]]:
    """(days that may close at ``now`` if the stream is past them, days too recent to close)."""
    wanted = sorted(set(days))
    return (
        [d for d in wanted if too_early(d, now, grace_minutes) is None],
        [d for d in wanted if too_early(d, now, grace_minutes) is not None],
    )


def spans(days: Iterable[date]) -> list[tuple[date, date]]:
    """The days as runs of consecutive days, (first, last) each, oldest first: one range load each
    (``daily.run_days``: one Spark application and the per-day steps done once per range)."""
    out: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if out and day == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out
