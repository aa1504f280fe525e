"""Maintenance without services: configuration and job arguments, retention cut-offs and partition
arithmetic, discovery of Delta tables from paths, and the rows recorded in ops_maintenance_runs."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest

from retail_platform.maintenance import retention
from retail_platform.maintenance.config import MaintenanceConfig, to_arguments
from retail_platform.maintenance.discovery import LakeTable, find_delta_tables, local_lister, table_kind
from retail_platform.maintenance.records import ActionRecord, summary
from retail_platform.settings import REPO_ROOT
from spark_jobs.maintenance import parse_args

TODAY = date(2026, 11, 21)

# --- configuration --------------------------------------------------------------------------------


def test_defaults_are_generous():
    c = MaintenanceConfig()
    assert (c.bronze_retention_days, c.quarantine_retention_days, c.silver_retention_days) == (730, 90, None)
    assert c.vacuum_retention_hours == 168 and c.optimize_recent_days is None
    assert (c.retention_days("bronze"), c.retention_days("quarantine"), c.retention_days("silver")) == (730, 90, None)
    assert c.retention_days("features") is None
    assert c.zones == ("raw-data", "silver", "quarantine")


def test_job_arguments_round_trip():
    config = MaintenanceConfig(
        bronze_retention_days=400,
        quarantine_retention_days=None,
        optimize_recent_days=7,
        vacuum_full_weekday=-1,
        zones=("raw-data",),
    )
    args = parse_args(["--run-id", "r1", *to_arguments(config)])
    from retail_platform.maintenance.config import from_arguments

    assert from_arguments(args) == config
    assert args.run_id == "r1"
    assert from_arguments(parse_args([])) == MaintenanceConfig()


def test_dag_params_rendered_as_text_parse():
    # A null DAG param renders as "None" in the job's templated arguments.
    args = parse_args(["--silver-retention-days", "None", "--bronze-retention-days", "365"])
    assert (args.silver_retention_days, args.bronze_retention_days) == (None, 365)


def test_from_params_coerces_and_rejects_unknown_or_unsafe_values():
    config = MaintenanceConfig.from_params(
        {
            "warehouse_optimize_days": "31",
            "warehouse_retention_days": {"dq_results": "400"},
            "silver_retention_days": "",
        }
    )
    assert config.warehouse_optimize_days == 31
    assert config.warehouse_retention_days == {"dq_results": 400}
    assert config.silver_retention_days is None
    with pytest.raises(ValueError, match="unknown maintenance parameters"):
        MaintenanceConfig.from_params({"bronze_days": 3})
    with pytest.raises(ValueError, match="bronze_retention_days must be at least 1"):
        MaintenanceConfig(bronze_retention_days=0)
    with pytest.raises(ValueError, match="retention of dq_results"):
        MaintenanceConfig(warehouse_retention_days={"dq_results": 0})


def test_vacuum_is_full_once_a_week():
    from retail_platform.maintenance.lake_tables import vacuum_mode

    sunday = date(2026, 11, 22)
    assert vacuum_mode(MaintenanceConfig(), sunday) == "FULL"
    assert vacuum_mode(MaintenanceConfig(), sunday - timedelta(days=1)) == "LITE"
    assert vacuum_mode(MaintenanceConfig(vacuum_full_weekday=-1), sunday) == "LITE"
    with pytest.raises(ValueError, match="vacuum_full_weekday"):
        MaintenanceConfig(vacuum_full_weekday=7)


# --- retention arithmetic -------------------------------------------------------------------------


def test_cutoff_keeps_exactly_the_window():
    cutoff = retention.cutoff_day(TODAY, 730)
    assert cutoff == date(2024, 11, 21)
    # The cut-off day itself is kept; the day before it is the first one deleted.
    kept, deleted = date(2024, 11, 21), date(2024, 11, 20)
    assert retention.days_before([retention.partition_name(kept), retention.partition_name(deleted)], cutoff) == [
        deleted
    ]
    with pytest.raises(ValueError):
        retention.cutoff_day(TODAY, 0)


def test_day_of_partition_from_file_paths():
    f = "file:///lake/raw-data/sales/year=2025/month=01/day=07/part-00000-abc.snappy.parquet"
    assert retention.day_of_partition(f) == date(2025, 1, 7)
    assert retention.day_of_partition("s3a://b/raw-data/sales/year=2025/month=1/day=7") == date(2025, 1, 7)
    assert retention.day_of_partition("file:///lake/silver/features/part-0.parquet") is None
    assert retention.partition_name(date(2025, 1, 7)) == "year=2025/month=01/day=07"


def test_days_before_is_distinct_and_sorted():
    files = [
        "x/year=2023/month=12/day=31/a.parquet",
        "x/year=2023/month=12/day=31/b.parquet",
        "x/year=2023/month=02/day=01/c.parquet",
        "x/year=2026/month=11/day=20/d.parquet",
    ]
    assert retention.days_before(files, date(2024, 1, 1)) == [date(2023, 2, 1), date(2023, 12, 31)]


def test_day_predicates_compare_zero_padded_partition_values():
    assert retention.day_predicate_before(date(2024, 3, 5)) == "concat(year, month, day) < '20240305'"
    assert retention.day_predicate_since(date(2024, 3, 5)) == "concat(year, month, day) >= '20240305'"


def test_partition_bounds_of_warehouse_partition_ids():
    assert retention.partition_bounds("202402") == (date(2024, 2, 1), date(2024, 2, 29))
    assert retention.partition_bounds("20240229") == (date(2024, 2, 29), date(2024, 2, 29))
    assert retention.partition_bounds("all") is None
    assert retention.partition_bounds("202413") is None
    assert retention.partition_bounds("20240230") is None


def test_a_month_is_dropped_only_once_wholly_past_the_cutoff():
    ids = ["202404", "202405", "202406", "all", "20240430"]
    # Cut-off in the middle of May: April (and its last day's daily partition) go, May stays.
    assert retention.partitions_past_retention(ids, date(2024, 5, 15)) == ["202404", "20240430"]
    assert retention.partitions_past_retention(ids, date(2024, 6, 1)) == ["202404", "20240430", "202405"]


def test_recent_partitions_include_any_partition_touching_the_window():
    ids = ["202608", "202609", "202610", "202611", "all"]
    assert retention.recent_partitions(ids, date(2026, 9, 20)) == ["202609", "202610", "202611", "all"]


# --- discovery ------------------------------------------------------------------------------------

FAKE_LAKE = {
    "raw-data": ["sales", "inventory", "returns", "_tmp"],
    "raw-data/sales": ["_delta_log", "year=2026"],
    "raw-data/inventory": ["_delta_log", "year=2026"],
    "raw-data/returns": ["_delta_log"],  # a source added after this code was written
    "raw-data/_tmp": ["_delta_log"],  # hidden: never a table
    "silver": ["sales", "year=2026"],
    "silver/sales": ["_delta_log"],
    "silver/year=2026": ["_delta_log"],  # partition folder: never descended into
    "quarantine": ["batch"],
    "quarantine/batch": ["sales", "empty"],
    "quarantine/batch/sales": ["_delta_log", "year=2026"],
    "quarantine/batch/empty": [],
    "checkpoints": ["stream"],
    "checkpoints/stream": ["_delta_log"],
}


def fake_lister(root: str):
    listed: list[str] = []

    def list_dir(uri: str) -> list[str]:
        rel = uri[len(root) + 1 :]
        listed.append(rel)
        return FAKE_LAKE.get(rel, [])

    return list_dir, listed


def test_find_delta_tables_walks_the_zones_and_stops_at_table_roots():
    list_dir, listed = fake_lister("s3a://lake")
    tables = find_delta_tables("s3a://lake", ("raw-data", "silver", "quarantine"), list_dir)
    assert [t.path for t in tables] == [
        "quarantine/batch/sales",
        "raw-data/inventory",
        "raw-data/returns",
        "raw-data/sales",
        "silver/sales",
    ]
    assert [t.kind for t in tables] == ["quarantine", "bronze", "bronze", "bronze", "silver"]
    assert tables[0].uri == "s3a://lake/quarantine/batch/sales"
    # Partitions of a table are never listed, nor zones that were not asked for.
    assert not any("year=" in p for p in listed)
    assert not any(p.startswith("checkpoints") for p in listed)


def test_table_kind_from_path():
    assert table_kind("raw-data/sales") == "bronze"
    assert table_kind("/quarantine/batch/sales") == "quarantine"
    assert table_kind("features/training") == "other"
    assert LakeTable("file:///l/", "silver/sales").uri == "file:///l/silver/sales"


def test_local_lister_finds_tables_in_a_file_lake(tmp_path):
    (tmp_path / "raw-data" / "sales" / "_delta_log").mkdir(parents=True)
    (tmp_path / "raw-data" / "sales" / "year=2026").mkdir()
    (tmp_path / "raw-data" / "notes.txt").write_text("a file, not a table")
    root = f"file://{tmp_path}"
    assert [t.path for t in find_delta_tables(root, ("raw-data", "silver"), local_lister)] == ["raw-data/sales"]


# --- records --------------------------------------------------------------------------------------


def test_record_rows_have_the_tables_columns():
    sql = (REPO_ROOT / "sql" / "0009_ops_task_runs.sql").read_text()
    body = sql.split("CREATE TABLE IF NOT EXISTS {database}.ops_maintenance_runs", 1)[1].split("ENGINE", 1)[0]
    row = ActionRecord("r", "lake", "raw-data/sales", "optimize").finish().row()
    assert tuple(row) == tuple(re.findall(r"^ {4}(\w+) ", body, re.MULTILINE))
    assert row["finished_at"] >= row["started_at"]
    assert row["started_at"].tzinfo is timezone.utc


def test_summary_counts_compaction_and_drops_and_lists_errors():
    records = [
        ActionRecord("r", "lake", "raw-data/sales", "retention", partitions_dropped=["year=2020/month=01/day=01"]),
        ActionRecord("r", "lake", "raw-data/sales", "optimize", files_before=40, files_after=3),
        ActionRecord("r", "lake", "raw-data/sales", "vacuum", files_removed=37),
        ActionRecord("r", "warehouse", "rt_stock", "optimize_final", status="error", detail="Code: 241"),
    ]
    assert summary(records) == {
        "actions": 4,
        "errors": ["warehouse:rt_stock:optimize_final: Code: 241"],
        "files_before": 40,
        "files_after": 3,
        "files_removed": 37,
        "partitions_dropped": 1,
    }
    assert isinstance(records[0].started_at, datetime)
