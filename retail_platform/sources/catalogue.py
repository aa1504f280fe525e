"""Product catalogue files -> dim_product, as SCD type 2 history (sql/0002_dimensions.sql).

Columns (names normalised, extra columns ignored): product_id, product_name, category, supplier_id,
unit_cost, unit_price (required); barcode (GTIN digits with a valid check digit),
supplier_product_code (the key rule): other codes of the product, for history mappings that look
products up by them, empty = none, sub_category, brand, unit_of_measure, shelf_life_days, is_active,
effective_from (optional; the instant the row's values apply, ISO-8601, default: the load time).
The simulator's ``products.jsonl`` has this shape.

Against the current version of each product (dim_product FINAL, is_current):
* a new product opens its first version (change_reason 'initial');
* a product whose tracked attributes changed closes the current version at effective_from (the
  version re-inserted with valid_to set and a later updated_at, which ReplacingMergeTree keeps) and
  opens a new one from there (change_reason 'price_change', 'cost_change', 'category_change' or
  'attribute_change', the first that applies);
* an unchanged product writes nothing, so loading a catalogue twice changes nothing;
* products absent from the file are left as they are (a catalogue file may be partial: discontinue
  a product with is_active = false).
* a product held only as an inferred member (``is_inferred``: the daily load created it for sales or
  stock seen before the catalogue delivered it, ``retail_platform.batch.inferred``) is filled in: it
  opens its first real version as a new product would, and the inferred row is deleted. The first
  version covers all time before its valid_from (the conformance rule), so the days whose facts carry
  the placeholder become correct when recomputed: ``load_products`` returns them (``Scd2Plan.
  recompute_days``, from ``v_inferred_recompute_days``) and the file's load records them as its
  ``affected_days``, which the batch_sources DAG turns into daily_etl runs.
Product ids are kept as written (trimmed; case preserved): ``cleaning.key``.
* a product whose only version is its first (change_reason 'initial') and a file whose effective_from
  is not after that version's start (a corrected catalogue dating the products back, e.g. a catalogue
  first loaded without effective_from, so valid from the load time, then again with the date the
  products were really listed): nothing contradicts the earlier date, so the first version is
  re-opened from it with the file's values (the old row is deleted). When the values changed, the days
  whose facts carry the product are returned to recompute (``Scd2Plan.recompute_days``), as for an
  inferred member filled in. A product with later versions keeps its history (below).
Rejected: a product id that sales events could never carry (the key rule, ``events/identifiers.py``), bad numbers,
a product twice in one file (``duplicate:product_id``) and an effective_from not after the current
version's start (``stale_version:effective_from``: history is not rewritten by a catalogue file).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client

from retail_platform.batch import inferred
from retail_platform.sources import cleaning
from retail_platform.sources.cleaning import BadValue
from retail_platform.sources.landing import Handler
from retail_platform.sources.readers import ReadResult
from retail_platform.sources.records import ParsedRow, parse_records, read_checked
from retail_platform.sources.report import FileLoad, Reject

OPEN_VALID_TO = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)
TRACKED = ("product_name", "barcode", "supplier_product_code", "category", "sub_category", "brand", "supplier_id",
           "unit_of_measure", "unit_cost", "unit_price", "shelf_life_days", "is_active")  # fmt: skip
DIM_COLUMNS = [
    "product_id",
    "valid_from",
    "valid_to",
    "is_current",
    *TRACKED,
    "change_reason",
    "updated_at",
    "batch_id",
]


_N = TypeVar("_N", int, Decimal)


def _non_negative(parser: Callable[[Any], _N]) -> Callable[[Any], _N]:
    def parse(value: Any) -> _N:
        number = parser(value)
        if number < 0:
            raise BadValue("out_of_range", str(value))
        return number

    return parse


SPEC: tuple[cleaning.Field, ...] = (
    ("product_id", cleaning.key, True, None),
    ("product_name", cleaning.required_text, True, None),
    ("category", cleaning.required_text, True, None),
    ("supplier_id", lambda v: cleaning.required_text(v).upper(), True, None),
    ("unit_cost", _non_negative(cleaning.money), True, None),
    ("unit_price", _non_negative(cleaning.money), True, None),
    ("barcode", cleaning.barcode, False, ""),
    ("supplier_product_code", cleaning.optional_key, False, ""),
    ("sub_category", cleaning.text, False, ""),
    ("brand", cleaning.text, False, ""),
    ("unit_of_measure", cleaning.text, False, "each"),
    ("shelf_life_days", _non_negative(cleaning.integer), False, 0),
    ("is_active", cleaning.boolean, False, True),
    ("effective_from", cleaning.timestamp, False, None),
)


REQUIRED = tuple(name for name, _, required, _ in SPEC if required)
DEFAULTS = {name: default for name, _, required, default in SPEC if not required}


# values: the tracked attributes, product_id and effective_from (None: load time).
ProductRow = ParsedRow


def to_products(read: ReadResult) -> tuple[list[ProductRow], list[Reject]]:
    # An optional column the file does not have at all keeps the current version's value (a partial
    # catalogue, e.g. prices only); its default applies to new products only (plan_versions).
    def present(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k in read.columns or k in REQUIRED or k == "effective_from"}

    return parse_records(read, SPEC, "product_id", present)


def current_versions(client: Client, database: str) -> dict[str, dict[str, Any]]:
    # Inferred rows first: a real version of the same product (an inferred row not deleted yet) wins.
    rows = client.query(
        f"SELECT product_id, valid_from, change_reason, is_inferred, {', '.join(TRACKED)} "
        f"FROM {database}.dim_product FINAL WHERE is_current ORDER BY is_inferred DESC"
    ).named_results()
    return {r["product_id"]: r for r in rows}


def change_reason(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why a new version opens, or None when the tracked attributes are equal."""
    changed = [c for c in TRACKED if _norm(old.get(c)) != _norm(new.get(c))]
    if not changed:
        return None
    for column, reason in (
        ("unit_price", "price_change"),
        ("unit_cost", "cost_change"),
        ("category", "category_change"),
    ):
        if column in changed:
            return reason
    return "attribute_change"


