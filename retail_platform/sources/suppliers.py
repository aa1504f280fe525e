"""Supplier files -> dim_supplier (SCD type 1: a ReplacingMergeTree upsert, sql/0002_dimensions.sql).

Columns (normalised names, extra columns ignored): supplier_id, supplier_name, lead_time_days
(required); country (ISO 3166-1 alpha-2), lead_time_stddev_days, min_order_quantity, on_time_rate
(0..1, a percentage such as "92%" is accepted), is_active (optional).

Only new or changed suppliers are written (compared with dim_supplier FINAL), with updated_at = the
load time, so the newest load wins and loading the same content again writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client

from retail_platform.sources import cleaning
from retail_platform.sources.cleaning import BadValue
from retail_platform.sources.landing import Handler
from retail_platform.sources.readers import ReadResult
from retail_platform.sources.records import ParsedRow, parse_records, read_checked
from retail_platform.sources.report import FileLoad, Reject

ATTRIBUTES = ("supplier_name", "country", "lead_time_days", "lead_time_stddev_days", "min_order_quantity",
              "on_time_rate", "is_active")  # fmt: skip
DIM_COLUMNS = ["supplier_id", *ATTRIBUTES, "updated_at", "batch_id"]


def _country(value: Any) -> str:
    code = cleaning.required_text(value).upper()
    if len(code) != 2 or not code.isalpha():
        raise BadValue("bad_format", f"{value!r} is not an ISO 3166-1 alpha-2 code")
    return code


_N = TypeVar("_N", int, float)


def _bounded(parser: Callable[[Any], _N], low: float, high: float) -> Callable[[Any], _N]:
    def parse(value: Any) -> _N:
        number = parser(value)
        if not low <= number <= high:
            raise BadValue("out_of_range", f"{value!r} is not within {low}..{high}")
        return number

    return parse


def _rate(value: Any) -> float:
    raw = cleaning.text(value) or ""
    if raw.endswith("%"):
        return float(cleaning.decimal(raw[:-1]) / Decimal(100))
    return float(cleaning.decimal(value))


SPEC: tuple[cleaning.Field, ...] = (
    ("supplier_id", lambda v: cleaning.required_text(v).upper(), True, None),
    ("supplier_name", cleaning.required_text, True, None),
    ("lead_time_days", _bounded(cleaning.integer, 0, 65535), True, None),
    ("country", _country, False, ""),
    ("lead_time_stddev_days", _bounded(lambda v: float(cleaning.decimal(v)), 0, 365), False, 0.0),
    ("min_order_quantity", _bounded(cleaning.integer, 0, 2**32 - 1), False, 1),
    ("on_time_rate", _bounded(_rate, 0, 1), False, 1.0),
    ("is_active", cleaning.boolean, False, True),
)


SupplierRow = ParsedRow


def to_suppliers(read: ReadResult) -> tuple[list[SupplierRow], list[Reject]]:
    return parse_records(read, SPEC, "supplier_id")


def current_suppliers(client: Client, database: str) -> dict[str, dict[str, Any]]:
    rows = client.query(f"SELECT supplier_id, {', '.join(ATTRIBUTES)} FROM {database}.dim_supplier FINAL")
    return {r["supplier_id"]: r for r in rows.named_results()}


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    for column in ATTRIBUTES:
        a, b = old.get(column), new[column]
        if isinstance(b, float):
            if a is None or abs(float(a) - b) > 1e-6:  # Float32 in the warehouse
                return False
        elif a != b:
            return False
    return True


def changed_rows(
    suppliers: Sequence[SupplierRow], current: dict[str, dict[str, Any]], now: datetime, batch_id: str
) -> tuple[list[list[Any]], int]:
    """(rows to upsert, unchanged count)."""
    rows, unchanged = [], 0
    for s in suppliers:
        old = current.get(s.values["supplier_id"])
        if old is not None and _same(old, s.values):
            unchanged += 1
            continue
        rows.append([s.values["supplier_id"], *(s.values[c] for c in ATTRIBUTES), now, batch_id])
    return rows, unchanged


def load_suppliers(client: Client, database: str, suppliers: Sequence[SupplierRow], batch_id: str) -> dict[str, int]:
    rows, unchanged = changed_rows(suppliers, current_suppliers(client, database), datetime.now(timezone.utc), batch_id)
    if rows:
        client.insert("dim_supplier", rows, column_names=DIM_COLUMNS, database=database)
    return {"upserted": len(rows), "unchanged": unchanged}


def handle_file(client: Client, database: str) -> Handler:
    """The landing handler of supplier files (``landing.ingest``)."""

    def handle(path: Path, load: FileLoad) -> list[Reject]:
        read = read_checked(path, SPEC, load)
        suppliers, rejects = to_suppliers(read)
        load.details = load_suppliers(client, database, suppliers, f"suppliers-{load.sha256[:16]}")
        load.rows_loaded = len(suppliers)
        return rejects

    return handle
