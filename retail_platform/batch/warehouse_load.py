"""The warehouse side of the daily load: dimensions and snapshots in, days of facts swapped in
atomically, the watermark and data-quality rows out.

Replacing days (sql/0003_facts.sql): the facts are partitioned by month, so the days of a month are
rebuilt in a stage table holding a copy of the month (hard links), then the month is swapped in with
one ``REPLACE PARTITION``. Readers see the month before or after, never half a day; a failure before
the swap leaves the fact untouched, and re-running the days replaces them again: idempotent.

One writer per month at a time: two loads of different days of the same month running concurrently
would each swap in a month holding only their own new day. A load therefore claims the months it may
swap in ``ops_month_claims`` first (``MonthClaims``, sql/0015_month_claims.sql) and a second writer
is refused with a message naming the holder; the DAG also runs days one at a time (max_active_runs=1).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from retail_platform.batch.conform import Dimensions, dimensions_from_rows
from retail_platform.batch.facts import ON_ORDER_COLUMN, SNAPSHOT_COLUMNS
from retail_platform.batch.quality import Check

log = logging.getLogger(__name__)


def month_partition(day: date) -> int:
    """The facts' partition id of a day (toYYYYMM(date_key))."""
    return day.year * 100 + day.month


def swap_month(client: Client, database: str, table: str, partition: int, edit: Callable[[str], None]) -> None:
    """Rebuild one month partition of ``table`` atomically: ``edit(stage)`` changes a copy of the month
    (hard links, no data copied) held in the stage table ``{database}.{stage}``, then one
    ``REPLACE PARTITION`` swaps it in. A failure before the swap leaves ``table`` untouched."""
    stage = f"{table}__stage_{partition}_{uuid.uuid4().hex[:8]}"
    target, staged = f"{database}.{table}", f"{database}.{stage}"
    client.command(f"CREATE TABLE {staged} AS {target}")
    try:
        client.command(f"ALTER TABLE {staged} ATTACH PARTITION {partition} FROM {target}")
        edit(stage)
        # The edit may leave the month empty (its only days had nothing): then the month must become
        # empty, which ClickHouse refuses unless told it is intended.
        client.command(
            f"ALTER TABLE {target} REPLACE PARTITION {partition} FROM {staged}",
            settings={"allow_replace_partition_from_empty_source": 1},
        )
    finally:
        client.command(f"DROP TABLE IF EXISTS {staged} SYNC")


def replace_days(
    client: Client,
    database: str,
    table: str,
    rows: Mapping[date, pa.Table],
    day_column: str = "date_key",
) -> int:
    """Make ``rows[day]`` the whole content of ``table`` for each day (``day_column``), atomically per
    month partition: one stage, one DELETE of the days, one INSERT of their rows and one swap per month,
    however many days of it the range holds (a range load's partition swaps do not grow with its days).
    Returns the rows written."""
    by_month: dict[int, list[date]] = {}
    for day in sorted(rows):
        by_month.setdefault(month_partition(day), []).append(day)
    for partition, days in by_month.items():
        frames = [rows[day] for day in days]

        def edit(stage: str, days: list[date] = days, frames: list[pa.Table] = frames) -> None:
            listed = ", ".join(f"'{day.isoformat()}'" for day in days)
            client.command(f"DELETE FROM {database}.{stage} WHERE {day_column} IN ({listed})")
            tables = [t for t in frames if t.num_rows]
            if tables:
                client.insert_arrow(stage, pa.concat_tables(tables), database=database)

        swap_month(client, database, table, partition, edit)
    return sum(t.num_rows for t in rows.values())