def _norm(value: Any) -> Any:
    if isinstance(value, (Decimal, float)):
        return Decimal(str(value)).quantize(Decimal("0.01"))
    if isinstance(value, bool):
        return value
    return value if value is not None else ""


@dataclass
class Scd2Plan:
    rows: list[list[Any]]
    rejects: list[Reject]
    opened: int = 0
    closed: int = 0
    unchanged: int = 0
    dated_back: int = 0  # first versions re-opened from an earlier effective_from
    filled: list[str] = field(default_factory=list)  # inferred members given their first real version
    reopened: list[tuple[str, datetime]] = field(default_factory=list)  # (product, its first version's new start)
    corrected: list[str] = field(default_factory=list)  # re-opened with other values: their facts change
    recompute_days: list[date] = field(default_factory=list)  # days whose facts carry their placeholder


def plan_versions(
    products: Sequence[ProductRow], current: dict[str, dict[str, Any]], now: datetime, batch_id: str, label: str = ""
) -> Scd2Plan:
    """The dim_product rows to insert: closing re-inserts and new versions (see the module docstring)."""
    plan = Scd2Plan([], [])
    for p in products:
        values = p.values
        effective = values.get("effective_from") or now
        old = current.get(values["product_id"])
        if old is not None and old.get("is_inferred"):
            # An inferred member: its placeholder attributes are no version to keep or to inherit from.
            plan.filled.append(values["product_id"])
            old = None
        base = old if old is not None else DEFAULTS
        values = {**values, **{c: base[c] for c in TRACKED if values.get(c) is None}}
        attributes = [values[c] for c in TRACKED]
        if old is None:
            plan.rows.append(
                [values["product_id"], effective, OPEN_VALID_TO, True, *attributes, "initial", now, batch_id]
            )
            plan.opened += 1
            continue
        reason = change_reason(old, values)
        earlier_first = (
            values.get("effective_from") is not None
            and old.get("change_reason") == "initial"
            and effective < cleaning.timestamp(old["valid_from"])
        )
        if reason is None and not earlier_first:
            plan.unchanged += 1
            continue
        old_from = cleaning.timestamp(old["valid_from"])
        if effective <= old_from and old.get("change_reason") == "initial":
            # The first version dated back (module docstring): same key when effective == old_from
            # (the newer updated_at replaces it), else a new row and the old one deleted.
            plan.rows.append(
                [values["product_id"], effective, OPEN_VALID_TO, True, *attributes, "initial", now, batch_id]
            )
            if effective != old_from:
                plan.reopened.append((values["product_id"], effective))
            if reason is not None:
                plan.corrected.append(values["product_id"])
            plan.dated_back += 1
            continue
        if effective <= old_from:
            detail = f"effective_from {effective.isoformat()} is not after the current version's {old_from.isoformat()}"
            plan.rejects.append(Reject(p.line, p.raw, "stale_version:effective_from", detail, label or None))
            continue
        closed = [old[c] for c in TRACKED]
        plan.rows.append([values["product_id"], old_from, effective, False, *closed, old.get("change_reason", ""), now,
                          batch_id])  # fmt: skip
        plan.rows.append([values["product_id"], effective, OPEN_VALID_TO, True, *attributes, reason, now, batch_id])
        plan.closed += 1
        plan.opened += 1
    return plan


