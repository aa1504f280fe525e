"""Inferred dimension members: created by the daily load, listed for the catalogue owner, filled in by
the catalogue (sql/0017_inferred_members.sql).

A sale or stock movement that passed its contract is counted by the stream whatever the dimensions
hold; the daily load counts it too. Conformance attaches an unknown product to ``INFERRED_PRODUCT``
(``conform.dimension_verdict``); before building the day's facts, the load writes the rows of the
members its silver rows need (``create_for_day``): one dim_store / dim_product row per unknown natural
key, ``is_inferred = 1``, with placeholder attributes, the product's version valid from the beginning
of time. The rows are deterministic (their updated_at is that same instant), so a re-run of the day
writes identical keys that collapse to one row, and any real row of the key replaces them.

When the catalogue delivers a product held only as an inferred member, ``fill_in_products`` deletes
the inferred row (the catalogue's first version, which covers all time before it, takes over) and
returns the days whose facts still carry the placeholder: the days to recompute
(``v_inferred_recompute_days``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from retail_platform.batch.conform import INFERRED_CATEGORY, INFERRED_FROM, INFERRED_PRODUCT, Dimensions

log = logging.getLogger(__name__)

STORE_COLUMNS = ["store_id", "store_name", "store_type", "city", "region", "country", "opened_on", "is_active",
                 "updated_at", "batch_id", "is_inferred"]  # fmt: skip
PRODUCT_COLUMNS = ["product_id", "valid_from", "valid_to", "is_current", "product_name", "category", "supplier_id",
                   "unit_cost", "unit_price", "is_active", "change_reason", "updated_at", "batch_id",
                   "is_inferred"]  # fmt: skip
INFERRED_REASON = "inferred"  # dim_product.change_reason of an inferred version


def store_row(store_id: str, batch_id: str) -> list[Any]:
    """dim_store row of an inferred store (STORE_COLUMNS)."""
    u = INFERRED_CATEGORY
    return [store_id, store_id, u, u, u, "", INFERRED_FROM.date(), True, INFERRED_FROM, batch_id, True]


def product_row(product_id: str, batch_id: str) -> list[Any]:
    """dim_product row of an inferred product (PRODUCT_COLUMNS): ``INFERRED_PRODUCT``'s attributes."""
    v = INFERRED_PRODUCT
    return [product_id, v.valid_from, v.valid_to, True, product_id, v.category, v.supplier_id, v.unit_cost,
            v.unit_cost, True, INFERRED_REASON, INFERRED_FROM, batch_id, True]  # fmt: skip


@dataclass
class Inferred:
    """What a day's load did with inferred members (its summary's ``inferred_members``)."""

    stores_created: list[str] = field(default_factory=list)
    products_created: list[str] = field(default_factory=list)
    sale_lines: int = 0  # the day's sale lines attached to an inferred store or product
    revenue: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "stores_created": self.stores_created,
            "products_created": self.products_created,
            "sale_lines": self.sale_lines,
            "revenue": round(self.revenue, 2),
        }


def _keys(frames: Iterable[pd.DataFrame | None], column: str) -> set[str]:
    keys: set[str] = set()
    for frame in frames:
        if frame is not None and len(frame):
            keys.update(str(k) for k in frame[column].dropna().unique())
    return keys


def create_members(
    client: Client, database: str, stores: Sequence[str], products: Sequence[str], batch_id: str
) -> None:
    if stores:
        rows = [store_row(s, batch_id) for s in stores]
        client.insert("dim_store", rows, column_names=STORE_COLUMNS, database=database)
    if products:
        rows = [product_row(p, batch_id) for p in products]
        client.insert("dim_product", rows, column_names=PRODUCT_COLUMNS, database=database)


def create_for_day(
    client: Client, database: str, dims: Dimensions, frames: Sequence[pd.DataFrame | None], batch_id: str
) -> Inferred:
    """Write the inferred members the day's silver rows (``frames``: sales, inventory) need: every
    store and product key they carry that ``dims`` (read just before) does not hold."""
    stores, products = dims.unknown(_keys(frames, "store_id"), _keys(frames, "product_id"))
    create_members(client, database, stores, products, batch_id)
    if stores or products:
        log.warning("inferred members created (not in the dimensions yet): stores %s, products %s", stores, products)
    return Inferred(stores, products)


def attached(sales: pd.DataFrame | None, dims: Dimensions, result: Inferred) -> Inferred:
    """Count the day's sale lines attached to an inferred store or product (``dims`` read after the
    members were created) into ``result``."""
    if sales is None or not len(sales):
        return result
    inferred = sales["store_id"].isin(list(dims.inferred_stores)) | sales["product_id"].isin(
        list(dims.products.inferred)
    )
    result.sale_lines = int(inferred.sum())
    if result.sale_lines:
        rows = sales[inferred.to_numpy()]
        result.revenue = float((rows["quantity"].astype(float) * rows["unit_price"].astype(float)).sum())
    return result


def inferred_products(client: Client, database: str, product_ids: Iterable[str]) -> list[str]:
    """Which of these products dim_product holds only as inferred members (sorted)."""
    rows = client.query(
        f"SELECT product_id FROM {database}.dim_product FINAL WHERE product_id IN "
        f"(SELECT product_id FROM {database}.dim_product FINAL WHERE is_inferred) "
        f"GROUP BY product_id HAVING min(is_inferred) = 1"
    ).result_rows
    return sorted({r[0] for r in rows} & set(product_ids))


def fill_in_products(client: Client, database: str, product_ids: Sequence[str]) -> list[date]:
    """After real versions of these products were written: delete their inferred rows and return the
    days to recompute (days whose facts carry the placeholder for any of them)."""
    if not product_ids:
        return []
    # A lightweight delete (a row mask, applied at once): dim_product is small, and the rows masked are
    # one per product. Until it lands, readers ignore an inferred row beside a real version anyway.
    client.command(
        f"DELETE FROM {database}.dim_product WHERE is_inferred AND product_id IN %(p)s",
        parameters={"p": list(product_ids)},
    )
    days = recompute_days(client, database, product_ids)
    log.warning("inferred products filled in: %s; days to recompute: %s", list(product_ids), days)
    return days


def recompute_days(client: Client, database: str, product_ids: Sequence[str] | None = None) -> list[date]:
    """Days whose facts carry the placeholder attributes of a product that has a real version now
    (of these products, or of any): the days daily_etl must recompute."""
    where = "WHERE product_id IN %(p)s" if product_ids is not None else ""
    rows = client.query(
        f"SELECT DISTINCT day FROM {database}.v_inferred_recompute_days {where} ORDER BY day",
        parameters={"p": list(product_ids or [])},
    ).result_rows
    return [r[0] for r in rows]
