"""Inferred dimension members: the rows the daily load writes, what it counts, and the catalogue's
fill-in plan (no warehouse: a recording client stands in)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from retail_platform.batch import inferred
from retail_platform.batch.conform import INFERRED_FROM, INFERRED_PRODUCT, OPEN_VALID_TO, dimensions_from_rows
from retail_platform.sources import catalogue
from retail_platform.sources.readers import read_file

UTC = timezone.utc
NOW = datetime(2026, 11, 1, tzinfo=UTC)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LANDING = Path(__file__).resolve().parents[1] / "fixtures" / "landing"
KNOWN = {"product_id": "SKU0001", "valid_from": T0, "valid_to": OPEN_VALID_TO, "category": "Dairy",
         "supplier_id": "SUP001", "unit_cost": Decimal("1.10")}  # fmt: skip


class Recorder:
    """Records inserts and commands; answers queries with the rows given per SQL fragment."""

    def __init__(self, answers: dict[str, list[tuple]] | None = None) -> None:
        self.inserts: list[tuple[str, list[list], list[str]]] = []
        self.commands: list[tuple[str, dict]] = []
        self.answers = answers or {}

    def insert(self, table, rows, column_names, database=None):
        self.inserts.append((table, rows, column_names))

    def command(self, sql, parameters=None):
        self.commands.append((sql, parameters or {}))

    def query(self, sql, parameters=None):
        rows = next((rows for fragment, rows in self.answers.items() if fragment in sql), [])
        return SimpleNamespace(result_rows=rows)


def test_inferred_rows_carry_the_placeholder_and_the_flag():
    product = dict(zip(inferred.PRODUCT_COLUMNS, inferred.product_row("SKU0042", "daily_etl:x"), strict=True))
    assert product["valid_from"] == INFERRED_FROM and product["valid_to"] == OPEN_VALID_TO and product["is_current"]
    assert (product["category"], product["supplier_id"], product["unit_cost"]) == ("Unknown", "UNKNOWN", Decimal(0))
    assert product["product_name"] == "SKU0042" and product["is_inferred"] is True
    assert product["change_reason"] == "inferred" and product["batch_id"] == "daily_etl:x"
    # The oldest possible row version: any real row of the key replaces it (ReplacingMergeTree).
    assert product["updated_at"] == INFERRED_FROM
    store = dict(zip(inferred.STORE_COLUMNS, inferred.store_row("store_077", "b"), strict=True))
    assert store["store_name"] == "store_077" and store["region"] == "Unknown" and store["is_inferred"] is True
    assert store["updated_at"] == INFERRED_FROM and store["opened_on"] == date(1970, 1, 1)


def test_the_day_creates_only_the_members_it_lacks():
    dims = dimensions_from_rows(["store_001"], [KNOWN])
    sales = pd.DataFrame({"store_id": ["store_001", "store_009", "store_009"],
                          "product_id": ["SKU0001", "SKU0042", "SKU0001"],
                          "quantity": [1, 2, 3], "unit_price": [1.5, 2.0, 1.5]})  # fmt: skip
    inventory = pd.DataFrame({"store_id": ["store_001"], "product_id": ["SKU0043"]})
    client = Recorder()
    made = inferred.create_for_day(client, "retail", dims, (sales, inventory, None), "b1")
    assert (made.stores_created, made.products_created) == (["store_009"], ["SKU0042", "SKU0043"])
    tables = {table: [row[0] for row in rows] for table, rows, _ in client.inserts}
    assert tables == {"dim_store": ["store_009"], "dim_product": ["SKU0042", "SKU0043"]}

    # The dimensions read after the insert hold them as inferred: a re-run creates nothing.
    after = dimensions_from_rows(
        ["store_001", "store_009"],
        [KNOWN, *(dict(zip(inferred.PRODUCT_COLUMNS, inferred.product_row(p, "b1"), strict=True))
                  for p in ("SKU0042", "SKU0043"))],
        inferred_stores=["store_009"],
    )  # fmt: skip
    again = Recorder()
    assert inferred.create_for_day(again, "retail", after, (sales, inventory), "b2").summary()["stores_created"] == []
    assert again.inserts == []
    counted = inferred.attached(sales, after, made)
    assert counted.sale_lines == 2 and counted.revenue == 2 * 2.0 + 3 * 1.5  # store_009's two lines
    assert after.products.at("SKU0042", NOW) == INFERRED_PRODUCT


def test_fill_in_deletes_the_inferred_rows_and_returns_the_days_to_recompute():
    days = [(date(2026, 10, 3),), (date(2026, 10, 5),)]
    client = Recorder({"v_inferred_recompute_days": days})
    assert inferred.fill_in_products(client, "retail", ["SKU0042"]) == [date(2026, 10, 3), date(2026, 10, 5)]
    (sql, params), = client.commands  # fmt: skip
    assert sql.startswith("DELETE FROM retail.dim_product WHERE is_inferred") and params == {"p": ["SKU0042"]}
    nothing = Recorder()
    assert inferred.fill_in_products(nothing, "retail", []) == [] and nothing.commands == []


def test_inferred_products_keeps_those_still_without_a_real_version():
    client = Recorder({"HAVING min(is_inferred) = 1": [("SKU0042",), ("SKU0099",)]})
    assert inferred.inferred_products(client, "retail", ["SKU0001", "SKU0042"]) == ["SKU0042"]


def _current(values, valid_from, **changes):
    return {
        **{c: values.get(c, catalogue.DEFAULTS.get(c)) for c in catalogue.TRACKED},
        "valid_from": valid_from,
        "change_reason": "initial",
        "is_inferred": False,
    } | changes


def test_the_catalogue_fills_in_an_inferred_product_with_its_first_real_version():
    products, _ = catalogue.to_products(read_file(LANDING / "catalogue" / "products.csv"))
    by_id = {p.values["product_id"]: p.values for p in products}
    placeholder = dict(zip(inferred.PRODUCT_COLUMNS, inferred.product_row("SKU0002", "b0"), strict=True))
    current = {
        "SKU0001": _current(by_id["SKU0001"], T0),
        "SKU0002": {**{c: placeholder.get(c, catalogue.DEFAULTS.get(c)) for c in catalogue.TRACKED},
                    "valid_from": INFERRED_FROM, "change_reason": "inferred", "is_inferred": True},
    }  # fmt: skip
    plan = catalogue.plan_versions(products, current, NOW, "b1")
    assert plan.filled == ["SKU0002"]
    rows = [dict(zip(catalogue.DIM_COLUMNS, row, strict=True)) for row in plan.rows]
    assert [(r["product_id"], r["change_reason"]) for r in rows] == [("SKU0002", "initial"), ("SKU0003", "initial")]
    filled = rows[0]
    # The real attributes, none inherited from the placeholder; no closing row for the inferred version
    # (it is deleted, not closed: the first real version covers all time before it).
    assert (filled["category"], filled["unit_cost"], filled["supplier_id"]) == ("Grocery", Decimal("2.10"), "SUP002")
    assert filled["valid_from"] == NOW and filled["valid_to"] == OPEN_VALID_TO and filled["is_current"] is True
    assert (plan.opened, plan.closed, plan.unchanged) == (2, 0, 1)


def test_a_catalogue_row_for_an_inferred_product_with_an_old_effective_date_is_not_stale():
    products, _ = catalogue.to_products(read_file(LANDING / "catalogue" / "products.csv"))
    early = T0 - timedelta(days=30)
    for p in products:
        p.values["effective_from"] = early
    current = {"SKU0003": {**_current({}, INFERRED_FROM), "is_inferred": True, "category": "Unknown"}}
    plan = catalogue.plan_versions(products, current, NOW, "b")
    assert plan.rejects == [] and "SKU0003" in plan.filled
    assert all(row[1] == early for row in plan.rows)


def test_load_products_fills_in_after_inserting_and_records_the_days():
    products, _ = catalogue.to_products(read_file(LANDING / "catalogue" / "products.csv"))
    inferred_row = {**_current({}, INFERRED_FROM), "product_id": "SKU0003", "is_inferred": True}

    class Client(Recorder):
        def query(self, sql, parameters=None):
            if "WHERE is_current" in sql:
                return SimpleNamespace(named_results=lambda: iter([inferred_row]))
            return super().query(sql, parameters)

    client = Client({"v_inferred_recompute_days": [(date(2026, 10, 3),)]})
    plan = catalogue.load_products(client, "retail", products, "b")
    assert [t for t, _, _ in client.inserts] == ["dim_product"] and len(client.commands) == 1
    assert plan.filled == ["SKU0003"] and plan.recompute_days == [date(2026, 10, 3)]
