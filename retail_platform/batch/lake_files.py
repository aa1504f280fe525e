"""The daily load's reads of day partitions on the driver, straight from the Parquet files a Delta
table's log holds for those days.

Counting a day's bronze rows (rows, complete rows, distinct event ids, rows from the stream, and the
event ids that have copies) and reading a day's silver rows back are column work over at most a few
million rows: pyarrow does it on the driver in about a second, where a Spark job (plan, tasks, the
Arrow hand-over to Python) took 10-20 s per table and day.

The files are exactly those of one version of the table (``Pinned``): the files its log lists as
active at that version, never a listing of the folder (which holds files that compaction or a
``replaceWhere`` removed from the table until VACUUM). The Spark side of the same step reads that
same version (``versionAsOf``), so both see the same rows. The files are read this way only when a
file's rows are the table's rows: a local lake and a table without deletion vectors or column
mapping. Otherwise ``files`` is None and the caller reads through Spark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retail_platform.maintenance.retention import day_of_partition

PARTITION_COLUMNS = ("year", "month", "day")
# Table features under which a data file alone does not give the table's rows.
UNREADABLE_FEATURES = frozenset({"deletionVectors", "columnMapping"})


@dataclass
class Pinned:
    """A Delta table's rows of some days at one version: ``frame`` (Spark) and, when the driver can
    read them itself, the (day, local path) of every file the version holds for those days."""

    frame: Any  # pyspark DataFrame
    files: list[tuple[date, str]] | None


def local_path(uri: str) -> str | None:
    """The local path of a ``file:`` URI (or a plain path); None for a remote store."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return unquote(parsed.path)
    return None


def day_files(uris: Iterable[str], days: Iterable[date]) -> list[tuple[date, str]] | None:
    """(day, local path) of the files of ``days`` among a version's files; None if one is remote."""
    wanted = set(days)
    out = []
    for uri in uris:
        day = day_of_partition(uri)
        if day not in wanted:
            continue
        path = local_path(uri)
        if path is None:
            return None
        out.append((day, path))
    return sorted(out)


def pin(spark: Any, path: str, days: Sequence[date], predicate: str) -> Pinned:
    """The rows of ``days`` (``predicate`` over the partition columns) of the Delta table at ``path``,
    at its current version."""
    from delta.tables import DeltaTable

    table = DeltaTable.forPath(spark, path)
    version = table.history(1).select("version").collect()[0][0]
    frame = spark.read.format("delta").option("versionAsOf", version).load(path).where(predicate)
    # The table's properties, not DeltaTable.detail(): detail also sizes the table (5-10 s here).
    escaped = path.replace("`", "``")
    rows = spark.sql(f"SHOW TBLPROPERTIES delta.`{escaped}`").collect()
    if not files_are_rows({r["key"]: r["value"] for r in rows}):
        return Pinned(frame, None)
    return Pinned(frame, day_files(frame.inputFiles(), days))


def files_are_rows(properties: dict[str, str]) -> bool:
    """Whether a data file of a table with these properties holds exactly its rows as stored: no
    deletion vectors (rows deleted without rewriting the file; supported once means possibly present)
    and no column mapping (physical column names differ from the schema's)."""
    if any(properties.get(f"delta.feature.{feature}") for feature in UNREADABLE_FEATURES):
        return False
    if properties.get("delta.enableDeletionVectors", "false").lower() == "true":
        return False
    return properties.get("delta.columnMapping.mode", "none").lower() == "none"


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name in table.column_names:
        return table.column(name)
    return pa.chunked_array([pa.nulls(table.num_rows)])  # a column the file lacks reads as null


@dataclass
class DayCounts:
    rows: int = 0
    complete: int = 0  # rows with a value in every never-null field
    distinct_ids: int = 0  # distinct non-null event ids
    stream_rows: int = 0  # rows whose kafka_topic is a stream topic


def bronze_counts(
    files: Sequence[tuple[date, str]], never_null: Sequence[str], stream_topics: Sequence[str]
) -> tuple[dict[date, DayCounts], list[tuple[date, str | None]]]:
    """Per day its counts, and the (day, event_id) keys held by more than one row (a null event_id
    is one key: its rows are copies of one another, as a window over event_id groups them)."""
    wanted = sorted({"event_id", "kafka_topic", *never_null})
    topics = pa.array(list(stream_topics), pa.string())
    parts = []
    for day, path in files:
        table = pq.read_table(path, columns=[c for c in wanted if c in pq.read_schema(path).names])
        complete = pa.repeat(pa.scalar(True), table.num_rows)
        for name in never_null:
            complete = pc.and_kleene(complete, pc.is_valid(_column(table, name)))
        topic = _column(table, "kafka_topic").cast(pa.string())
        parts.append(
            pa.table(
                {
                    "ordinal": pa.repeat(pa.scalar(day.toordinal(), pa.int32()), table.num_rows),
                    "event_id": _column(table, "event_id").cast(pa.string()),
                    "complete": pc.cast(complete, pa.int64()),
                    "stream": pc.cast(pc.fill_null(pc.is_in(topic, topics), False), pa.int64()),
                }
            )
        )
    counts: dict[date, DayCounts] = {}
    copied: list[tuple[date, str | None]] = []
    if not parts:
        return counts, copied
    rows = pa.concat_tables(parts)
    per_day = rows.group_by("ordinal").aggregate([("ordinal", "count"), ("complete", "sum"), ("stream", "sum")])
    for o, n, c, s in zip(
        *(per_day.column(k).to_pylist() for k in ("ordinal", "ordinal_count", "complete_sum", "stream_sum")),
        strict=True,
    ):
        counts[date.fromordinal(o)] = DayCounts(rows=n, complete=c, stream_rows=s)
    per_id = rows.group_by(["ordinal", "event_id"]).aggregate([("ordinal", "count")])
    for o, event_id, n in zip(
        *(per_id.column(k).to_pylist() for k in ("ordinal", "event_id", "ordinal_count")), strict=True
    ):
        day = date.fromordinal(o)
        if event_id is not None:
            counts[day].distinct_ids += 1
        if n > 1:
            copied.append((day, event_id))
    return counts, sorted(copied, key=lambda k: (k[0], k[1] is None, k[1] or ""))


def read_days(files: Sequence[tuple[date, str]], columns: Sequence[str]) -> pa.Table:
    """The rows of the files with ``columns`` in that order, as Spark hands a frame to Python: the
    partition columns from each file's day, timestamps in microseconds UTC. ``files`` must not be
    empty (the schema comes from them)."""
    tables = []
    for day, path in files:
        table = pq.read_table(path, coerce_int96_timestamp_unit="us")
        values = {"year": f"{day:%Y}", "month": f"{day:%m}", "day": f"{day:%d}"}
        arrays = []
        for name in columns:
            if name in values:
                arrays.append(pa.repeat(pa.scalar(values[name], pa.string()), table.num_rows))
                continue
            column = table.column(name)
            if pa.types.is_timestamp(column.type):
                column = column.cast(pa.timestamp("us", tz="UTC"))
            arrays.append(column)
        tables.append(pa.table(arrays, names=list(columns)))
    return pa.concat_tables(tables)
