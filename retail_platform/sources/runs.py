"""One run of the batch sources: every kind's landing folder through its handler, in dependency order
(suppliers before the products that name them, both before the sales that daily_etl conforms to them),
then what the run did, read back from ops_source_loads.

The dimension kinds need only the warehouse (``ingest_dimensions``); the kinds that write bronze need
a Spark session (``ingest_bronze``), which the DAG runs inside ``spark_jobs/import_sales_history.py``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from clickhouse_connect.driver.client import Client

from retail_platform.settings import Settings
from retail_platform.sources import catalogue, landing, legacy_sqlite, sales_history, suppliers
from retail_platform.sources.report import FileLoad

DIMENSION_KINDS = ("suppliers", "catalogue")
BRONZE_KINDS = ("sales_history", "legacy")


def ingest_dimensions(
    client: Client, settings: Settings, run_id: str, kinds: tuple[str, ...] = DIMENSION_KINDS
) -> list[FileLoad]:
    db = settings.clickhouse_database
    handlers = {"suppliers": suppliers.handle_file(client, db), "catalogue": catalogue.handle_file(client, db)}
    loads: list[FileLoad] = []
    for kind in kinds:
        loads += landing.ingest(client, db, landing.landing_dir(settings, kind), kind, run_id, handlers[kind])
    return loads


def ingest_bronze(
    client: Client,
    settings: Settings,
    spark: Any,
    run_id: str,
    mapping: Any = None,
    legacy_timezone: str = "UTC",
    kinds: tuple[str, ...] = BRONZE_KINDS,
) -> list[FileLoad]:
    """Historical sales files (with ``mapping`` overriding the files' own) and legacy databases."""
    db = settings.clickhouse_database
    handlers = {
        "sales_history": sales_history.handle_file(client, db, settings, spark, mapping),
        "legacy": legacy_sqlite.handle_file(client, db, settings, spark, legacy_timezone),
    }
    loads: list[FileLoad] = []
    for kind in kinds:
        loads += landing.ingest(client, db, landing.landing_dir(settings, kind), kind, run_id, handlers[kind])
    return loads


def run_loads(client: Client, database: str, run_id: str) -> list[FileLoad]:
    """The files a run reported, in the order it processed them."""
    result = client.query(
        f"SELECT run_id, source_kind, file, size_bytes, sha256, status, rows_read, rows_loaded, rows_quarantined, "
        f"blank_lines, header_lines, details, affected_days, message, started_at, finished_at "
        f"FROM {database}.ops_source_loads WHERE run_id = %(run)s ORDER BY started_at, source_kind, file",
        parameters={"run": run_id},
    )
    return [
        FileLoad(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], dict(r[11]), list(r[12]), r[13],
                 r[14], r[15])
        for r in result.result_rows
    ]  # fmt: skip


def affected_days(loads: list[FileLoad]) -> list[date]:
    """The bronze days the run's loaded files wrote to: the days daily_etl must recompute."""
    return sorted({d for f in loads if f.status == "loaded" for d in f.affected_days})
