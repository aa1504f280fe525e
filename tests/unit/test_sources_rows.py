"""Rows of the dirty fixtures -> loadable rows and quarantined rows with exact reasons; counts reconcile."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from retail_platform.sources import catalogue, legacy_sqlite, sales_history, suppliers
from retail_platform.sources.mapping import find_mapping
from retail_platform.sources.readers import read_csv_text, read_file

LANDING = Path(__file__).resolve().parents[1] / "fixtures" / "landing"
NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def test_sales_history_fixture_loads_five_rows_and_quarantines_nine():
    path = LANDING / "sales_history" / "pos_export_2026.csv"
    read, converted = sales_history.convert_file(path, find_mapping(path))
    assert read.rows_read == len(converted.events) + len(converted.rejects) == 14
    assert {r.line: r.reason for r in converted.rejects} == {
        7: "bad_number:quantity",
        8: "bad_date:timestamp",
        9: "missing_field:product_id",
        10: "duplicate:transaction_line",
        11: "bad_number:unit_price",
        13: "unknown_location:store",
        14: "out_of_range:quantity",
        16: "malformed:field_count",
        18: "not_allowed:payment_method",
    }
    events = {(e["transaction_id"], e["product_id"]): e for e in converted.events}
    assert sorted(events) == [("R-1001", "SKU0001"), ("R-1001", "SKU0002"), ("R-1002", "SKU0003"),
                              ("R-1007", "SKU0003"), ("R-1010", "SKU0002")]  # fmt: skip
    first = events[("R-1001", "SKU0001")]
    assert first["unit_price"] == 1299.0 and first["quantity"] == 2 and first["payment_method"] == "credit_card"
    assert first["event_time"] == datetime(2026, 10, 3, 7, 15, tzinfo=timezone.utc)  # 09:15 CEST
    assert events[("R-1007", "SKU0003")]["event_time"].date() == date(2026, 10, 3)  # 00:30 on the 4th in Berlin
    assert events[("R-1002", "SKU0003")]["store_id"] == "store_002"
    assert converted.days == [date(2026, 10, 3), date(2026, 10, 5)]


def test_event_ids_are_deterministic_per_source_transaction_and_line():
    path = LANDING / "sales_history" / "pos_export_2026.csv"
    mapping = find_mapping(path)
    _, once = sales_history.convert_file(path, mapping)
    _, twice = sales_history.convert_file(path, mapping)
    assert [e["event_id"] for e in once.events] == [e["event_id"] for e in twice.events]
    assert once.events[0]["event_id"] == sales_history.event_id("pos-export-2026", "R-1001", "1")
    assert len({e["event_id"] for e in once.events}) == 5


def test_bronze_table_has_the_bronze_columns_without_partitions():
    from retail_platform.streaming.bronze import PARTITION_COLUMNS, event_columns

    path = LANDING / "sales_history" / "pos_export_2026.csv"
    _, converted = sales_history.convert_file(path, find_mapping(path))
    table = sales_history.bronze_table(converted.events, "landing:pos", 7, NOW)
    assert table.column_names == [c for c in event_columns("sales_transaction") if c not in PARTITION_COLUMNS]
    assert table.num_rows == 5 and set(table.column("batch_id").to_pylist()) == {7}


def test_catalogue_fixture_quarantines_five_of_eight():
    read = read_file(LANDING / "catalogue" / "products.csv")
    products, rejects = catalogue.to_products(read)
    assert (read.rows_read, read.blank_lines, read.header_lines) == (8, 1, 2)
    assert [p.values["product_id"] for p in products] == ["SKU0001", "SKU0002", "SKU0003"]
    assert {r.line: r.reason for r in rejects} == {
        7: "bad_number:unit_price",
        8: "bad_format:product_id",
        9: "missing_field:product_name",
        10: "duplicate:product_id",
        11: "out_of_range:unit_cost",
    }
    first = products[0].values
    assert first["product_name"] == "Espresso Machine" and first["unit_cost"] == Decimal("1050.00")
    assert products[1].values["supplier_id"] == "SUP002"


def test_catalogue_barcodes_and_supplier_codes_are_keys_kept_as_written_and_tracked():
    text = (
        "product_id,product_name,category,supplier_id,unit_cost,unit_price,barcode,supplier_product_code\n"
        "ART-1,Tissues,Household,SUP-KC,0.90,1.99,036000291452,KC 100/2\n"
        "ART-2,Cola,Beverages,SUP-PEP,0.30,0.89,,\n"
        "ART-3,Soda,Beverages,SUP-COKE,0.95,2.49,4.9000028904E10,\n"
        'ART-4,Soda 2,Beverages,SUP-COKE,0.95,2.49,"0490;28904",\n'
        "ART-5,Soda 3,Beverages,SUP-COKE,0.95,2.49,049000028905,\n"
        "ART-6,Gum,Snacks,SUP-W,0.10,0.50,4006381333931,\n"
    )
    products, rejects = catalogue.to_products(read_csv_text(text))
    values = {p.values["product_id"]: p.values for p in products}
    assert (values["ART-1"]["barcode"], values["ART-1"]["supplier_product_code"]) == ("036000291452", "KC 100/2")
    assert (values["ART-2"]["barcode"], values["ART-2"]["supplier_product_code"]) == ("", "")
    assert values["ART-6"]["barcode"] == "4006381333931"
    assert [(r.line, r.reason) for r in rejects] == [
        (4, "bad_format:barcode"),  # a spreadsheet's 4.9000028904E10
        (5, "bad_format:barcode"),
        (6, "bad_check_digit:barcode"),  # 049000028904 with its last digit mistyped
    ]
    old = _current(values["ART-1"], NOW)
    assert catalogue.change_reason(old, {**values["ART-1"], "barcode": "0036000291452"}) == "attribute_change"


def _current(values, valid_from):
    return {
        **{c: values.get(c, catalogue.DEFAULTS.get(c)) for c in catalogue.TRACKED},
        "valid_from": valid_from,
        "change_reason": "initial",
    }


def test_scd2_plan_opens_closes_and_leaves_unchanged_alone():
    products, _ = catalogue.to_products(read_file(LANDING / "catalogue" / "products.csv"))
    first = catalogue.plan_versions(products, {}, NOW, "b1")
    assert (first.opened, first.closed, first.unchanged, len(first.rows)) == (3, 0, 0, 3)
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    current = {p.values["product_id"]: _current(p.values, start) for p in products}
    assert catalogue.plan_versions(products, current, NOW, "b2").rows == []
    current["SKU0002"]["unit_price"] = Decimal("4.20")
    plan = catalogue.plan_versions(products, current, NOW, "b3")
    closed, opened = (dict(zip(catalogue.DIM_COLUMNS, row, strict=True)) for row in plan.rows)
    assert closed["valid_to"] == NOW and closed["is_current"] is False and closed["unit_price"] == Decimal("4.20")
    assert opened["valid_from"] == NOW and opened["change_reason"] == "price_change"
    assert opened["unit_price"] == Decimal("4.50") and opened["is_current"] is True


def test_scd2_refuses_an_effective_date_before_a_later_version():
    products, _ = catalogue.to_products(read_file(LANDING / "catalogue" / "products.csv"))
    current = {p.values["product_id"]: _current(p.values, NOW) for p in products}
    current["SKU0001"] |= {"category": "Kitchen", "change_reason": "category_change"}  # history to keep
    plan = catalogue.plan_versions(products, current, NOW, "b")
    assert [(r.line, r.reason) for r in plan.rejects] == [(2, "stale_version:effective_from")]


def test_a_corrected_catalogue_dates_a_first_version_back():
    """Loaded first without effective_from (valid from the load), then with the listing date: the first
    version re-opens from the earlier date, with the file's values; nothing is refused."""
    text = "product_id,product_name,category,supplier_id,unit_cost,unit_price,effective_from\n"
    text += "SKU123,Tea,Grocery,SUP001,1.00,2.50,2019-01-01T00:00:00Z\n"
    text += "PROD-ABC123,Coffee,Grocery,SUP001,3.00,6.00,2019-01-01T00:00:00Z\n"
    products, _ = catalogue.to_products(read_csv_text(text))
    loaded = datetime(2026, 12, 1, tzinfo=timezone.utc)
    current = {p.values["product_id"]: _current(p.values, loaded) for p in products}
    current["PROD-ABC123"]["unit_cost"] = Decimal("2.80")  # the corrected file also fixes a cost
    plan = catalogue.plan_versions(products, current, NOW, "b")
    assert plan.rejects == [] and plan.dated_back == 2
    listed = datetime(2019, 1, 1, tzinfo=timezone.utc)
    assert plan.reopened == [("SKU123", listed), ("PROD-ABC123", listed)]
    assert plan.corrected == ["PROD-ABC123"]  # only its facts change
    rows = [dict(zip(catalogue.DIM_COLUMNS, r, strict=True)) for r in plan.rows]
    assert {r["valid_from"] for r in rows} == {datetime(2019, 1, 1, tzinfo=timezone.utc)}
    assert all(r["change_reason"] == "initial" and r["is_current"] for r in rows)