def replace_day(
    client: Client,
    database: str,
    table: str,
    day: date,
    rows: pa.Table | pd.DataFrame,
    day_column: str = "date_key",
) -> int:
    """Make ``rows`` the whole content of ``table`` for ``day`` (``day_column``), atomically; returns rows."""
    if isinstance(rows, pd.DataFrame):
        # A frame goes in as the client converts it (insert_df), not through Arrow's own inference.
        def edit(stage: str) -> None:
            client.command(f"DELETE FROM {database}.{stage} WHERE {day_column} = '{day.isoformat()}'")
            if len(rows):
                client.insert_df(stage, rows, database=database)

        swap_month(client, database, table, month_partition(day), edit)
        return len(rows)
    return replace_days(client, database, table, {day: rows}, day_column)


def dimensions(client: Client, database: str) -> Dimensions:
    stores = client.query(f"SELECT store_id, is_inferred FROM {database}.dim_store FINAL").result_rows
    products = client.query(
        f"SELECT product_id, valid_from, valid_to, category, supplier_id, unit_cost, is_inferred "
        f"FROM {database}.dim_product FINAL"
    ).named_results()
    return dimensions_from_rows([s for s, _ in stores], list(products), [s for s, inferred in stores if inferred])


def previous_snapshots(client: Client, database: str, day: date) -> pd.DataFrame:
    """The last end-of-day snapshot before ``day`` per store/product (what a quiet day carries forward)."""
    result = client.query(
        f"""
        SELECT store_id, product_id, argMax(quantity_on_hand, date_key) AS quantity_on_hand,
               argMax(last_event_id, date_key) AS last_event_id, argMax(last_event_time, date_key) AS last_event_time,
               argMax(quantity_on_order, date_key) AS quantity_on_order
        FROM {database}.fact_inventory FINAL
        WHERE date_key < %(day)s
        GROUP BY store_id, product_id
        """,
        parameters={"day": day},
    )
    return pd.DataFrame(result.result_rows, columns=[*SNAPSHOT_COLUMNS, ON_ORDER_COLUMN])


def reorder_policy(client: Client, database: str) -> dict[tuple[str, str], tuple[int, int]]:
    rows = client.query(
        f"SELECT store_id, product_id, reorder_point, safety_stock FROM {database}.rt_reorder_policy FINAL"
    ).result_rows
    return {(s, p): (int(r), int(ss)) for s, p, r, ss in rows}


def day_snapshots(client: Client, database: str, day: date) -> pd.DataFrame:
    """The end-of-day snapshots fact_inventory holds for ``day`` (a day a range load leaves as it was)."""
    result = client.query(
        f"SELECT {', '.join((*SNAPSHOT_COLUMNS, ON_ORDER_COLUMN))} FROM {database}.fact_inventory FINAL "
        f"WHERE date_key = %(day)s",
        parameters={"day": day},
    )
    return pd.DataFrame(result.result_rows, columns=[*SNAPSHOT_COLUMNS, ON_ORDER_COLUMN])


def sales_totals(client: Client, database: str, days: Sequence[date]) -> dict[date, dict[str, Any]]:
    """Per day: batch (fact_sales) and speed (rt_sales_5min) totals, and the fact's row identity counts;
    two grouped queries for the whole range (a day without rows gets zeros)."""
    if not days:
        return {}
    first, last = min(days), max(days)
    facts = client.query(
        f"SELECT date_key, count(), uniqExact(sale_id), sum(quantity), toFloat64(sum(revenue)) "
        f"FROM {database}.fact_sales WHERE date_key BETWEEN %(first)s AND %(last)s GROUP BY date_key",
        parameters={"first": first, "last": last},
    ).result_rows
    speed = client.query(
        f"SELECT toDate(window_start, 'UTC') AS day, count(), sum(units), toFloat64(sum(revenue)) "
        f"FROM {database}.rt_sales_5min WHERE window_start >= %(start)s AND window_start < %(end)s GROUP BY day",
        parameters={"start": _midnight(first), "end": _midnight(last + timedelta(days=1))},
    ).result_rows
    fact_by_day = {row[0]: row[1:] for row in facts}
    speed_by_day = {row[0]: row[1:] for row in speed if int(row[1]) > 0}
    totals = {}
    for day in days:
        n, ids, units, revenue = fact_by_day.get(day, (0, 0, 0, 0.0))
        on_speed = speed_by_day.get(day)
        totals[day] = {
            "rows": int(n),
            "distinct_sale_ids": int(ids),
            "units": int(units or 0),
            "revenue": float(revenue or 0.0),
            "speed_units": int(on_speed[1]) if on_speed else None,
            "speed_revenue": float(on_speed[2]) if on_speed else None,
        }
    return totals


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Watermark:
    """The ops_batch_watermark row that closes a day (sql/0016_late_arrivals.sql for stream_rows)."""

    day: date
    batch_id: str
    run_id: str
    counts: dict[str, int]


