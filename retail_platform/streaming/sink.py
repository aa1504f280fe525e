"""Writing one micro-batch to ClickHouse idempotently, and the reads the batch needs.

Every insert of batch N into table T carries ``insert_deduplication_token = "T:<query id>:N"``. The
tables set ``non_replicated_deduplication_window``, so ClickHouse remembers the tokens of the last
inserts and drops a repeated one: a replayed micro-batch (Spark re-runs the last batch after a crash)
adds nothing. The token is per table and batch, and each table gets exactly one insert per batch, well
below ``max_insert_block_size`` rows, so the insert is one block per partition and the replay splits
identically (ClickHouse deduplicates per partition block: same rows, same partitions, same blocks).
The query id (kept in the checkpoint) is part of the token so that a new checkpoint, whose batch ids
start at 0 again, is never mistaken for a replay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

from retail_platform.retry import retrying
from retail_platform.streaming import tables
from retail_platform.streaming.alerts import Alert, Key, KeyState, Policy, usable_policy
from retail_platform.streaming.anomalies import Anomaly, StockState
from retail_platform.streaming.velocity import Forecast, VelocityState

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Keys per lookup query: keeps the statement far below ClickHouse's max_query_size (256 KiB).
LOOKUP_CHUNK = 2000
# Early ids read whole for a batch's late-duplicate lookup (seen_event_ids); beyond, probes are sent.
EARLY_IDS_READ_LIMIT = 50_000
POLICY_TABLE = "rt_reorder_policy"
FORECAST_TABLE = "ml_demand_forecast"
# Forecasts change once a day (batch predictions): each (store, product, day) is read at most once a
# minute, whatever the number of batches and sales.
FORECAST_CACHE_SECONDS = 60.0

DetectorState = tuple[StockState | None, VelocityState | None]


def dedup_token(table: str, query_id: str, batch_id: int) -> str:
    return f"{table}:{query_id}:{batch_id}"


def _at_least_two(items: Sequence[Any]) -> tuple[Any, ...]:
    """A literal set of two values or more: a one-element tuple would be read as a bare value."""
    return tuple(items) if len(items) > 1 else (items[0], items[0])


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Warehouse:
    """The stream's writes and reads for one query (checkpoint)."""

    def __init__(
        self,
        client: Client,
        query_id: str,
        *,
        attempts: int = 4,
        backoff: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.query_id = query_id
        self.attempts = attempts
        self.backoff = backoff
        self.clock = clock
        self._forecasts: dict[tuple[str, str, date], Forecast | None] = {}
        self._forecasts_read_at = float("-inf")

    def _retry(self, what: str, action: Callable[[], _T]) -> _T:
        # Connection trouble (OperationalError: no answer) is retried with the same token, which is
        # safe since a repeat is dropped; an error the warehouse answered with fails the batch at once.
        controller = retrying(
            OperationalError,
            what=what,
            log=log,
            attempts=self.attempts,
            first_wait=self.backoff,
            wait_step=self.backoff,
        )
        return controller(action)

    def insert(self, table: tables.Table, rows: Sequence[Sequence[Any]], batch_id: int) -> int:
        """One insert of the batch's rows into ``table``; returns the number of rows sent."""
        if not rows:
            return 0
        token = dedup_token(table.name, self.query_id, batch_id)
        self._retry(
            f"insert into {table.name}",
            lambda: self.client.insert(
                table.name,
                rows,
                column_names=table.column_names,
                column_type_names=table.column_types,
                settings={"insert_deduplication_token": token},
            ),
        )
        return len(rows)

    def _query(self, sql: str, parameters: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        return self._retry("query", lambda: self.client.query(sql, parameters=dict(parameters)).result_rows)

    # ---- late duplicates (late_duplicates.py) ---------------------------------------------------

    def seen_event_ids(self, batch_id: int, probes: Sequence[tuple[int, int, str]]) -> set[str]:
        """Event ids among ``probes`` (rt_event_ids key prefixes) that an earlier batch accepted. The
        batch's own rows (batch_id >= N of this query: an earlier attempt of a replayed batch) are not
        counted, so a replay decides exactly as the first attempt.

        Most probes are an on-time event's, among the early ids of its hour: few ids arrive early, so
        those hours' early ids are read whole (one small query) and matched here (rather than sending
        every probe as a literal: for a batch of 37k events, 19 queries of 2,000 tuples each, and the
        step took 1.9 s).
        Should the hours hold more than EARLY_IDS_READ_LIMIT early ids, their probes are sent as
        literals like the others."""
        early = [p for p in probes if p[0] == 1]
        literal = [p for p in probes if p[0] != 1]
        seen: set[str] = set()
        if early:
            rows = self._query(
                f"""
                SELECT event_hour, event_id FROM {tables.EVENT_IDS.name}
                WHERE early = 1 AND event_hour IN %(hours)s
                  AND NOT (query_id = %(query_id)s AND batch_id >= %(batch_id)s)
                LIMIT %(limit)s
                """,
                {
                    "hours": _at_least_two(sorted({hour for _, hour, _ in early})),
                    "query_id": self.query_id,
                    "batch_id": batch_id,
                    "limit": EARLY_IDS_READ_LIMIT + 1,
                },
            )
            if len(rows) <= EARLY_IDS_READ_LIMIT:
                wanted = {(hour, event_id) for _, hour, event_id in early}
                seen.update(str(event_id) for hour, event_id in rows if (int(hour), str(event_id)) in wanted)
            else:
                literal += early
        for chunk in _chunks(sorted(literal), LOOKUP_CHUNK):
            # A literal tuple set, so the primary key prunes to the probed granules.
            rows = self._query(
                f"""
                SELECT DISTINCT event_id FROM {tables.EVENT_IDS.name}
                WHERE (early, event_hour, event_id) IN %(keys)s
                  AND NOT (query_id = %(query_id)s AND batch_id >= %(batch_id)s)
                """,
                {"keys": _at_least_two(chunk), "query_id": self.query_id, "batch_id": batch_id},
            )
            seen.update(str(event_id) for (event_id,) in rows)
        return seen

    # ---- restock alerts -------------------------------------------------------------------------

    def restock_states(self, batch_id: int, keys: Sequence[Key]) -> dict[Key, KeyState]:
        """The state of each key as batch ``batch_id - 1`` left it (what this batch must start from,
        even on a replay, when the table may already hold this batch's own rows)."""
        states: dict[Key, KeyState] = {}
        for chunk in _chunks(sorted(keys), LOOKUP_CHUNK):
            rows = self._query(
                f"""
                SELECT store_id, product_id,
                       argMax(stock, batch_id), argMax(event_time, batch_id),
                       argMax(event_id, batch_id), argMax(alerted, batch_id)
                FROM {tables.RESTOCK_STATE.name}
                WHERE query_id = %(query_id)s AND batch_id < %(batch_id)s
                  AND (store_id, product_id) IN (SELECT arrayJoin(%(keys)s))
                GROUP BY store_id, product_id
                """,
                {"query_id": self.query_id, "batch_id": batch_id, "keys": [tuple(k) for k in chunk]},
            )
            for store_id, product_id, stock, event_time, event_id, alerted in rows:
                states[(store_id, product_id)] = KeyState(int(stock), _utc(event_time), event_id, bool(alerted))
        return states

    def policies(self, keys: Sequence[Key]) -> dict[Key, Policy]:
        """Reorder policies of the keys (rt_reorder_policy, latest version per store/product)."""
        policies: dict[Key, Policy] = {}
        for chunk in _chunks(sorted(keys), LOOKUP_CHUNK):
            rows = self._query(
                f"""
                SELECT store_id, product_id, reorder_point, order_quantity
                FROM {POLICY_TABLE} FINAL
                WHERE (store_id, product_id) IN (SELECT arrayJoin(%(keys)s))
                """,
                {"keys": [tuple(k) for k in chunk]},
            )
            for store_id, product_id, reorder_point, order_quantity in rows:
                policy = usable_policy(
                    None if reorder_point is None else int(reorder_point),
                    None if order_quantity is None else int(order_quantity),
                )
                if policy is not None:
                    policies[(store_id, product_id)] = policy
        return policies

    def alerts_of_batch(self, batch_id: int) -> list[Alert]:
        """Alerts an earlier attempt of this batch already stored (empty on a first attempt)."""
        rows = self._query(
            f"""
            SELECT DISTINCT event_id, event_time, store_id, product_id, current_stock, reorder_point,
                   recommended_quantity, source_event_id
            FROM {tables.RESTOCK_ALERTS.name}
            WHERE query_id = %(query_id)s AND batch_id = %(batch_id)s
            ORDER BY store_id, product_id, event_time, event_id
            """,
            {"query_id": self.query_id, "batch_id": batch_id},
        )
        return [
            Alert(
                event_id=event_id,
                event_time=_utc(event_time),
                store_id=store_id,
                product_id=product_id,
                current_stock=int(stock),
                reorder_point=int(reorder_point),
                recommended_quantity=None if quantity is None else int(quantity),
                source_event_id=source,
            )
            for event_id, event_time, store_id, product_id, stock, reorder_point, quantity, source in rows
        ]

    # ---- stock anomalies (anomalies.py) ------------------------------------------------------------

    def anomaly_states(self, batch_id: int, keys: Sequence[Key]) -> dict[Key, DetectorState]:
        """The detectors' state of each key as batch ``batch_id - 1`` left it (as ``restock_states``):
        the stock part (None before the key's first inventory event) and the velocity part (None
        before its first sale)."""
        states: dict[Key, DetectorState] = {}
        for chunk in _chunks(sorted(keys), LOOKUP_CHUNK):
            rows = self._query(
                f"""
                SELECT store_id, product_id,
                       argMax(tuple(level, event_time, event_id, episode), batch_id),
                       argMax(tuple(sales_newest_time, sales_first_time, bucket_ms, bucket_numbers, bucket_units,
                                    velocity_kind, velocity_episode), batch_id)
                FROM {tables.ANOMALY_STATE.name}
                WHERE query_id = %(query_id)s AND batch_id < %(batch_id)s
                  AND (store_id, product_id) IN (SELECT arrayJoin(%(keys)s))
                GROUP BY store_id, product_id
                """,
                {"query_id": self.query_id, "batch_id": batch_id, "keys": [tuple(k) for k in chunk]},
            )
            for store_id, product_id, stock, sales in rows:
                level, level_time, event_id, episode = stock
                newest, first, bucket_ms, numbers, units, kind, velocity_episode = sales
                states[(store_id, product_id)] = (
                    None if level is None else StockState(int(level), _utc(level_time), event_id, episode),
                    None
                    if newest is None
                    else VelocityState(
                        _utc(newest),
                        _utc(first),
                        int(bucket_ms),
                        tuple((int(b), int(u)) for b, u in zip(numbers, units, strict=True)),
                        kind,
                        velocity_episode,
                    ),
                )
        return states

    def forecasts(self, needed: Mapping[Key, Iterable[date]]) -> dict[tuple[str, str, date], Forecast]:
        """The newest batch prediction for each (store/product, day) in ``needed``: of the forecasts
        made for that target day, the one with the newest forecast_date (ml_demand_forecast FINAL).
        Read from a cache refreshed every FORECAST_CACHE_SECONDS; what is missing, in one query per
        chunk of keys."""
        now = self.clock()
        if now - self._forecasts_read_at > FORECAST_CACHE_SECONDS:
            self._forecasts, self._forecasts_read_at = {}, now
        wanted = sorted({(k[0], k[1], d) for k, days in needed.items() for d in days})
        missing = [w for w in wanted if w not in self._forecasts]
        for chunk in _chunks(missing, LOOKUP_CHUNK):
            days = sorted({d for _, _, d in chunk})
            rows = self._query(
                f"""
                SELECT store_id, product_id, target_date, argMax(predicted_units, forecast_date),
                       argMax(lower_units, forecast_date), argMax(upper_units, forecast_date)
                FROM {FORECAST_TABLE} FINAL
                WHERE forecast_date >= %(first)s AND forecast_date < %(last)s AND target_date IN %(days)s
                  AND (store_id, product_id) IN (SELECT arrayJoin(%(keys)s))
                GROUP BY store_id, product_id, target_date
                """,
                {
                    # Forecasts look 1..7 days ahead: made in the week before the day.
                    "first": days[0] - timedelta(days=7),
                    "last": days[-1],
                    "days": tuple(days),
                    "keys": sorted({(s, p) for s, p, _ in chunk}),
                },
            )
            found = {
                (str(s), str(p), d): Forecast(float(pred), float(lower), float(upper))
                for s, p, d, pred, lower, upper in rows
            }
            for item in chunk:
                self._forecasts[item] = found.get(item)
        return {w: f for w in wanted if (f := self._forecasts.get(w)) is not None}

    def anomalies_of_batch(self, batch_id: int) -> list[Anomaly]:
        """Anomaly rows an earlier attempt of this batch already stored (empty on a first attempt)."""
        rows = self._query(
            f"""
            SELECT DISTINCT anomaly_id, kind, status, event_time, store_id, product_id, observed, expected,
                   lower, upper, source_event_id
            FROM {tables.ANOMALIES.name}
            WHERE query_id = %(query_id)s AND batch_id = %(batch_id)s
            ORDER BY store_id, product_id, event_time, source_event_id, status
            """,
            {"query_id": self.query_id, "batch_id": batch_id},
        )
        return [
            Anomaly(
                anomaly_id=str(row[0]),
                kind=str(row[1]),
                status=str(row[2]),
                event_time=_utc(row[3]),
                store_id=str(row[4]),
                product_id=str(row[5]),
                observed=float(row[6]),
                expected=float(row[7]),
                lower=float(row[8]),
                upper=float(row[9]),
                source_event_id=str(row[10]),
            )
            for row in rows
        ]

    # ---- outbox markers (outbox.MarkerStore) ----------------------------------------------------

    def outbox_markers(self, batch_id: int, topic: str) -> dict[int, int]:
        rows = self._query(
            f"""
            SELECT partition, min(start_offset) FROM {tables.STREAM_OUTBOX.name}
            WHERE query_id = %(query_id)s AND batch_id = %(batch_id)s AND topic = %(topic)s
            GROUP BY partition
            """,
            {"query_id": self.query_id, "batch_id": batch_id, "topic": topic},
        )
        return {int(partition): int(start) for partition, start in rows}

    def record_outbox_markers(self, batch_id: int, topic: str, ends: Mapping[int, int]) -> None:
        rows = [[self.query_id, batch_id, topic, int(p), int(offset)] for p, offset in sorted(ends.items())]
        # A token per topic: the dead-letter and alert markers of one batch are separate inserts.
        token = dedup_token(f"{tables.STREAM_OUTBOX.name}/{topic}", self.query_id, batch_id)
        self._retry(
            "insert outbox markers",
            lambda: self.client.insert(
                tables.STREAM_OUTBOX.name,
                rows,
                column_names=tables.STREAM_OUTBOX.column_names,
                column_type_names=tables.STREAM_OUTBOX.column_types,
                settings={"insert_deduplication_token": token},
            ),
        )


def _utc(value: datetime) -> datetime:
    """clickhouse-connect returns DateTime64('UTC') values as naive datetimes in UTC; make them aware."""
    if value is not None and getattr(value, "tzinfo", None) is None:
        return value.replace(tzinfo=timezone.utc)
    return value
