"""The daily load's driver-side reads of day partitions: bronze counts and silver rows from the files
a Delta version lists (``retail_platform.batch.lake_files``)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from retail_platform.batch.lake_files import bronze_counts, day_files, local_path, read_days

D1, D2 = date(2026, 6, 15), date(2026, 6, 16)
TOPICS = ("retail-sales-transactions",)


def write(tmp_path, name, rows):
    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


def row(event_id, topic="retail-sales-transactions", store="store_001"):
    return {"event_id": event_id, "kafka_topic": topic, "store_id": store}


def test_counts_and_copies_are_those_of_a_row_by_row_count(tmp_path):
    day1 = [row("a"), row("a"), row("b", topic="history"), row(None), row(None), row("c", store=None)]
    day1b = [row("b"), row("d", topic=None)]  # a second file of the day: b's copy is in another file
    day2 = [row("a"), row(None)]  # a's copy on another day is no copy
    files = [(D1, write(tmp_path, "1", day1)), (D1, write(tmp_path, "1b", day1b)), (D2, write(tmp_path, "2", day2))]
    counts, copied = bronze_counts(files, ["event_id", "store_id"], TOPICS)
    by_day = {D1: day1 + day1b, D2: day2}
    for day, rows in by_day.items():
        c = counts[day]
        assert c.rows == len(rows)
        assert c.complete == sum(r["event_id"] is not None and r["store_id"] is not None for r in rows)
        assert c.distinct_ids == len({r["event_id"] for r in rows} - {None})
        assert c.stream_rows == sum(r["kafka_topic"] in TOPICS for r in rows)
    expected = sorted(
        ((day, k) for day, rows in by_day.items() for k, n in Counter(r["event_id"] for r in rows).items() if n > 1),
        key=lambda k: (k[0], k[1] is None, k[1] or ""),
    )
    assert copied == expected == [(D1, "a"), (D1, "b"), (D1, None)]


def test_a_column_missing_from_a_file_counts_as_null(tmp_path):
    files = [(D1, write(tmp_path, "1", [{"event_id": "a", "kafka_topic": "history"}]))]
    counts, copied = bronze_counts(files, ["event_id", "store_id"], TOPICS)
    assert (counts[D1].rows, counts[D1].complete, counts[D1].distinct_ids, copied) == (1, 0, 1, [])


def test_only_the_days_files_and_only_local_ones():
    uris = [
        "file:/lake/raw/sales/year=2026/month=06/day=15/part-0.parquet",
        "file:/lake/raw/sales/year=2026/month=06/day=14/part-1.parquet",
        "/lake/raw/sales/year=2026/month=06/day=16/part%202.parquet",
    ]
    assert day_files(uris, [D1, D2]) == [
        (D1, "/lake/raw/sales/year=2026/month=06/day=15/part-0.parquet"),
        (D2, "/lake/raw/sales/year=2026/month=06/day=16/part 2.parquet"),
    ]
    assert day_files(["s3a://lake/raw/sales/year=2026/month=06/day=15/part-0.parquet"], [D1]) is None
    assert day_files(["s3a://lake/raw/sales/year=2026/month=06/day=14/part-0.parquet"], [D1]) == []
    assert local_path("s3a://bucket/x") is None


def test_silver_rows_read_back_with_the_partition_columns_and_utc_microseconds(tmp_path):
    when = datetime(2026, 6, 15, 10, 30, 0, 123456)
    table = pa.table({"event_id": ["a"], "event_time": pa.array([when], pa.timestamp("ns")), "quantity": [2]})
    path = tmp_path / "s.parquet"
    pq.write_table(table, path, use_deprecated_int96_timestamps=True)  # as Spark writes timestamps
    out = read_days([(D1, str(path))], ["event_id", "event_time", "quantity", "year", "month", "day"])
    assert out.schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert out.to_pylist() == [
        {"event_id": "a", "event_time": when.replace(tzinfo=timezone.utc), "quantity": 2, "year": "2026",
         "month": "06", "day": "15"}
    ]  # fmt: skip


def test_files_are_read_directly_only_without_deletion_vectors_or_column_mapping():
    from retail_platform.batch.lake_files import files_are_rows

    assert files_are_rows({}) and files_are_rows({"delta.columnMapping.mode": "none", "delta.minReaderVersion": "1"})
    assert not files_are_rows({"delta.enableDeletionVectors": "true"})
    assert not files_are_rows({"delta.feature.deletionVectors": "supported", "delta.enableDeletionVectors": "false"})
    assert not files_are_rows({"delta.columnMapping.mode": "name"})
    assert not files_are_rows({"delta.feature.columnMapping": "supported"})
