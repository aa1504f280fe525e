"""Imported events into the lake's bronze Delta tables, idempotently: a MERGE on event_id.

Why MERGE rather than an append with ``txnAppId``/``txnVersion`` keyed by the file: an append is
exactly once per file, but a corrected file (same sales, new hash) would append its rows a second
time and daily_etl's dedup would keep the *first* copy, the wrong one. MERGE on event_id inserts new
events, updates an event whose values changed, and leaves identical ones alone (the update condition
compares the contract columns), so importing the same content again writes no file at all.

The merge condition also names the day partitions of the incoming rows. That prunes the target to
those days (a history import does not scan all of bronze) and, more importantly, keeps the MERGE's
read set away from today's partition, which the streaming job appends to every few seconds: Delta
only reports a conflict when a concurrent commit added files to partitions the MERGE read. A conflict
with a late event appended to one of those old days is retried (the MERGE is idempotent). Limit: a
corrected row whose timestamp moved to another day is inserted in the new day while the old day keeps
the old row; correct such a row by deleting it from bronze, then re-import.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pyarrow as pa

from retail_platform import lake
from retail_platform.events.contracts import EVENT_TYPES
from retail_platform.retry import retrying
from retail_platform.settings import Settings
from retail_platform.streaming.columns import fields_of

log = logging.getLogger(__name__)
ATTEMPTS = 4


def partition_predicate(days: list[date], alias: str) -> str:
    return " OR ".join(
        f"({alias}.year = '{d:%Y}' AND {alias}.month = '{d:%m}' AND {alias}.day = '{d:%d}')" for d in sorted(days)
    )


def changed_condition(event_type: str) -> str:
    """True when the incoming row differs from bronze's in any contract column (null-safe)."""
    names = [c.name for c in fields_of(EVENT_TYPES[event_type]) if c.name != "event_id"]
    return " OR ".join(f"NOT (t.{n} <=> s.{n})" for n in names)


def merge_events(spark: Any, settings: Settings, event_type: str, rows: pa.Table) -> dict[str, int]:
    """MERGE ``rows`` (``sales_history.bronze_table``) into the event type's bronze table; returns
    Delta's counts: inserted, updated (a row left as it was counts in neither)."""
    from delta.tables import DeltaTable

    from retail_platform.batch.daily import bronze_schema
    from retail_platform.streaming.bronze import PARTITION_COLUMNS, event_columns, table_path, with_day

    if rows.num_rows == 0:
        return {"inserted": 0, "updated": 0}
    path = table_path(settings, event_type)
    if not DeltaTable.isDeltaTable(spark, path):
        # First rows ever (the stream has not run yet): an empty append creates the table with the
        # stream's schema and partitioning; appends commute, so a stream creating it too is harmless.
        empty = spark.createDataFrame([], bronze_schema(event_type))
        empty.write.format("delta").mode("append").partitionBy(*PARTITION_COLUMNS).save(path)
    days = sorted({t.date() for t in rows.column("event_time").to_pylist()})
    source = with_day(spark.createDataFrame(rows)).select(*event_columns(event_type)).coalesce(1)
    condition = f"t.event_id = s.event_id AND ({partition_predicate(days, 't')})"

    def merge() -> None:
        (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(source.alias("s"), condition)
            .whenMatchedUpdateAll(condition=changed_condition(event_type))
            .whenNotMatchedInsertAll()
            .execute()
        )

    # A concurrent commit (the stream appending the same days) conflicts with the MERGE's read: run
    # it again on the new snapshot. Any other error fails the load at once.
    conflicts = lake.commit_conflicts()
    retrying(conflicts, what=f"bronze {event_type}: MERGE", log=log, attempts=ATTEMPTS, wait_step=1.0)(merge)
    last = DeltaTable.forPath(spark, path).history(1).collect()[0]
    metrics = last["operationMetrics"] or {}
    if last["operation"] != "MERGE":
        return {"inserted": 0, "updated": 0}
    return {
        "inserted": int(metrics.get("numTargetRowsInserted", 0)),
        "updated": int(metrics.get("numTargetRowsUpdated", 0)),
    }