def record_watermarks(client: Client, database: str, marks: Sequence[Watermark]) -> None:
    """The watermark rows of the days a load closes, in one insert."""
    if not marks:
        return
    names = list(marks[0].counts)
    now = datetime.now(timezone.utc)
    rows = [[m.day, now, m.batch_id, m.run_id, *(m.counts[n] for n in names)] for m in marks]
    client.insert(
        "ops_batch_watermark", rows, column_names=["day", "loaded_at", "batch_id", "run_id", *names], database=database
    )


def is_closed(client: Client, database: str, day: date) -> bool:
    """Whether ``day`` has a watermark row (it is closed: the views serve it from the facts)."""
    rows = client.query(
        f"SELECT count() FROM {database}.ops_batch_watermark WHERE day = %(day)s", parameters={"day": day}
    ).result_rows
    return bool(rows[0][0])


def withdraw_watermarks(client: Client, database: str, days: Sequence[date]) -> list[date]:
    """Remove the watermark rows of ``days`` (those days go back to the speed layer in the views);
    returns the days that had one."""
    if not days:
        return []
    query = f"SELECT DISTINCT day FROM {database}.ops_batch_watermark WHERE day IN %(days)s ORDER BY day"
    held = [row[0] for row in client.query(query, parameters={"days": list(days)}).result_rows]
    if held:
        listed = ", ".join(f"'{day.isoformat()}'" for day in held)
        client.command(f"DELETE FROM {database}.ops_batch_watermark WHERE day IN ({listed})")
    return held


def watermark(client: Client, database: str) -> date | None:
    """The batch watermark: the newest day loaded, or None before the first load."""
    rows = client.query(f"SELECT count(), max(day) FROM {database}.ops_batch_watermark FINAL").result_rows
    return rows[0][1] if rows[0][0] else None


def record_checks(client: Client, database: str, runs: Sequence[tuple[str, date, Sequence[Check]]]) -> None:
    """dq_results rows of (batch id, day, checks) per day, in one insert."""
    rows = [
        [run_id, day, c.name, c.value, c.threshold, c.passed, c.detail] for run_id, day, checks in runs for c in checks
    ]
    if not rows:
        return
    client.insert(
        "dq_results",
        rows,
        column_names=["run_id", "day", "check_name", "value", "threshold", "passed", "detail"],
        database=database,
    )


# ---- one writer per month partition (sql/0015_month_claims.sql) ---------------------------------
#
# Protocol: read the month's newest generation g; if it is held by another writer (not released, its
# newest claim/renew row younger than its TTL by the server's clock), refuse. Otherwise insert a claim
# row for g + 1 with insert_deduplication_token "claim:<month>:<g+1>": of writers racing for g + 1
# the engine keeps exactly one row, and each reads it back to learn whether its token is the one.
# The winner renews (a heartbeat thread) while it loads and releases at the end; a writer that dies
# leaves a claim that goes stale after the TTL, and the next writer takes the next generation.
# Limits: the exclusion rests on the engine's insert deduplication (the window must still hold the
# token, it holds the last 10,000 inserts of this table) and on one server's clock; a holder paused
# longer than the TTL (no heartbeat) loses its claim and may then overlap with the next writer, which
# ``MonthClaims.check`` narrows (it is called before each day's swaps) but cannot exclude. The claim
# is advisory: only writers that claim (the daily load) are excluded.

