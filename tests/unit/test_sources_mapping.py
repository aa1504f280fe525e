"""Column mappings: valid ones parse, unusable ones stop with a message naming the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_platform.sources.mapping import MappingError, find_mapping, load_mapping_file, parse_mapping

LANDING = Path(__file__).resolve().parents[1] / "fixtures" / "landing"
BASE = {
    "source": "pos",
    "columns": {"transaction_id": "Receipt", "product_id": "SKU", "quantity": "Qty", "unit_price": "Price",
                "timestamp": "When"},
    "store_id": "store_001",
    "defaults": {"payment_method": "cash"},
}  # fmt: skip


def test_fixture_mapping_parses_with_normalised_columns():
    mapping = find_mapping(LANDING / "sales_history" / "pos_export_2026.csv")
    assert mapping.source == "pos-export-2026"
    assert mapping.columns["transaction_id"] == "receipt_no"
    assert mapping.columns["timestamp"] == "sold_at"
    assert mapping.timestamp_formats == ("%d/%m/%Y %H:%M",)
    assert mapping.timezone == "Europe/Berlin"
    assert mapping.locations == {"Berlin Mitte": "store_001", "Hamburg Hafen": "store_002"}


def test_a_mapping_naming_a_missing_column_says_what_to_fix():
    mapping = parse_mapping(BASE, origin="sales.mapping.json")
    with pytest.raises(MappingError) as error:
        mapping.check_columns(["receipt", "sku", "quantity", "price", "when"], "sales.csv")
    message = str(error.value)
    assert "sales.mapping.json: columns.quantity = 'qty' not found in sales.csv" in message
    assert "'quantity'" in message and "change the mapping" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"source": None}, "source is required"),
        ({"source": " "}, "source must be a non-empty text"),
        ({"colums": {}}, "unknown key(s) ['colums']"),
        ({"columns": {"product_id": "SKU"}}, "columns.transaction_id is required"),
        ({"columns": {**BASE["columns"], "price": "P"}}, "columns.price is not a field"),
        ({"store_id": None}, "give either columns.store"),
        ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not an IANA zone"),
        ({"defaults": {}}, "set columns.payment_method or defaults.payment_method"),
        ({"defaults": {"payment_method": "cash", "quantity": "1"}}, "defaults.quantity cannot have a default"),
        ({"locations": {"Berlin": "store_001"}}, "locations maps values of columns.store"),
        ({"format": "xlsx"}, "format 'xlsx' is not one of csv, json, parquet"),
        ({"delimiter": ";;"}, "delimiter must be one character"),
    ],
)
def test_invalid_mappings_are_refused_with_the_reason(change, expected):
    config = {**BASE, **change}
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(MappingError) as error:
        parse_mapping(config, origin="m.yaml")
    assert expected in str(error.value)
    assert str(error.value).startswith("m.yaml: ")


def test_missing_mapping_tells_where_to_put_one(tmp_path):
    data = tmp_path / "export.csv"
    data.write_text("a\n1\n")
    with pytest.raises(MappingError, match="export.mapping.json"):
        find_mapping(data)


def test_folder_mapping_and_dag_param_override(tmp_path):
    data = tmp_path / "export.csv"
    data.write_text("a\n1\n")
    (tmp_path / "_mapping.json").write_text('{"source": "folder", "columns": {}}')
    with pytest.raises(MappingError, match="_mapping.json: columns.transaction_id is required"):
        find_mapping(data)
    assert find_mapping(data, override=BASE).source == "pos"


def test_unparseable_yaml_names_the_file(tmp_path):
    path = tmp_path / "x.mapping.yaml"
    path.write_text("source: [unclosed\n")
    with pytest.raises(MappingError, match="x.mapping.yaml: cannot be parsed"):
        load_mapping_file(path)
