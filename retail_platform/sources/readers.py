"""Landing files -> records, tolerant of the dirt real exports carry.

One reader per format, one result shape (``ReadResult``): the file's columns and one ``Record`` per
data row, numbered as a person would find it in the file (physical line of CSV and JSON lines, element
of a JSON array, row of a Parquet file, all from 1). Nothing is dropped silently:

* blank lines, lines of delimiters only (",,,,", which spreadsheets export for empty rows) and
  repeated header rows (exports concatenated from several pages) are skipped and
  counted (``blank_lines``, ``header_lines``);
* a row that cannot be split into the header's fields, or a JSON line that does not parse, becomes a
  Record with ``error`` set (its reason) and no values, so the caller quarantines it with the line;
* values are kept as text (CSV) or as JSON/Parquet typed them; cleaning.py turns them into numbers and
  times, where a bad value is the row's problem, not the file's.

Column names are normalised (``normalize_name``: trimmed, lower case, runs of non-alphanumerics to one
underscore) so "Unit Price ", "unit_price" and "UNIT-PRICE" are the same column; mappings are
normalised the same way.

A file that cannot be read at all (unknown format, not UTF-8, a JSON document that is not an array of
objects, a CSV without a header) raises ``FileFormatError``: the whole file fails with that message.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json",
           ".parquet": "parquet"}  # fmt: skip
DELIMITERS = (",", ";", "\t", "|")


class FileFormatError(ValueError):
    """The file as a whole cannot be read; the message says why."""


@dataclass(frozen=True)
class Record:
    line: int  # 1-based position in the file (see module docstring)
    raw: str  # the line as read; JSON of the record for JSON arrays and Parquet
    values: dict[str, Any] = field(default_factory=dict)  # normalised column -> value (None when empty)
    error: str | None = None  # why the row could not be split into fields, e.g. malformed:field_count


@dataclass
class ReadResult:
    columns: list[str]
    records: list[Record]
    blank_lines: int = 0
    header_lines: int = 0

    @property
    def rows_read(self) -> int:
        return len(self.records)


def normalize_name(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def file_format(path: Path, declared: str | None = None) -> str:
    if declared:
        if declared not in set(FORMATS.values()):
            raise FileFormatError(f"format '{declared}' is not one of csv, json, parquet")
        return declared
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise FileFormatError(
            f"{path.name}: cannot tell the format from the extension '{path.suffix}' "
            f"(expected one of {', '.join(sorted(FORMATS))})"
        ) from None


def read_file(path: Path, fmt: str | None = None, delimiter: str | None = None) -> ReadResult:
    kind = file_format(path, fmt)
    if kind == "parquet":
        return read_parquet(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # -sig: Excel's byte-order mark is not part of a name
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return read_csv_text(text, delimiter) if kind == "csv" else read_json_text(text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def sniff_delimiter(header_line: str) -> str:
    """The candidate delimiter occurring most often in the header line (comma on a tie or none)."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def read_csv_text(text: str, delimiter: str | None = None) -> ReadResult:
    lines = text.splitlines(keepends=True)
    blank = 0
    start = 0
    while start < len(lines) and not lines[start].strip():
        blank += 1
        start += 1
    if start == len(lines):
        return ReadResult([], [], blank_lines=blank)
    delim = delimiter or sniff_delimiter(lines[start])
    reader = csv.reader(iter(lines[start:]), delimiter=delim, skipinitialspace=True)
    header_raw = next(reader)
    columns = [normalize_name(c) for c in header_raw]
    if any(not c for c in columns) or len(set(columns)) != len(columns):
        raise FileFormatError(f"header on line {start + 1} has empty or repeated column names: {header_raw}")
    records: list[Record] = []
    headers = 1
    consumed = start + reader.line_num  # physical lines consumed so far (quoted fields may span lines)
    for row in reader:
        first, consumed = consumed + 1, start + reader.line_num
        raw = "".join(lines[first - 1 : consumed]).rstrip("\r\n")
        if not raw.strip() or not any(v.strip() for v in row):  # a blank line, or delimiters only (",,,,")
            blank += 1
            continue
        if [normalize_name(v) for v in row] == columns:
            headers += 1
            continue
        if len(row) != len(columns):
            records.append(Record(first, raw, error="malformed:field_count"))
            continue
        records.append(Record(first, raw, {c: _clean(v) for c, v in zip(columns, row, strict=True)}))
    return ReadResult(columns, records, blank_lines=blank, header_lines=headers)


def _object_record(line: int, raw: str, value: Any, columns: dict[str, None]) -> Record:
    if not isinstance(value, dict):
        return Record(line, raw, error="malformed:not_an_object")
    values = {normalize_name(str(k)): _clean(v) for k, v in value.items()}
    columns.update(dict.fromkeys(values))
    return Record(line, raw, values)


def read_json_text(text: str) -> ReadResult:
    """A JSON array of objects (one record per element), or JSON lines (one object per line)."""
    columns: dict[str, None] = {}
    if text.lstrip().startswith("["):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"not a valid JSON array: {exc.msg} (line {exc.lineno})") from None
        records = [
            _object_record(i, json.dumps(v, ensure_ascii=False), v, columns) for i, v in enumerate(document, start=1)
        ]
        return ReadResult(list(columns), records)
    records = []
    blank = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            blank += 1
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            records.append(Record(number, line, error="malformed_json"))
            continue
        records.append(_object_record(number, line, value, columns))
    return ReadResult(list(columns), records, blank_lines=blank)


def read_parquet(path: Path) -> ReadResult:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise FileFormatError(f"{path.name}: not a readable Parquet file ({exc})") from None
    return read_rows(table.column_names, table.to_pylist())


def read_rows(names: Iterable[str], rows: Iterable[dict[str, Any]]) -> ReadResult:
    """Already structured rows (Parquet, SQLite) as records; raw is the row's JSON."""
    columns = [normalize_name(n) for n in names]
    records = []
    for number, row in enumerate(rows, start=1):
        raw = json.dumps(row, default=str, ensure_ascii=False)
        records.append(Record(number, raw, {normalize_name(k): _clean(v) for k, v in row.items()}))
    return ReadResult(columns, records)