def test_suppliers_fixture():
    read = read_file(LANDING / "suppliers" / "suppliers.jsonl")
    rows, rejects = suppliers.to_suppliers(read)
    assert {r.line: r.reason for r in rejects} == {
        4: "bad_number:lead_time_days",
        5: "malformed_json",
        6: "malformed:not_an_object",
        7: "bad_format:country",
    }
    first, second = (r.values for r in rows)
    assert first["country"] == "DE" and first["on_time_rate"] == 0.92 and first["lead_time_days"] == 7
    assert second["supplier_name"] == "Nordic Oats" and second["min_order_quantity"] == 1000
    upserts, unchanged = suppliers.changed_rows(rows, {"SUP001": dict(first)}, NOW, "b")
    assert unchanged == 1 and [r[0] for r in upserts] == ["SUP002"]


def legacy_db(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.db"
    connection = sqlite3.connect(path)
    connection.executescript((LANDING / "legacy" / "inventory.sql").read_text())
    connection.commit()
    connection.close()
    return path


def test_legacy_tables_convert_with_their_rejects(tmp_path):
    tables = legacy_sqlite.read_tables(legacy_db(tmp_path))
    supplier_rows, bad_suppliers = suppliers.to_suppliers(tables["suppliers"])
    assert [s.values["supplier_id"] for s in supplier_rows] == ["SUP010", "SUP011"]
    assert [(r.line, r.reason) for r in bad_suppliers] == [(3, "missing_field:lead_time_days")]
    products, bad_products = catalogue.to_products(tables["products"])
    assert [p.values["product_id"] for p in products] == ["SKU0101", "SKU0102"]
    assert [(r.line, r.reason) for r in bad_products] == [(3, "bad_format:product_id")]
    stock, bad_stock = legacy_sqlite.stock_events(tables["stock"])
    assert [(e["store_id"], e["product_id"], e["new_quantity"]) for e in stock] == [
        ("store_001", "SKU0101", 40), ("store_001", "SKU0102", 12),
    ]  # fmt: skip
    assert [(r.line, r.reason) for r in bad_stock] == [(2, "out_of_range:new_quantity")]
    sales = sales_history.to_events(tables["sales"], legacy_sqlite.sales_mapping())
    assert [(r.line, r.reason) for r in sales.rejects] == [
        (4, "bad_date:timestamp"),
        (5, "missing_field:payment_method"),
    ]
    assert sales.days == [date(2026, 9, 29), date(2026, 9, 30)]


def test_a_database_without_the_legacy_tables_is_refused(tmp_path):
    import pytest

    from retail_platform.sources.landing import SourceError

    path = tmp_path / "other.db"
    sqlite3.connect(path).executescript("CREATE TABLE t (x INTEGER);")
    with pytest.raises(SourceError, match="lacks the legacy table"):
        legacy_sqlite.read_tables(path)
