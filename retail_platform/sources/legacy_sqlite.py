"""The one-time import of the legacy SQLite inventory database (seed 003's local-to-platform migration).

The legacy application keeps five tables (``tests/fixtures/landing/legacy/inventory.sql`` is a
complete example)::

    vendors(vendor_id, vendor_code, name, country, lead_time_days)
    items(item_id, sku, name, category, vendor_id, cost, price)
    locations(location_id, store_code, name)
    stock_levels(item_id, location_id, quantity, counted_at)
    sales(sale_id, receipt_no, item_id, location_id, qty, unit_price, sold_at, payment)

and they go where the platform keeps each thing, through the same code as the landing files:

* vendors -> dim_supplier (vendor_code is the supplier_id)            suppliers.py
* items (with their vendor's code) -> dim_product, SCD2                catalogue.py
* stock_levels -> bronze inventory as ``inventory_update`` events, reason ``adjustment``: an opening
  count (new_quantity = the counted quantity, quantity_change = the same, from a level the platform
  did not know), so daily_etl's end-of-day stock of that day starts from it;
* sales -> bronze sales as ``sales_transaction`` events (receipt_no is the transaction, sale_id the
  line), exactly as a historical sales file with a fixed mapping (sales_history.py).

The legacy application compares SKUs without regard to case (its items hold ``sku0102`` beside
sales of ``SKU0102``), so its SKUs are upper-cased in the queries below: the one source whose keys are
normalised; every other source's keys are kept as written (``events/identifiers.py``).

Times in the database have no offset; they are read in ``timezone`` (UTC unless told). Rows that fail
are quarantined with their table in the label (``inventory.db#sales``) and the row's position in the
table (by primary key). The database is a landing file like any other: its content hash is recorded,
so the import happens once, and a second run reports it as skipped.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from retail_platform.events.contracts import validate
from retail_platform.settings import Settings
from retail_platform.sources import catalogue, cleaning, sales_history, suppliers
from retail_platform.sources.cleaning import BadValue
from retail_platform.sources.landing import Handler, SourceError
from retail_platform.sources.mapping import SalesMapping
from retail_platform.sources.readers import ReadResult, read_rows
from retail_platform.sources.report import FileLoad, Reject

SOURCE = "legacy-sqlite"
TABLES = ("vendors", "items", "locations", "stock_levels", "sales")
STOCK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "retail-platform:batch-sources:legacy-stock")

QUERIES = {
    "suppliers": """
        SELECT vendor_code AS supplier_id, name AS supplier_name, country, lead_time_days
        FROM vendors ORDER BY vendor_id""",
    "products": """
        SELECT upper(i.sku) AS product_id, i.name AS product_name, i.category, v.vendor_code AS supplier_id,
               i.cost AS unit_cost, i.price AS unit_price
        FROM items i LEFT JOIN vendors v ON v.vendor_id = i.vendor_id ORDER BY i.item_id""",
    "stock": """
        SELECT upper(i.sku) AS product_id, l.store_code AS store_id, s.quantity, s.counted_at
        FROM stock_levels s LEFT JOIN items i ON i.item_id = s.item_id
        LEFT JOIN locations l ON l.location_id = s.location_id ORDER BY s.item_id, s.location_id""",
    "sales": """
        SELECT s.sale_id, s.receipt_no, upper(i.sku) AS sku, s.qty, s.unit_price, s.sold_at, l.store_code, s.payment
        FROM sales s LEFT JOIN items i ON i.item_id = s.item_id
        LEFT JOIN locations l ON l.location_id = s.location_id ORDER BY s.sale_id""",
}
# Which legacy table each query's rows come from (the reject label).
QUERY_TABLE = {"suppliers": "vendors", "products": "items", "stock": "stock_levels", "sales": "sales"}


def sales_mapping(zone: str = "UTC") -> SalesMapping:
    return SalesMapping(
        source=SOURCE,
        columns={
            "transaction_id": "receipt_no", "line": "sale_id", "product_id": "sku", "quantity": "qty",
            "unit_price": "unit_price", "timestamp": "sold_at", "store": "store_code", "payment_method": "payment",
        },
        timezone=zone,
        origin="legacy sales mapping",
    )  # fmt: skip


def read_tables(path: Path) -> dict[str, ReadResult]:
    """The rows of each query, read-only (the legacy file is evidence and stays as it was)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            names = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"{path.name} is not a SQLite database ({exc})") from None
        missing = [t for t in TABLES if t not in names]
        if missing:
            raise SourceError(f"{path.name} lacks the legacy table(s) {missing}; it has {sorted(names)}")
        results = {}
        for name, query in QUERIES.items():
            cursor = connection.execute(query)
            columns = [d[0] for d in cursor.description]
            results[name] = read_rows(columns, [dict(zip(columns, row, strict=True)) for row in cursor])
        return results
    finally:
        connection.close()


