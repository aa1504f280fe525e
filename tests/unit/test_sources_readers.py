"""Landing readers on dirty files: blank lines and repeated headers counted, broken rows kept with a reason."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retail_platform.sources.readers import FileFormatError, normalize_name, read_csv_text, read_file, read_json_text

LANDING = Path(__file__).resolve().parents[1] / "fixtures" / "landing"


def test_dirty_sales_csv_counts_every_line():
    read = read_file(LANDING / "sales_history" / "pos_export_2026.csv")
    assert read.columns == ["receipt_no", "line", "sku", "qty", "price", "sold_at", "location", "payment"]
    assert read.blank_lines == 2  # line 4 and the whitespace-only line 17
    assert read.header_lines == 2  # line 1 and the repeated header on line 6
    assert [r.line for r in read.records] == [2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18]
    assert 18 == read.rows_read + read.blank_lines + read.header_lines
    broken = [r for r in read.records if r.error]
    assert [(r.line, r.error, r.raw) for r in broken] == [(16, "malformed:field_count", "R-1011,1,SKU0002,1,4.50")]


def test_values_are_trimmed_and_quoted_separators_kept():
    read = read_file(LANDING / "sales_history" / "pos_export_2026.csv")
    by_line = {r.line: r.values for r in read.records}
    assert by_line[2]["price"] == "1,299.00"
    assert by_line[3]["sku"] == "SKU0002"  # " SKU0002 " trimmed
    assert by_line[9]["sku"] is None  # empty field


def test_quoted_field_spanning_lines_keeps_physical_numbering():
    read = read_csv_text('a,b\n1,"two\nlines"\n\n3,x\n')
    assert [(r.line, r.values["b"]) for r in read.records] == [(2, "two\nlines"), (5, "x")]
    assert read.blank_lines == 1


def test_semicolon_delimiter_is_sniffed_from_the_header():
    read = read_csv_text("SKU;Qty\nSKU0001;3\n")
    assert read.records[0].values == {"sku": "SKU0001", "qty": "3"}


def test_header_with_repeated_names_fails_the_file():
    with pytest.raises(FileFormatError, match="repeated column names"):
        read_csv_text("a,A\n1,2\n")


def test_jsonl_keeps_bad_lines_with_their_reason():
    read = read_file(LANDING / "suppliers" / "suppliers.jsonl")
    assert read.blank_lines == 1
    assert [(r.line, r.error) for r in read.records] == [
        (1, None), (3, None), (4, None), (5, "malformed_json"), (6, "malformed:not_an_object"), (7, None),
    ]  # fmt: skip


def test_json_array_numbers_elements():
    read = read_json_text('[{"Supplier ID": "SUP001"}, 3]')
    assert read.columns == ["supplier_id"]
    assert [(r.line, r.error) for r in read.records] == [(1, None), (2, "malformed:not_an_object")]


def test_broken_json_array_fails_the_file():
    with pytest.raises(FileFormatError, match="JSON array"):
        read_json_text('[{"a": 1},')


def test_parquet_rows_are_records(tmp_path):
    path = tmp_path / "sales.parquet"
    pq.write_table(pa.table({"SKU": ["SKU0001", " "], "Qty": [2, None]}), path)
    read = read_file(path)
    assert read.columns == ["sku", "qty"]
    assert [r.values for r in read.records] == [{"sku": "SKU0001", "qty": 2}, {"sku": None, "qty": None}]


def test_unknown_extension_names_the_formats(tmp_path):
    path = tmp_path / "sales.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(FileFormatError, match="xlsx"):
        read_file(path)


def test_normalize_name():
    assert normalize_name(" Unit-Price (EUR) ") == "unit_price_eur"