CLAIM_TTL_SECONDS = 600
CLAIM_RENEW_SECONDS = 60


class MonthBusy(RuntimeError):
    """Another writer holds (or took over) a month partition this writer needs; the message names it."""


@dataclass(frozen=True)
class MonthClaim:
    month: int
    generation: int
    token: str
    holder: str
    claimed_at: datetime
    renewed_at: datetime  # newest claim/renew row
    ttl_seconds: int
    released: bool
    now: datetime  # the server's clock when read

    @property
    def stale_at(self) -> datetime:
        return self.renewed_at + timedelta(seconds=self.ttl_seconds)

    @property
    def live(self) -> bool:
        return not self.released and self.now < self.stale_at

    def describe(self) -> str:
        return (
            f"month {self.month // 100}-{self.month % 100:02d} is being written by {self.holder} "
            f"(claim {self.generation} since {self.claimed_at:%Y-%m-%d %H:%M:%S} UTC, renewed "
            f"{self.renewed_at:%H:%M:%S}, stale at {self.stale_at:%Y-%m-%d %H:%M:%S} UTC if not renewed)"
        )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def month_claim(client: Client, database: str, month: int, generation: int | None = None) -> MonthClaim | None:
    """The claim of ``month`` at ``generation`` (default: the newest), or None when there is none."""
    where = "" if generation is None else f" AND generation = {int(generation)}"
    rows = client.query(
        f"SELECT generation, token, holder, recorded_at, ttl_seconds FROM {database}.ops_month_claims "
        f"WHERE month = %(month)s AND event = 'claim'{where} ORDER BY generation DESC, recorded_at LIMIT 1",
        parameters={"month": month},
    ).result_rows
    if not rows:
        return None
    gen, token, holder, claimed_at, ttl = rows[0]
    renewed, released, now = client.query(
        f"SELECT maxIf(recorded_at, event != 'release'), countIf(event = 'release'), now64(3) "
        f"FROM {database}.ops_month_claims WHERE month = %(month)s AND generation = %(gen)s AND token = %(token)s",
        parameters={"month": month, "gen": gen, "token": token},
    ).result_rows[0]
    return MonthClaim(
        month, int(gen), token, holder, _utc(claimed_at), _utc(renewed), int(ttl), bool(released), _utc(now)
    )


def _claim_event(
    client: Client, database: str, month: int, generation: int, event: str, token: str, holder: str, ttl: int,
    dedup: str,
) -> None:  # fmt: skip
    client.insert(
        "ops_month_claims",
        [[month, generation, event, token, holder, ttl]],
        column_names=["month", "generation", "event", "token", "holder", "ttl_seconds"],
        database=database,
        settings={"insert_deduplication_token": dedup},
    )


def claim_month(
    client: Client, database: str, month: int, token: str, holder: str, ttl_seconds: int, take_over: bool = False
) -> int:
    """Claim ``month`` for ``token``; returns the generation held, raises MonthBusy naming the holder.
    ``take_over``: a live claim of the same holder (the same orchestrator run: a retry after a killed
    try, whose claim would otherwise block the retry until it goes stale) is superseded."""
    current = month_claim(client, database, month)
    if current is not None and current.live:
        if current.token == token:
            return current.generation
        if not (take_over and _same_writer(current.holder, holder)):
            raise MonthBusy(current.describe())
        log.warning("taking over %s", current.describe())
    generation = (current.generation if current is not None else 0) + 1
    dedup = f"claim:{month}:{generation}"
    _claim_event(client, database, month, generation, "claim", token, holder, ttl_seconds, dedup)
    won = month_claim(client, database, month, generation)
    if won is None or won.token != token:
        raise MonthBusy(won.describe() if won is not None else f"month {month}: claim {generation} was not recorded")
    return generation


