"""Maintenance against real Delta tables (in-process Spark) and the real warehouse endpoint.

The lake is a fresh folder holding a bronze table written in many small appends (rows from the
history generator) over an old day past retention and two recent days, a quarantine table with a day
past its 90-day window, and a silver table with an old day (silver has no window by default). After
one maintenance run: fewer files with identical rows, the expired days gone and the others kept,
unreferenced files vacuumed from storage, and every action recorded in ops_maintenance_runs. The
warehouse half merges a ReplacingMergeTree's parts and drops a month past retention.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from retail_platform.maintenance.config import MaintenanceConfig
from retail_platform.maintenance.retention import partition_name
from retail_platform.maintenance.run import run_lake, run_warehouse
from retail_platform.simulation.bronze_history import HistoryConfig, generate_days

pytestmark = [pytest.mark.integration, pytest.mark.warehouse, pytest.mark.spark]

TODAY = datetime.now(timezone.utc).date()
OLD_BRONZE = TODAY - timedelta(days=800)  # past the 730-day default
RECENT = [TODAY - timedelta(days=2), TODAY - timedelta(days=1)]
OLD_QUARANTINE = TODAY - timedelta(days=100)  # past the 90-day default
APPENDS_PER_DAY = 3
# VACUUM at 0 hours so the replaced files leave storage within the test (never a production setting);
# LITE, the nightly mode, whatever the weekday.
CONFIG = MaintenanceConfig(vacuum_retention_hours=0, vacuum_full_weekday=-1)


@pytest.fixture(scope="module")
def spark(warehouse):
    from retail_platform.maintenance.run import session_conf
    from retail_platform.spark import job_session

    # The maintenance job's own session settings (what spark_jobs/maintenance.py runs with).
    session = job_session("test-maintenance", warehouse, driver_memory="2g", **session_conf(warehouse))
    yield session
    session.stop()


def _sales(day: date, seed: int) -> pa.Table:
    config = HistoryConfig(end_date=day, days=1, stores=2, products=6, seed=seed, lines_per_store_hour=3)
    ((_, tables),) = generate_days(config)
    return tables["sales_transaction"]


def _append_in_pieces(spark, table: pa.Table, uri: str, pieces: int) -> None:
    from retail_platform.streaming.bronze import PARTITION_COLUMNS, event_columns, with_day

    size = -(-table.num_rows // pieces)
    for i in range(pieces):
        frame = with_day(spark.createDataFrame(table.slice(i * size, size))).select(*event_columns("sales_transaction"))
        frame.coalesce(1).write.format("delta").mode("append").partitionBy(*PARTITION_COLUMNS).save(uri)


def _row_hashes(spark, uri: str) -> list[str]:
    """Sorted content hashes of every row: equal lists mean equal tables (as multisets of rows)."""
    from pyspark.sql import functions as F

    frame = spark.read.format("delta").load(uri)
    cols = sorted(frame.columns)
    return sorted(r[0] for r in frame.select(F.sha2(F.to_json(F.struct(*cols)), 256)).collect())


def _days(spark, uri: str) -> set[date]:
    rows = spark.read.format("delta").load(uri).select("year", "month", "day").distinct().collect()
    return {date(int(r.year), int(r.month), int(r.day)) for r in rows}


def _parquet_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*.parquet") if "_delta_log" not in p.parts)


@pytest.fixture(scope="module")
def lake(warehouse, spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    uri = f"file://{root}"
    bronze, quarantine, silver = f"{uri}/raw-data/sales", f"{uri}/quarantine/batch/sales", f"{uri}/silver/sales"
    for i, day in enumerate([OLD_BRONZE, *RECENT]):
        _append_in_pieces(spark, _sales(day, 30 + i), bronze, APPENDS_PER_DAY)
    for i, day in enumerate([OLD_QUARANTINE, RECENT[-1]]):
        _append_in_pieces(spark, _sales(day, 40 + i), quarantine, 2)
    _append_in_pieces(spark, _sales(OLD_BRONZE, 50), silver, 2)
    before = {
        name: {"hashes": _row_hashes(spark, u), "days": _days(spark, u)}
        for name, u in (("bronze", bronze), ("quarantine", quarantine), ("silver", silver))
    }
    # Rows of the days that survive retention, for the content check after compaction.
    from pyspark.sql import functions as F

    kept = spark.read.format("delta").load(bronze).where(F.concat("year", "month", "day") >= f"{RECENT[0]:%Y%m%d}")
    cols = sorted(kept.columns)
    before["bronze"]["kept_hashes"] = sorted(
        r[0] for r in kept.select(F.sha2(F.to_json(F.struct(*cols)), 256)).collect()
    )
    before["bronze"]["disk_files"] = _parquet_files(root / "raw-data" / "sales")
    run_id = f"test-maintenance-{uuid.uuid4().hex[:8]}"
    settings = dataclasses.replace(warehouse, lake_uri=uri)
    started = time.monotonic()
    records = run_lake(spark, settings, CONFIG, run_id, TODAY)
    seconds = time.monotonic() - started
    print(f"\nlake maintenance of 3 tables ({len(records)} actions): {seconds:.1f} s")
    return {
        "root": root,
        "uris": {"bronze": bronze, "quarantine": quarantine, "silver": silver},
        "before": before,
        "records": {(r.target, r.action): r for r in records},
        "run_id": run_id,
    }


def test_compaction_reduces_files_without_changing_a_row(spark, lake):
    optimize = lake["records"][("raw-data/sales", "optimize")]
    # Two kept days of three appends each: six files before, one per day after.
    assert (optimize.files_before, optimize.files_after) == (2 * APPENDS_PER_DAY, 2)
    assert optimize.status == "ok"
    assert _row_hashes(spark, lake["uris"]["bronze"]) == lake["before"]["bronze"]["kept_hashes"]
    q = lake["records"][("quarantine/batch/sales", "optimize")]
    assert q.files_after < q.files_before


def test_retention_deletes_expired_days_and_keeps_the_others(spark, lake):
    before = lake["before"]
    assert before["bronze"]["days"] == {OLD_BRONZE, *RECENT}
    assert _days(spark, lake["uris"]["bronze"]) == set(RECENT)
    assert lake["records"][("raw-data/sales", "retention")].partitions_dropped == [partition_name(OLD_BRONZE)]
    assert _days(spark, lake["uris"]["quarantine"]) == {RECENT[-1]}
    assert lake["records"][("quarantine/batch/sales", "retention")].partitions_dropped == [
        partition_name(OLD_QUARANTINE)
    ]
    # Silver has no retention window by default: its old day and every row stay.
    assert ("silver/sales", "retention") not in lake["records"]
    assert _row_hashes(spark, lake["uris"]["silver"]) == before["silver"]["hashes"]


def test_vacuum_removes_the_replaced_files_from_storage(lake):
    vacuum = lake["records"][("raw-data/sales", "vacuum")]
    on_disk = _parquet_files(lake["root"] / "raw-data" / "sales")
    assert lake["before"]["bronze"]["disk_files"] == 3 * APPENDS_PER_DAY
    # Only the compacted files remain: the small ones and the expired day's are gone.
    assert on_disk == vacuum.files_after == 2
    assert vacuum.files_removed == 3 * APPENDS_PER_DAY
    assert not list((lake["root"] / "raw-data" / "sales" / partition_name(OLD_BRONZE)).rglob("*.parquet"))


def test_every_action_is_recorded(lake, warehouse_client_factory):
    rows = (
        warehouse_client_factory()
        .query(
            "SELECT target, action, status, files_before, files_after, partitions_dropped, cutoff "
            "FROM ops_maintenance_runs WHERE run_id = {r:String} ORDER BY target, action",
            parameters={"r": lake["run_id"]},
        )
        .result_rows
    )
    recorded = {(t, a): (s, fb, fa, p, c) for t, a, s, fb, fa, p, c in rows}
    assert set(recorded) == {
        (table, action)
        for table in ("raw-data/sales", "quarantine/batch/sales")
        for action in ("retention", "optimize", "vacuum")
    } | {("silver/sales", "optimize"), ("silver/sales", "vacuum")}
    assert all(s == "ok" for s, *_ in recorded.values())
    status, files_before, files_after, dropped, cutoff = recorded[("raw-data/sales", "retention")]
    assert (files_before, files_after, dropped) == (
        3 * APPENDS_PER_DAY,
        2 * APPENDS_PER_DAY,
        [partition_name(OLD_BRONZE)],
    )
    assert cutoff == TODAY - timedelta(days=730)


def test_warehouse_merges_recent_parts_and_drops_expired_months(warehouse, warehouse_client_factory):
    client = warehouse_client_factory()
    key = f"maint-{uuid.uuid4().hex[:6]}"
    now = datetime.now(timezone.utc)
    columns = [
        "store_id",
        "product_id",
        "quantity",
        "quantity_change",
        "reason",
        "event_time",
        "event_id",
        "version",
        "batch_id",
    ]
    # Two inserts = two parts holding two versions of one store/product's stock.
    for version, quantity in ((1, 10), (2, 7)):
        client.insert(
            "rt_stock", [[key, "P1", quantity, -1, "sale", now, f"e{version}", version, version]], column_names=columns
        )
    old_month = date(TODAY.year - 2, TODAY.month, 1)
    qcols = ["source_topic", "source_partition", "source_offset", "reason", "raw_value", "kafka_timestamp"]
    client.insert(
        "rt_quarantine",
        [
            [key, 0, 1, "malformed_json", "{", datetime(old_month.year, old_month.month, 3, tzinfo=timezone.utc)],
            [key, 0, 2, "malformed_json", "{", now],
        ],
        column_names=qcols,
    )
    run_id = f"test-maintenance-wh-{uuid.uuid4().hex[:8]}"
    records = {
        (r.target, r.action): r for r in run_warehouse(warehouse, MaintenanceConfig(), run_id, TODAY, client=client)
    }

    stock = records[("rt_stock", "optimize_final")]
    # The engine may already have merged the two parts in the background (it does on a busy run);
    # either way OPTIMIZE FINAL must leave one part holding only the newest version.
    assert stock.files_before >= 1 and stock.files_after == 1
    # Merged: one row per store/product without FINAL, the newest version.
    assert client.query(
        "SELECT quantity FROM rt_stock WHERE store_id = {k:String}", parameters={"k": key}
    ).result_rows == [(7,)]
    dropped = records[("rt_quarantine", "retention")].partitions_dropped
    assert dropped == [f"{old_month:%Y%m}"]
    assert client.query(
        "SELECT source_offset FROM rt_quarantine WHERE source_topic = {k:String}", parameters={"k": key}
    ).result_rows == [(2,)]
    recorded = client.query(
        "SELECT target, action, status FROM ops_maintenance_runs WHERE run_id = {r:String} ORDER BY target, action",
        parameters={"r": run_id},
    ).result_rows
    assert {(t, a) for t, a, _ in recorded} == set(records)
    assert all(s in ("ok", "skipped") for _, _, s in recorded)