def load_products(
    client: Client, database: str, products: Sequence[ProductRow], batch_id: str, label: str = ""
) -> Scd2Plan:
    plan = plan_versions(products, current_versions(client, database), datetime.now(timezone.utc), batch_id, label)
    if plan.rows:
        client.insert("dim_product", plan.rows, column_names=DIM_COLUMNS, database=database)
    # After the real versions are in: readers never see the product without a version.
    plan.recompute_days = inferred.fill_in_products(client, database, plan.filled)
    for product_id, start in plan.reopened:
        # The product had one version: every real row after the new start is that replaced version.
        # (Compared in the engine: a bound DateTime parameter would lose the milliseconds.)
        client.command(
            f"DELETE FROM {database}.dim_product WHERE product_id = %(p)s AND NOT is_inferred "
            "AND valid_from > toDateTime64(%(f)s, 3, 'UTC')",
            parameters={"p": product_id, "f": start.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]},
        )
    changed = [p for p in plan.corrected if p not in plan.filled]
    if changed:
        rows = client.query(
            f"SELECT DISTINCT date_key FROM {database}.fact_sales WHERE product_id IN %(p)s ORDER BY date_key",
            parameters={"p": changed},
        ).result_rows
        plan.recompute_days = sorted(set(plan.recompute_days) | {r[0] for r in rows})
    return plan


def handle_file(client: Client, database: str) -> Handler:
    """The landing handler of catalogue files (``landing.ingest``)."""

    def handle(path: Path, load: FileLoad) -> list[Reject]:
        read = read_checked(path, SPEC, load)
        products, rejects = to_products(read)
        plan = load_products(client, database, products, f"catalogue-{load.sha256[:16]}")
        rejects += plan.rejects
        load.rows_loaded = len(products) - len(plan.rejects)
        load.details = {"versions_opened": plan.opened, "versions_closed": plan.closed, "unchanged": plan.unchanged}
        if plan.dated_back:
            load.details |= {
                "first_versions_dated_back": plan.dated_back,
                "days_to_recompute": len(plan.recompute_days),
            }
        if plan.filled:
            load.details |= {"inferred_filled": len(plan.filled), "days_to_recompute": len(plan.recompute_days)}
        load.affected_days = plan.recompute_days
        return rejects

    return handle
