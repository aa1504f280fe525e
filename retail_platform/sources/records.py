"""The records of a dimension file (catalogue, suppliers) as parsed rows, one per id, or rejects with
their reasons: a record the reader could not split, a field that does not parse, or an id that
appears earlier in the same file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retail_platform.sources import cleaning
from retail_platform.sources.cleaning import BadValue
from retail_platform.sources.readers import FileFormatError, ReadResult, read_file
from retail_platform.sources.report import FileLoad, Reject


@dataclass(frozen=True)
class ParsedRow:
    line: int
    raw: str
    values: dict[str, Any]


def read_checked(path: Path, spec: Sequence[cleaning.Field], load: FileLoad) -> ReadResult:
    """The file read, refused as a whole when a required column of ``spec`` is missing; ``load`` gets
    the file's line counts."""
    read = read_file(path)
    missing = [name for name, _, required, _ in spec if required and name not in read.columns]
    if missing:
        raise FileFormatError(f"{path.name} has no column(s) {missing}; it has {read.columns}")
    load.rows_read, load.blank_lines, load.header_lines = read.rows_read, read.blank_lines, read.header_lines
    return read


def parse_records(
    read: ReadResult,
    spec: Sequence[cleaning.Field],
    key: str,
    select: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> tuple[list[ParsedRow], list[Reject]]:
    """Each record parsed with ``spec`` (then narrowed by ``select``); the first record of each ``key``."""
    rows: list[ParsedRow] = []
    rejects: list[Reject] = []
    seen: set[Any] = set()
    for record in read.records:
        if record.error:
            rejects.append(Reject(record.line, record.raw, record.error))
            continue
        try:
            values = cleaning.parse_fields(record.values, spec)
        except BadValue as exc:
            rejects.append(Reject(record.line, record.raw, exc.code, exc.detail))
            continue
        if select is not None:
            values = select(values)
        if values[key] in seen:
            rejects.append(Reject(record.line, record.raw, f"duplicate:{key}", "appears earlier in the file"))
            continue
        seen.add(values[key])
        rows.append(ParsedRow(record.line, record.raw, values))
    return rows, rejects