def _same_writer(a: str, b: str) -> bool:
    """Holders name what writes, then " (host ..., pid ...)": the same what is the same writer."""
    return a.split(" (host ", 1)[0] == b.split(" (host ", 1)[0]


def renew_month(client: Client, database: str, month: int, generation: int, token: str) -> None:
    """Extend a held claim; raises MonthBusy when it is no longer held (stale, or taken over)."""
    newest = month_claim(client, database, month)
    if newest is None or newest.generation != generation or newest.token != token or not newest.live:
        raise MonthBusy(
            f"lost the claim of month {month} (claim {generation}): "
            + (newest.describe() if newest is not None and newest.token != token else "it went stale")
        )
    dedup = f"renew:{token}:{uuid.uuid4().hex}"
    _claim_event(client, database, month, generation, "renew", token, newest.holder, newest.ttl_seconds, dedup)


def release_month(client: Client, database: str, month: int, generation: int, token: str) -> None:
    """Release a claim this token holds (nothing when another writer took over since)."""
    newest = month_claim(client, database, month)
    if newest is None or newest.generation != generation or newest.token != token or newest.released:
        return
    dedup = f"release:{token}:{month}:{generation}"
    _claim_event(client, database, month, generation, "release", token, newest.holder, newest.ttl_seconds, dedup)


class MonthClaims:
    """Hold every month of ``months`` for the duration of a ``with`` block: claimed oldest first (all or
    none: a refusal releases what was claimed), renewed by a heartbeat thread on its own connection,
    released on exit whether the block succeeded or failed. ``check()`` raises if a claim was lost."""

    def __init__(
        self,
        connect: Callable[[], Client],
        database: str,
        months: Iterable[int],
        what: str,
        ttl_seconds: int = CLAIM_TTL_SECONDS,
        renew_seconds: float = CLAIM_RENEW_SECONDS,
        take_over: bool = False,
    ) -> None:
        self._connect = connect
        self.database = database
        self.months = sorted(set(months))
        self.holder = f"{what} (host {socket.gethostname()}, pid {os.getpid()})"
        self.token = uuid.uuid4().hex
        self.ttl_seconds = ttl_seconds
        self.renew_seconds = renew_seconds
        self.take_over = take_over  # supersede a live claim of the same ``what`` (see claim_month)
        self.held: dict[int, int] = {}  # month -> generation
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> MonthClaims:
        client = self._connect()
        try:
            for month in self.months:
                self.held[month] = claim_month(
                    client, self.database, month, self.token, self.holder, self.ttl_seconds, self.take_over
                )
        except BaseException:
            self._release(client)
            raise
        finally:
            client.close()
        self._thread = threading.Thread(target=self._heartbeat, name="month-claims", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        client = self._connect()
        try:
            self._release(client)
        finally:
            client.close()

    def check(self) -> None:
        if self.lost is not None:
            raise MonthBusy(self.lost)

    def _release(self, client: Client) -> None:
        for month, generation in sorted(self.held.items()):
            try:
                release_month(client, self.database, month, generation, self.token)
            except Exception:  # a claim left behind goes stale after its TTL
                log.exception("could not release month %s (claim %s); it goes stale after %s s", month, generation,
                              self.ttl_seconds)  # fmt: skip
        self.held.clear()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.renew_seconds):
            try:
                client = self._connect()
                try:
                    for month, generation in sorted(self.held.items()):
                        renew_month(client, self.database, month, generation, self.token)
                finally:
                    client.close()
            except MonthBusy as exc:
                self.lost = str(exc)
                log.error("%s", exc)
                return
            except Exception:  # the warehouse is away for a moment: the TTL leaves room for a few misses
                log.warning("could not renew the month claims; retrying", exc_info=True)