def stock_events(read: ReadResult, zone: str = "UTC") -> tuple[list[dict[str, Any]], list[Reject]]:
    events, rejects = [], []
    for record in read.records:
        try:
            values = cleaning.parse_fields(
                record.values,
                (
                    ("product_id", lambda v: cleaning.required_text(v).upper(), True, None),
                    ("store_id", cleaning.required_text, True, None),
                    ("quantity", cleaning.integer, True, None),
                    ("counted_at", lambda v: cleaning.timestamp(v, (), zone), True, None),
                ),
            )
        except BadValue as exc:
            rejects.append(Reject(record.line, record.raw, exc.code, exc.detail))
            continue
        when = values["counted_at"]
        key = f"{SOURCE}\x1f{values['store_id']}\x1f{values['product_id']}\x1f{when.isoformat()}"
        event = {
            "event_id": str(uuid.uuid5(STOCK_NAMESPACE, key)),
            "event_type": "inventory_update",
            "schema_version": 1,
            "event_time": when,
            "store_id": values["store_id"],
            "product_id": values["product_id"],
            "quantity_change": values["quantity"],
            "new_quantity": values["quantity"],
            "reason": "adjustment",
            "reference_id": None,
        }
        wire = {k: v for k, v in event.items() if v is not None}
        wire["event_time"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        reason = validate(wire, "inventory_update")
        if reason:
            rejects.append(Reject(record.line, record.raw, reason))
            continue
        events.append(event)
    return events, rejects


def _label(rejects: Sequence[Reject], file: str, query: str) -> list[Reject]:
    label = f"{file}#{QUERY_TABLE[query]}"
    return [Reject(r.line, r.raw, r.reason, r.detail, label) for r in rejects]


def handle_file(client: Client, database: str, settings: Settings, spark: Any, zone: str = "UTC") -> Handler:
    """The landing handler of legacy databases (``landing.ingest``)."""
    from retail_platform.sources.bronze_write import merge_events

    def handle(path: Path, load: FileLoad) -> list[Reject]:
        if path.suffix.lower() not in (".db", ".sqlite", ".sqlite3"):
            raise SourceError(f"{path.name}: legacy databases are SQLite files named *.db, *.sqlite or *.sqlite3")
        tables = read_tables(path)
        batch = f"legacy-{load.sha256[:16]}"
        rejects: list[Reject] = []
        loaded: dict[str, int] = {}

        supplier_rows, bad = suppliers.to_suppliers(tables["suppliers"])
        rejects += _label(bad, load.file, "suppliers")
        suppliers.load_suppliers(client, database, supplier_rows, batch)
        loaded["suppliers"] = len(supplier_rows)

        product_rows, bad = catalogue.to_products(tables["products"])
        label = f"{load.file}#items"
        plan = catalogue.load_products(client, database, product_rows, batch, label)
        rejects += _label(bad, load.file, "products") + plan.rejects
        loaded["products"] = len(product_rows) - len(plan.rejects)

        stock, bad = stock_events(tables["stock"], zone)
        rejects += _label(bad, load.file, "stock")
        loaded["stock_levels"] = len(stock)

        converted = sales_history.to_events(tables["sales"], sales_mapping(zone))
        rejects += _label(converted.rejects, load.file, "sales")
        loaded["sales"] = len(converted.events)

        now = datetime.now(timezone.utc)
        topic, batch_id = f"landing:{SOURCE}", sales_history.file_batch_id(load.sha256)
        written = {}
        for event_type, events in (("inventory_update", stock), ("sales_transaction", converted.events)):
            table: pa.Table = sales_history.bronze_table(events, topic, batch_id, now, event_type)
            written[event_type] = merge_events(spark, settings, event_type, table)

        load.rows_read = sum(t.rows_read for t in tables.values())
        load.rows_loaded = sum(loaded.values())
        load.details = {f"{k}_loaded": v for k, v in loaded.items()} | {
            "bronze_sales_inserted": written["sales_transaction"]["inserted"],
            "bronze_inventory_inserted": written["inventory_update"]["inserted"],
        }
        load.affected_days = sorted({e["event_time"].date() for e in [*stock, *converted.events]})
        return rejects

    return handle
