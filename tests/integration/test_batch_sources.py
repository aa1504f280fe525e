"""Batch sources against a real warehouse endpoint and an in-process Spark session: a dirty catalogue,
a supplier file, a dirty sales history file and a legacy SQLite database dropped into the landing zone
are loaded into the dimensions and bronze with every bad row quarantined with its reason and every
file reported; running again changes nothing; a changed catalogue opens SCD2 versions and a corrected
sales file updates bronze rows in place."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from retail_platform.sources import landing, runs
from tests.integration.databases import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.warehouse, pytest.mark.spark]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "landing"
EXPECTED_REJECTS = {
    ("catalogue", "bad_format:product_id"): 1,
    ("catalogue", "bad_number:unit_price"): 1,
    ("catalogue", "duplicate:product_id"): 1,
    ("catalogue", "missing_field:product_name"): 1,
    ("catalogue", "out_of_range:unit_cost"): 1,
    ("suppliers", "bad_format:country"): 1,
    ("suppliers", "bad_number:lead_time_days"): 1,
    ("suppliers", "malformed:not_an_object"): 1,
    ("suppliers", "malformed_json"): 1,
    ("sales_history", "bad_date:timestamp"): 1,
    ("sales_history", "bad_number:quantity"): 1,
    ("sales_history", "bad_number:unit_price"): 1,
    ("sales_history", "duplicate:transaction_line"): 1,
    ("sales_history", "malformed:field_count"): 1,
    ("sales_history", "missing_field:product_id"): 1,
    ("sales_history", "not_allowed:payment_method"): 1,
    ("sales_history", "out_of_range:quantity"): 1,
    ("sales_history", "unknown_location:store"): 1,
    ("legacy", "bad_date:timestamp"): 1,
    ("legacy", "bad_format:product_id"): 1,
    ("legacy", "missing_field:lead_time_days"): 1,
    ("legacy", "missing_field:payment_method"): 1,
    ("legacy", "out_of_range:new_quantity"): 1,
}


@pytest.fixture(scope="module")
def warehouse(warehouse):
    """A database of this module's own: other modules load the simulator's catalogue, whose product and
    supplier ids these fixtures share."""
    with scratch_database(warehouse, "retail_sources") as settings:
        yield settings


@pytest.fixture(scope="module")
def client(warehouse):
    from retail_platform.warehouse.client import connect

    c = connect(warehouse)
    yield c
    c.close()


def drop(settings, kind: str, *names: str, rename: dict[str, str] | None = None) -> Path:
    folder = landing.landing_dir(settings, kind)
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(FIXTURES / kind / name, folder / (rename or {}).get(name, name))
    return folder


def run_all(client, settings, spark, run_id: str):
    return runs.ingest_dimensions(client, settings, run_id) + runs.ingest_bronze(client, settings, spark, run_id)


@pytest.fixture(scope="module")
def first_run(warehouse, spark, client):
    drop(warehouse, "catalogue", "products.csv")
    drop(warehouse, "suppliers", "suppliers.jsonl")
    drop(warehouse, "sales_history", "pos_export_2026.csv", "pos_export_2026.mapping.yaml")
    legacy = landing.landing_dir(warehouse, "legacy")
    legacy.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(legacy / "inventory.db")
    db.executescript((FIXTURES / "legacy" / "inventory.sql").read_text())
    db.commit()
    db.close()
    return run_all(client, warehouse, spark, "run-1")


def bronze_rows(spark, settings, event_type: str) -> dict[str, dict]:
    from retail_platform.streaming.bronze import table_path

    frame = spark.read.format("delta").load(table_path(settings, event_type))
    return {r["event_id"]: r.asDict() for r in frame.where("kafka_topic LIKE 'landing:%'").collect()}


def bronze_version(spark, settings, event_type: str) -> int:
    from delta.tables import DeltaTable

    from retail_platform.streaming.bronze import table_path

    return DeltaTable.forPath(spark, table_path(settings, event_type)).history(1).collect()[0]["version"]


def warehouse_state(client) -> dict:
    return {
        "products": client.query(
            "SELECT product_id, valid_from, valid_to, unit_price, category FROM dim_product FINAL ORDER BY ALL"
        ).result_rows,
        "suppliers": client.query("SELECT * EXCEPT (updated_at) FROM dim_supplier FINAL ORDER BY ALL").result_rows,
        "rejects": client.query("SELECT count() FROM dq_source_rejects FINAL").result_rows[0][0],
    }


def test_first_run_reports_every_file_with_reconciled_counts(first_run, client):
    loads = {f.kind: f for f in first_run}
    assert sorted(loads) == ["catalogue", "legacy", "sales_history", "suppliers"]
    assert all(f.status == "loaded" for f in first_run), [f.message for f in first_run]
    counts = {
        k: (f.rows_read, f.rows_loaded, f.rows_quarantined, f.blank_lines, f.header_lines) for k, f in loads.items()
    }
    assert counts == {
        "catalogue": (8, 3, 5, 1, 2),
        "suppliers": (6, 2, 4, 1, 0),
        "sales_history": (14, 5, 9, 2, 2),
        "legacy": (14, 9, 5, 0, 0),
    }
    assert loads["sales_history"].affected_days == [date(2026, 10, 3), date(2026, 10, 5)]
    assert loads["legacy"].affected_days == [date(2026, 9, 29), date(2026, 9, 30)]
    recorded = runs.run_loads(client, client.database, "run-1")
    assert sorted((f.kind, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) for f in recorded) == sorted(
        (k, "loaded", *c[:3]) for k, c in counts.items()
    )
    assert runs.affected_days(recorded) == [date(2026, 9, 29), date(2026, 9, 30), date(2026, 10, 3), date(2026, 10, 5)]


def test_quarantine_holds_every_rejected_row_with_its_reason(first_run, client):
    rows = client.query(
        "SELECT source_kind, reason, count() FROM dq_source_rejects FINAL GROUP BY ALL ORDER BY ALL"
    ).result_rows
    assert {(k, r): n for k, r, n in rows} == EXPECTED_REJECTS
    line = client.query(
        "SELECT file, line_number, raw_line FROM dq_source_rejects FINAL WHERE reason = 'unknown_location:store'"
    ).result_rows
    assert line == [("pos_export_2026.csv", 13, "R-1008,1,SKU0003,1,2.99,04/10/2026 12:00,Köln Dom,cash")]
    legacy_files = {
        r[0] for r in client.query("SELECT file FROM dq_source_rejects FINAL WHERE source_kind = 'legacy'").result_rows
    }
    assert legacy_files == {
        "inventory.db#vendors",
        "inventory.db#items",
        "inventory.db#stock_levels",
        "inventory.db#sales",
    }


def test_dimensions_hold_the_loaded_rows(first_run, client):
    current = client.query(
        "SELECT product_id, product_name, supplier_id, unit_cost, unit_price FROM dim_product FINAL "
        "WHERE is_current ORDER BY product_id"
    ).result_rows
    assert current == [
        ("SKU0001", "Espresso Machine", "SUP001", Decimal("1050.00"), Decimal("1299.00")),
        ("SKU0002", "Ground Coffee 500g", "SUP002", Decimal("2.10"), Decimal("4.50")),
        ("SKU0003", "Oat Milk 1L", "SUP002", Decimal("1.20"), Decimal("2.99")),
        ("SKU0101", "Wholemeal Flour 1kg", "SUP010", Decimal("0.80"), Decimal("1.49")),
        ("SKU0102", "Butter 250g", "SUP011", Decimal("1.10"), Decimal("2.29")),
    ]
    suppliers = client.query(
        "SELECT supplier_id, supplier_name, country, lead_time_days FROM dim_supplier FINAL ORDER BY supplier_id"
    ).result_rows
    assert suppliers == [
        ("SUP001", "Brewmaster GmbH", "DE", 7),
        ("SUP002", "Nordic Oats", "SE", 5),
        ("SUP010", "Old Mill Flour", "GB", 4),
        ("SUP011", "Valley Dairy", "IE", 2),
    ]


def test_bronze_holds_the_imported_sales_and_stock_counts(first_run, spark, warehouse):
    sales = bronze_rows(spark, warehouse, "sales_transaction")
    assert len(sales) == 8  # 5 from the file, 3 from the legacy database
    by_line = {(r["transaction_id"], r["product_id"]): r for r in sales.values()}
    first = by_line[("R-1001", "SKU0001")]
    assert (first["store_id"], first["quantity"], first["unit_price"]) == ("store_001", 2, 1299.0)
    assert first["event_time"].replace(tzinfo=timezone.utc) == datetime(2026, 10, 3, 7, 15, tzinfo=timezone.utc)
    assert (first["year"], first["month"], first["day"]) == ("2026", "10", "03")
    assert by_line[("R-1007", "SKU0003")]["day"] == "03"  # 00:30 on the 4th in Berlin is the 3rd in UTC
    assert {r["transaction_id"] for r in sales.values() if r["kafka_topic"] == "landing:legacy-sqlite"} == {
        "L-500", "L-501",
    }  # fmt: skip
    stock = bronze_rows(spark, warehouse, "inventory_update")
    assert sorted((r["store_id"], r["product_id"], r["new_quantity"], r["reason"]) for r in stock.values()) == [
        ("store_001", "SKU0101", 40, "adjustment"),
        ("store_001", "SKU0102", 12, "adjustment"),
    ]


def test_running_again_changes_nothing(first_run, spark, client, warehouse):
    before = warehouse_state(client)
    versions = {t: bronze_version(spark, warehouse, t) for t in ("sales_transaction", "inventory_update")}
    again = run_all(client, warehouse, spark, "run-2")
    assert sorted((f.kind, f.status) for f in again) == [
        ("catalogue", "skipped"), ("legacy", "skipped"), ("sales_history", "skipped"), ("suppliers", "skipped"),
    ]  # fmt: skip
    assert all("content already loaded" in f.message for f in again)
    assert warehouse_state(client) == before
    assert {t: bronze_version(spark, warehouse, t) for t in versions} == versions
    assert runs.affected_days(runs.run_loads(client, client.database, "run-2")) == []


def test_changed_catalogue_opens_versions_and_corrected_sales_update_bronze(first_run, spark, client, warehouse):
    # A price list effective from tomorrow (after the first versions, which started at their load);
    # the file has no sub_category or brand column: those keep their current values.
    cut = datetime.combine(date.today() + timedelta(days=1), time(), tzinfo=timezone.utc)
    folder = landing.landing_dir(warehouse, "catalogue")
    (folder / "products_next.csv").write_text(
        "product_id,product_name,category,supplier_id,unit_cost,unit_price,effective_from\n"
        f"SKU0002,Ground Coffee 500g,Grocery,SUP002,2.10,4.60,{cut.isoformat()}\n"
        f"SKU0003,Oat Milk 1L,Grocery,SUP002,1.20,2.99,{cut.isoformat()}\n",
        encoding="utf-8",
    )
    sales = landing.landing_dir(warehouse, "sales_history")
    corrected = (sales / "pos_export_2026.csv").read_text().replace("R-1010,1,SKU0002,5,", "R-1010,1,SKU0002,6,")
    (sales / "pos_export_2026_fix.csv").write_text(corrected, encoding="utf-8")
    shutil.copy(sales / "pos_export_2026.mapping.yaml", sales / "pos_export_2026_fix.mapping.yaml")

    loads = {f.file: f for f in run_all(client, warehouse, spark, "run-3")}
    assert loads["products_next.csv"].details == {"versions_opened": 1, "versions_closed": 1, "unchanged": 1}
    fixed = loads["pos_export_2026_fix.csv"]
    assert {k: fixed.details[k] for k in ("bronze_inserted", "bronze_updated")} == {"bronze_inserted": 0,
                                                                                   "bronze_updated": 1}  # fmt: skip
    # Per file: quarantined by reason, and revenue loaded per day (cents) to compare with the source.
    assert sum(v for k, v in fixed.details.items() if k.startswith("quarantined:")) == fixed.rows_quarantined
    assert fixed.details["revenue_cents:2026-10-05"] == 6 * 450  # R-1010, corrected to 6 x 4.50
    assert loads["pos_export_2026.csv"].status == "skipped"

    versions = client.query(
        "SELECT valid_from, valid_to, is_current, unit_price, change_reason, brand FROM dim_product FINAL "
        "WHERE product_id = 'SKU0002' ORDER BY valid_from"
    ).result_rows
    assert [(v[1].replace(tzinfo=timezone.utc) == cut, v[2], v[3], v[4], v[5]) for v in versions] == [
        (True, False, Decimal("4.50"), "initial", "Brewmaster"),
        (False, True, Decimal("4.60"), "price_change", "Brewmaster"),
    ]
    assert versions[1][0].replace(tzinfo=timezone.utc) == cut
    rows = bronze_rows(spark, warehouse, "sales_transaction")
    assert len(rows) == 8
    assert [r["quantity"] for r in rows.values() if r["transaction_id"] == "R-1010"] == [6]
