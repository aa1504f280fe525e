"""ClickHouse <-> Spark without a JDBC connector and without funnelling rows through the driver.

Reading: a DataFrame of query *slices* (one per month, the facts' partition) is spread over the
executors, and each task runs its slice's query with clickhouse-connect and yields the Arrow record
batches (``mapInArrow``): the warehouse aggregates (a day's sales lines into daily units), Spark gets
the result in parallel, and the driver holds nothing but the slice list.

Writing: ``mapInArrow`` again, each task inserting its partition's Arrow batches into the table and
yielding the row count; ``write`` sums the counts. Inserts are idempotent where the table is a
ReplacingMergeTree keyed by the rows' identity (every forecasting table): a retried task re-inserts
the same keys, which converge to one row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

from retail_platform.settings import Settings

# Rows per Arrow batch Spark hands a writing task; ClickHouse wants inserts of 10k-100k+ rows.
INSERT_BATCH_ROWS = 100_000


def month_slices(first: date, last: date) -> list[tuple[date, date]]:
    """[start, end] day ranges of each calendar month overlapping [first, last], clipped to it."""
    slices = []
    start = first
    while start <= last:
        next_month = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        end = min(last, date.fromordinal(next_month.toordinal() - 1))
        slices.append((start, end))
        start = next_month
    return slices


def _reader(settings: Settings, sql: str, schema: pa.Schema) -> Callable[[Iterator[pa.RecordBatch]], Iterator]:
    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from retail_platform.warehouse.client import connect

        client = connect(settings)
        try:
            for batch in batches:
                for start, end in zip(batch.column("start").to_pylist(), batch.column("end").to_pylist(), strict=True):
                    query = sql.format(database=settings.clickhouse_database, start=start, end=end)
                    with client.query_arrow_stream(query) as stream:
                        for part in stream:
                            table = pa.Table.from_batches([part])
                            yield from table.select(schema.names).cast(schema).to_batches()
        finally:
            client.close()

    return read


def read_sliced(
    spark: SparkSession,
    settings: Settings,
    sql: str,
    slices: Sequence[tuple[date, date]],
    schema: StructType,
) -> DataFrame:
    """The union over ``slices`` of ``sql`` (with ``{database}``, ``{start}`` and ``{end}`` ISO dates
    substituted), read by the executors, one task per slice. Columns must match ``schema`` by name;
    LowCardinality columns should be selected with ``toString`` (Arrow would make them dictionaries)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow_schema = to_arrow_schema(schema)
    rows = [(s.isoformat(), e.isoformat()) for s, e in slices]
    frame = spark.createDataFrame(rows, "start string, end string").repartition(max(1, len(rows)))
    return frame.mapInArrow(_reader(settings, sql, arrow_schema), schema)


def _writer(settings: Settings, table: str) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from retail_platform.warehouse.client import connect

        client = connect(settings)
        written = 0
        try:
            pending: list[pa.RecordBatch] = []
            rows = 0
            for batch in batches:
                pending.append(batch)
                rows += batch.num_rows
                if rows >= INSERT_BATCH_ROWS:
                    client.insert_arrow(table, pa.Table.from_batches(pending))
                    written, pending, rows = written + rows, [], 0
            if rows:
                client.insert_arrow(table, pa.Table.from_batches(pending))
                written += rows
        finally:
            client.close()
        yield pa.RecordBatch.from_pydict({"rows": [written]}, schema=pa.schema([("rows", pa.int64())]))

    return write


def write(df: DataFrame, settings: Settings, table: str) -> int:
    """Insert ``df`` (columns named as the table's) into ``table``; returns the rows inserted."""
    counts = df.mapInArrow(_writer(settings, table), StructType([StructField("rows", LongType())]))
    row = counts.agg(F.sum("rows")).first()  # an aggregate without grouping: always one row
    return int(row[0] or 0) if row is not None else 0
