"""The records of a dimension file (catalogue, suppliers) as parsed rows, one per id, or rejects with
their reasons: a record the reader could not split, a field that does not parse, or an id that
appears earlier in the same file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from retail_platform.sources import cleaning
from retail_platform.sources.cleaning import BadValue
from retail_platform.sources.readers import ReadResult
from retail_platform.sources.report import Reject


@dataclass(frozen=True)
class ParsedRow:
    line: int
    raw: str
    values: dict[str, Any]


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
