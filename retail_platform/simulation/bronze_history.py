"""Simulated history written straight into the lake's bronze tables, so backfills and model training
have weeks of data without streaming for weeks.

    python -m retail_platform.simulation.bronze_history --end-date 2026-11-20 --days 30 --stores 5 --products 50

Same tables, columns and partitioning as the stream's bronze (``retail_platform.streaming.bronze``):
contract fields, then lineage, then year/month/day of event_time (UTC). Lineage is synthetic:
``kafka_topic = "history"``, ``kafka_partition = 0``, ``kafka_offset`` = the event's sequence number
within its table over the generated range, ``kafka_timestamp = event_time``, ``batch_id = -1``.

Idempotent per day: the run's days are written with ``replaceWhere`` on their partitions, so running
the same command again (same seed, same range: the generator is deterministic, ids included) rewrites
identical rows, and a day that had other rows before (an earlier history run, or a stream) holds exactly
the generated ones afterwards. The generator keeps stock across days, so a range is always generated
from its first day: regenerating one day of a range means rerunning the range.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import numpy as np
import pyarrow as pa

from retail_platform.lake import day_predicate
from retail_platform.simulation import batch as b
from retail_platform.simulation.catalog import Catalog
from retail_platform.simulation.encoding import Encoder, uuid_texts
from retail_platform.simulation.generator import EventGenerator, GeneratorConfig
from retail_platform.simulation.history import HistoryRange

HISTORY_TOPIC = "history"
HISTORY_BATCH_ID = -1
EVENT_TYPES = b.EVENT_TYPES  # sales_transaction, inventory_update, price_change, purchase_order


@dataclass(frozen=True)
class HistoryConfig(HistoryRange):
    """The range (UTC days) and fleet of an event-grain history."""

    step_seconds: int = 300  # coarser steps than the live simulator: history needs no pacing

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError("days must be at least 1")

    @property
    def day_list(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.days)]

    def generator(self, catalog: Catalog) -> EventGenerator:
        start = datetime.combine(self.first_day, time(), tzinfo=timezone.utc)
        end = datetime.combine(self.end_date + timedelta(days=1), time(), tzinfo=timezone.utc)
        run = GeneratorConfig(start=start, end=end, seed=self.seed, step_seconds=self.step_seconds)
        return EventGenerator(catalog, run)


def _ts(time_ms: np.ndarray) -> pa.Array:
    return pa.array(time_ms.astype(np.int64) * 1000, type=pa.timestamp("us", tz="UTC"))


def _ids(pairs: np.ndarray) -> list[str]:
    return [u.decode() for u in uuid_texts(pairs)]


def _lineage(time_ms: np.ndarray, first_offset: int) -> dict[str, pa.Array]:
    n = time_ms.size
    return {
        "kafka_topic": pa.array([HISTORY_TOPIC] * n, type=pa.string()),
        "kafka_partition": pa.array(np.zeros(n, dtype=np.int32), type=pa.int32()),
        "kafka_offset": pa.array(np.arange(first_offset, first_offset + n, dtype=np.int64), type=pa.int64()),
        "kafka_timestamp": _ts(time_ms),
        "batch_id": pa.array(np.full(n, HISTORY_BATCH_ID, dtype=np.int64), type=pa.int64()),
    }


def _common(rows: b.EventBatch, catalog: Catalog, event_type: str) -> dict[str, pa.Array]:
    n = len(rows)
    store_ids, product_ids = catalog.store_ids, catalog.product_ids
    return {
        "event_id": pa.array(_ids(rows.event_id), type=pa.string()),
        "event_type": pa.array([event_type] * n, type=pa.string()),
        "schema_version": pa.array(np.ones(n, dtype=np.int32), type=pa.int32()),
        "event_time": _ts(rows.time_ms),
        "store_id": pa.array([store_ids[i] for i in rows.store.tolist()], type=pa.string()),
        "product_id": pa.array([product_ids[i] for i in rows.product.tolist()], type=pa.string()),
    }


def _money(cents: np.ndarray) -> pa.Array:
    # cents / 100 is the double nearest the decimal amount, i.e. what JSON "29.99" parses to.
    return pa.array(cents.astype(np.int64) / 100.0, type=pa.float64())


def bronze_columns(rows: b.EventBatch, catalog: Catalog, event_type: str, first_offset: int) -> pa.Table:
    """The bronze rows of one event type from generated rows (message rows of other kinds are ignored)."""
    kind = rows.kind
    if event_type == "sales_transaction":
        part = rows.take(np.flatnonzero(kind == b.SALE))
        cols = _common(part, catalog, event_type)
        cols |= {
            "transaction_id": pa.array(_ids(part.reference), type=pa.string()),
            "quantity": pa.array(part.quantity.astype(np.int64), type=pa.int64()),
            "unit_price": _money(part.price_cents),
            "customer_id": pa.array(
                [None if c < 0 else f"cust_{c:06d}" for c in part.customer.tolist()], type=pa.string()
            ),
            "payment_method": pa.array([b.PAYMENT_METHODS[p] for p in part.payment.tolist()], type=pa.string()),
        }
    elif event_type == "inventory_update":
        part = rows.take(np.flatnonzero(np.isin(kind, b.INVENTORY_KINDS)))
        cols = _common(part, catalog, event_type)
        has_ref = np.asarray(part.reference.any(axis=1))
        refs = iter(_ids(part.reference[has_ref]))
        cols |= {
            "quantity_change": pa.array(part.quantity.astype(np.int64), type=pa.int64()),
            "new_quantity": pa.array(part.new_quantity.astype(np.int64), type=pa.int64()),
            "reason": pa.array([b.INVENTORY_REASONS[k] for k in part.kind.tolist()], type=pa.string()),
            "reference_id": pa.array([next(refs) if h else None for h in has_ref.tolist()], type=pa.string()),
        }
    elif event_type == "price_change":
        part = rows.take(np.flatnonzero(kind == b.PRICE))
        cols = _common(part, catalog, event_type)
        cols |= {
            "old_price": _money(part.old_price_cents),
            "new_price": _money(part.price_cents),
            "promotion": pa.array(part.promotion.astype(bool), type=pa.bool_()),
            "reason": pa.array([b.PRICE_REASONS[r] for r in part.price_reason.tolist()], type=pa.string()),
        }
    elif event_type == "purchase_order":
        part = rows.take(np.flatnonzero(np.isin(kind, b.ORDER_KINDS)))
        cols = _common(part, catalog, event_type)
        placed = part.kind == b.ORDER
        dates = iter(Encoder(catalog).expected_dates(part.store[placed], part.expected_ms[placed]))
        cols |= {
            "order_id": pa.array(_ids(part.reference), type=pa.string()),
            "status": pa.array([b.ORDER_STATUS[k] for k in part.kind.tolist()], type=pa.string()),
            "quantity": pa.array(part.quantity.astype(np.int64), type=pa.int64()),
            "expected_delivery": pa.array([next(dates) if p else None for p in placed.tolist()], type=pa.string()),
        }
    else:
        raise ValueError(f"no bronze history for {event_type}")
    cols |= _lineage(part.time_ms, first_offset)
    return pa.table(cols)


def generate_days(config: HistoryConfig, catalog: Catalog | None = None) -> Iterator[tuple[date, dict[str, pa.Table]]]:
    """(day, {event type: bronze rows}) for each day of the range, in order; offsets run on across days."""
    cat = catalog or config.catalog()
    generator = config.generator(cat)
    offsets = dict.fromkeys(EVENT_TYPES, 0)
    day_ms = 24 * 3600 * 1000
    pending: list[b.EventBatch] = []
    current: int | None = None

    def flush(day_index: int) -> tuple[date, dict[str, pa.Table]]:
        rows = b.EventBatch.concat(pending) if pending else b.EventBatch.empty()
        tables = {}
        for event_type in EVENT_TYPES:
            tables[event_type] = bronze_columns(rows, cat, event_type, offsets[event_type])
            offsets[event_type] += tables[event_type].num_rows
        return date(1970, 1, 1) + timedelta(days=day_index), tables

    first = (datetime.combine(config.first_day, time(), tzinfo=timezone.utc).timestamp() * 1000) // day_ms
    current = int(first)
    for rows in generator.batches():
        if len(rows) == 0:
            continue
        # Steps divide the hour, so a step never straddles midnight UTC: all rows of a batch share a day.
        day_index = int(rows.time_ms[0] // day_ms)
        while day_index > current:
            yield flush(current)
            pending = []
            current += 1
        pending.append(rows)
    last = int(first) + config.days - 1
    while current <= last:
        yield flush(current)
        pending = []
        current += 1


def sales_totals(sales: pa.Table) -> dict[str, int]:
    """Sale lines, units and revenue in cents of bronze sales rows: what the day's fact_sales must hold
    once loaded (a price is a whole number of cents, so the revenue is exact)."""
    quantity = sales.column("quantity").to_numpy(zero_copy_only=False).astype(np.int64)
    price_cents = np.rint(sales.column("unit_price").to_numpy(zero_copy_only=False) * 100).astype(np.int64)
    return {"lines": sales.num_rows, "units": int(quantity.sum()), "revenue_cents": int((quantity * price_cents).sum())}


DayTables = tuple[date, dict[str, pa.Table]]


def _chunks(days: Iterator[DayTables], size: int) -> Iterator[list[DayTables]]:
    chunk: list[DayTables] = []
    for item in days:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_history(
    config: HistoryConfig, settings: Any = None, spark: Any = None, days_per_commit: int = 7
) -> dict[str, Any]:
    """Generate the range and replace its days in bronze; returns rows written per day and type
    ("days") and the sales totals per day ("sales", ``sales_totals``).

    Each Delta commit replaces a run of up to ``days_per_commit`` whole days (one commit per table
    and run of days: a commit costs about a second here, whatever its size)."""
    from pyspark.sql import functions as F

    from retail_platform.settings import get_settings
    from retail_platform.spark import job_session
    from retail_platform.streaming.bronze import PARTITION_COLUMNS, event_columns, table_path, with_day

    s = settings or get_settings()
    own = spark is None
    spark = spark or job_session("history", s)
    catalog = config.catalog()
    written: dict[str, dict[str, int]] = {}
    sales: dict[str, dict[str, int]] = {}
    try:
        for chunk in _chunks(generate_days(config, catalog), days_per_commit):
            first, last = chunk[0][0], chunk[-1][0]
            for event_type in EVENT_TYPES:
                table = pa.concat_tables([tables[event_type] for _, tables in chunk])
                frame = with_day(spark.createDataFrame(table)).select(*event_columns(event_type))
                if table.num_rows == 0:
                    # Nothing to write, but the days must still be emptied: an overwrite of no rows
                    # with the predicate deletes them (the partition columns only need a type).
                    frame = frame.withColumns({c: F.lit("0").cast("string") for c in PARTITION_COLUMNS})
                (
                    frame.coalesce(1)
                    .write.format("delta")
                    .mode("overwrite")
                    .partitionBy(*PARTITION_COLUMNS)
                    .option("replaceWhere", day_predicate(first, last))
                    .save(table_path(s, event_type))
                )
            for day, tables in chunk:
                written[day.isoformat()] = {t: tables[t].num_rows for t in EVENT_TYPES}
                sales[day.isoformat()] = sales_totals(tables["sales_transaction"])
    finally:
        if own:
            spark.stop()
    return {"catalog": catalog.fingerprint, "days": written, "sales": sales}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m retail_platform.simulation.bronze_history",
        description="Write simulated history into the lake's bronze.",
    )
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--stores", type=int, default=5)
    p.add_argument("--products", type=int, default=50)
    p.add_argument("--seed", type=int, default=4, help="catalogue and run seed (as the live simulator)")
    p.add_argument("--end-date", type=date.fromisoformat, required=True, help="last day generated (UTC)")
    p.add_argument("--lines-per-store-hour", type=float, default=60.0, help="demand level (sale lines)")
    p.add_argument(
        "--load-catalog", action="store_true", help="also load the catalogue into the dimensions (and landing zone)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = HistoryConfig(
        end_date=args.end_date,
        days=args.days,
        stores=args.stores,
        products=args.products,
        seed=args.seed,
        lines_per_store_hour=args.lines_per_store_hour,
    )
    from retail_platform.settings import get_settings

    settings = get_settings()
    result: dict[str, Any] = {}
    if args.load_catalog:
        from retail_platform.simulation.catalog_load import load_catalog

        result["catalog_load"] = load_catalog(config.catalog(), settings)
    result |= write_history(config, settings)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
