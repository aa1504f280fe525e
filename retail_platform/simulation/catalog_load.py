"""The catalogue leaves the simulator two ways: files in the lake's landing zone (what a batch source
would deliver) and rows in the warehouse's dimensions plus the initial reorder policy.

Both are idempotent. The landing files are rewritten whole (written aside, then renamed). Warehouse
rows carry deterministic keys and versions: every row's ``updated_at`` (the ReplacingMergeTree
version) and dim_product's ``valid_from`` are the catalogue's ``effective_from``, so loading the same
catalogue twice inserts identical keys that collapse to one row (FINAL), and a newer row written by
another job (an SCD2 price change closing a product version, a policy from the stock-optimisation
DAG, both stamped with the current time) is never undone by reloading the catalogue.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from retail_platform.batch import inferred
from retail_platform.settings import Settings, get_settings
from retail_platform.simulation.catalog import Catalog
from retail_platform.warehouse.client import connect

LANDING_ZONE = ("landing", "catalog")
OPEN_VALID_TO = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)
POLICY_SOURCE = "catalog"


def landing_dir(settings: Settings | None = None) -> Path:
    s = settings or get_settings()
    return s.lake_path.joinpath(*LANDING_ZONE)


def write_landing(catalog: Catalog, settings: Settings | None = None, directory: Path | None = None) -> Path:
    """Write the catalogue as JSON lines (one file per entity) plus ``_manifest.json``; returns the folder."""
    target = directory or landing_dir(settings)
    target.mkdir(parents=True, exist_ok=True)
    records = catalog.records()
    files = {}
    for name, rows in records.items():
        path = target / f"{name}.jsonl"
        tmp = target / f".{name}.jsonl.{os.getpid()}.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, separators=(",", ":")))
                handle.write("\n")
        os.replace(tmp, path)
        files[name] = {"file": path.name, "rows": len(rows)}
    config = catalog.config
    manifest = {
        "fingerprint": catalog.fingerprint,
        "seed": config.seed,
        "stores": config.stores,
        "products": config.products,
        "suppliers": config.supplier_count,
        "lines_per_store_hour": config.lines_per_store_hour,
        "effective_from": config.effective_from.isoformat(),
        "files": files,
    }
    tmp = target / f"._manifest.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, target / "_manifest.json")
    return target


def warehouse_rows(catalog: Catalog) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Table -> (column names, rows) of the catalogue's warehouse load."""
    version = catalog.config.effective_from
    batch = f"catalog-{catalog.fingerprint}"
    stores = (
        ["store_id", "store_name", "store_type", "city", "region", "country", "timezone",
         "storage_capacity_units", "opened_on", "is_active", "updated_at", "batch_id"],
        [[s.store_id, s.store_name, s.store_type, s.city, s.region, s.country, s.timezone,
          s.storage_capacity_units, s.opened_on, True, version, batch] for s in catalog.stores],
    )  # fmt: skip
    suppliers = (
        ["supplier_id", "supplier_name", "country", "lead_time_days", "lead_time_stddev_days",
         "min_order_quantity", "on_time_rate", "is_active", "updated_at", "batch_id"],
        [[s.supplier_id, s.supplier_name, s.country, s.lead_time_days, s.lead_time_stddev_days,
          s.min_order_quantity, s.on_time_rate, True, version, batch] for s in catalog.suppliers],
    )  # fmt: skip
    products = (
        ["product_id", "valid_from", "valid_to", "is_current", "product_name", "category", "sub_category",
         "brand", "supplier_id", "unit_of_measure", "unit_cost", "unit_price", "shelf_life_days", "is_active",
         "change_reason", "updated_at", "batch_id"],
        [[p.product_id, version, OPEN_VALID_TO, True, p.product_name, p.category, p.sub_category, p.brand,
          p.supplier_id, "each", p.unit_cost, p.unit_price, p.shelf_life_days, True, "initial", version, batch]
         for p in catalog.products],
    )  # fmt: skip
    store_ids, product_ids = catalog.store_ids, catalog.product_ids
    rop, qty, safety = (a.tolist() for a in (catalog.reorder_point, catalog.order_quantity, catalog.safety_stock))
    policy = (
        ["store_id", "product_id", "reorder_point", "order_quantity", "safety_stock", "policy_source",
         "updated_at", "batch_id"],
        [[store_ids[s], product_ids[p], rop[s][p], qty[s][p], safety[s][p], POLICY_SOURCE, version, batch]
         for s in range(len(store_ids)) for p in range(len(product_ids))],
    )  # fmt: skip
    return {"dim_store": stores, "dim_supplier": suppliers, "dim_product": products, "rt_reorder_policy": policy}


def load_warehouse(catalog: Catalog, settings: Settings | None = None, client: Client | None = None) -> dict[str, int]:
    """Upsert the dimensions and the reorder policy; returns rows inserted per table."""
    own = client is None
    c = client or connect(settings)
    try:
        # Products the daily load inferred before this catalogue (batch/inferred.py): their real versions
        # replace the inferred rows. An inferred store needs nothing: its real row replaces it (newer
        # updated_at than the inferred row's 1970 stamp).
        if c.database is None:
            raise ValueError("the warehouse client has no database selected")
        filled = inferred.inferred_products(c, c.database, catalog.product_ids)
        counts = {}
        for table, (columns, rows) in warehouse_rows(catalog).items():
            c.insert(table, rows, column_names=columns)
            counts[table] = len(rows)
        inferred.fill_in_products(c, c.database, filled)
        return counts
    finally:
        if own:
            c.close()


def publish_landing(catalog: Catalog, settings: Settings) -> str:
    """The catalogue's landing files in the lake, wherever it is; returns where. On S3 the files are
    written aside, then uploaded with the manifest last (a reader that finds the manifest finds the
    files it names)."""
    if settings.lake_is_local:
        return str(write_landing(catalog, settings))
    from retail_platform import lake_store

    with tempfile.TemporaryDirectory(prefix="retail-catalog-") as tmp:
        folder = write_landing(catalog, settings, Path(tmp))
        names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        for name in sorted(names, key=lambda n: n == "_manifest.json"):
            lake_store.put(settings, lake_store.key(settings, *LANDING_ZONE, name), (folder / name).read_bytes())
    return "/".join([settings.lake_uri, *LANDING_ZONE])


def load_catalog(catalog: Catalog, settings: Settings | None = None) -> dict[str, Any]:
    """Landing files and warehouse rows: what ``--load-catalog`` does before producing."""
    s = settings or get_settings()
    return {"landing": publish_landing(catalog, s), "warehouse": load_warehouse(catalog, s)}
