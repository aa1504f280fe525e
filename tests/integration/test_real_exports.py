"""Real retailers' exports from the landing zone to the facts, against a real warehouse endpoint and an
in-process Spark session (a database and a lake of this module's own).

* The online store's order log (2019 shape: product names, US dates, multi-line orders) after its
  catalogue: the facts' revenue per store and day equals pandas over the raw file, exactly.
* The European till export (EAN keys) *before* its catalogue: every sale is loaded against inferred
  products; the catalogue then fills them in, its load names the days to recompute, and the recompute
  gives the same revenue with the catalogue's categories and costs: the facts a catalogue-first load
  gives.
* The multi-store POS export (UPC keys) after a catalogue loaded without effective_from (valid from the
  load time): the facts conform; a corrected catalogue dated back to the listing date with a corrected
  cost is not refused as stale, dates the first versions back, and the recompute carries the new cost.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import yaml

from retail_platform.batch import close, daily
from retail_platform.sources import landing, runs
from tests.integration.databases import scratch_database
from tests.unit.test_sources_real_exports import (
    CHAIN,
    EU,
    ORDERS,
    local_to_utc,
    orders_by_pandas,
    pandas_revenue,
)

pytestmark = [pytest.mark.integration, pytest.mark.warehouse, pytest.mark.spark]


@pytest.fixture(scope="module")
def warehouse(warehouse, tmp_path_factory):
    lake = tmp_path_factory.mktemp("exports-lake")
    with scratch_database(warehouse, "retail_exports") as settings:
        yield dataclasses.replace(settings, lake_uri=f"file://{lake}")


@pytest.fixture(scope="module")
def client(warehouse):
    from retail_platform.warehouse.client import connect

    c = connect(warehouse)
    yield c
    c.close()


def drop(settings, kind: str, source: Path, name: str | None = None) -> None:
    folder = landing.landing_dir(settings, kind)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, folder / (name or source.name))
    mapping = source.with_name(f"{source.stem}.mapping.yaml")
    if kind == "sales_history" and mapping.is_file():
        shutil.copy(mapping, folder / mapping.name)


def ingest(client, settings, spark, run_id: str):
    loads = runs.ingest_dimensions(client, settings, run_id) + runs.ingest_bronze(client, settings, spark, run_id)
    failed = [(f.file, f.message) for f in loads if f.status == "failed"]
    assert failed == []
    return {f.file: f for f in loads}


def load_days(spark, settings, days: Iterable[date]) -> None:
    for first, last in close.spans(days):
        result = daily.run_days(spark, settings, first, last, "exports-it")
        assert not result.failed, result.failed


def fact_revenue(client, days: Iterable[date]) -> dict[tuple[str, str], Decimal]:
    rows = client.query(
        "SELECT store_id, toString(date_key), sum(revenue) FROM fact_sales FINAL WHERE date_key IN %(d)s "
        "GROUP BY store_id, date_key",
        parameters={"d": sorted(set(days))},
    ).result_rows
    return {(s, d): Decimal(r) for s, d, r in rows}


def test_order_log_after_its_catalogue_gives_the_raw_files_revenue(warehouse, spark, client):
    drop(warehouse, "catalogue", ORDERS.with_name("catalogue.csv"), "online_catalogue.csv")
    drop(warehouse, "sales_history", ORDERS)
    loads = ingest(client, warehouse, spark, "orders-1")
    orders = loads[ORDERS.name]
    assert orders.rows_read == orders.rows_loaded + orders.rows_quarantined
    expected = pandas_revenue(orders_by_pandas())
    load_days(spark, warehouse, orders.affected_days)
    assert fact_revenue(client, orders.affected_days) == expected
    by_day: dict[str, int] = {}
    for (_, day), revenue in expected.items():
        by_day[day] = by_day.get(day, 0) + int(revenue * 100)
    reported = {k.split(":", 1)[1]: v for k, v in orders.details.items() if k.startswith("revenue_cents:")}
    assert reported == by_day
    unknown = client.query(
        "SELECT count() FROM fact_sales FINAL WHERE date_key IN %(d)s AND category = 'Unknown'",
        parameters={"d": orders.affected_days},
    ).result_rows
    assert unknown == [(0,)]  # every product was found by its name


def _eu_expected() -> dict[tuple[str, str], Decimal]:
    raw = pd.read_csv(EU, sep=";", dtype=str)
    ok = raw["Einzelpreis"].str.fullmatch(r"\d{1,3}(\.\d{3})*(,\d+)?|\d+(,\d+)?")
    local = pd.to_datetime(raw["Datum"], format="%d.%m.%Y %H:%M:%S", errors="coerce")
    raw, local = raw[ok & local.notna()], local[ok & local.notna()]
    return pandas_revenue(
        pd.DataFrame(
            {
                "store": raw["Filiale"].str.extract(r"^Filiale ([0-9]{3})$")[0],
                "utc": local_to_utc(local, "Europe/Berlin"),
                "qty": raw["Menge"],
                "price": raw["Einzelpreis"].str.replace(".", "").str.replace(",", "."),
            }
        )  # fmt: skip
    )


def test_history_first_then_the_catalogue_gives_the_same_facts(warehouse, spark, client):
    drop(warehouse, "sales_history", EU)
    sales = ingest(client, warehouse, spark, "eu-1")[EU.name]
    days = sales.affected_days
    load_days(spark, warehouse, days)
    expected = _eu_expected()
    assert fact_revenue(client, days) == expected  # every sale loaded, against inferred products
    inferred = client.query(
        "SELECT DISTINCT category FROM fact_sales FINAL WHERE date_key IN %(d)s", parameters={"d": days}
    ).result_rows
    assert inferred == [("Unknown",)]

    drop(warehouse, "catalogue", EU.with_name("catalogue.csv"), "eu_catalogue.csv")
    catalogue = ingest(client, warehouse, spark, "eu-2")["eu_catalogue.csv"]
    assert catalogue.rows_quarantined == 0
    assert sorted(catalogue.affected_days) == sorted(days)
    load_days(spark, warehouse, catalogue.affected_days)
    assert fact_revenue(client, days) == expected
    facts = client.query(
        "SELECT product_id, category, unit_cost FROM fact_sales FINAL WHERE date_key IN %(d)s GROUP BY ALL",
        parameters={"d": days},
    ).result_rows
    listed = pd.read_csv(EU.with_name("catalogue.csv"), dtype=str).set_index("product_id")
    assert {(p, c, Decimal(u)) for p, c, u in facts} == {
        (p, listed.loc[p, "category"], Decimal(listed.loc[p, "unit_cost"])) for p, _, _ in facts
    }


def test_a_catalogue_dated_back_is_not_refused_and_its_correction_reaches_the_facts(warehouse, spark, client):
    listing = CHAIN.with_name("catalogue.csv").read_text().splitlines()
    undated = [",".join(line.split(",")[:-1]) for line in listing]  # without effective_from: valid from now
    folder = landing.landing_dir(warehouse, "catalogue")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "chain_catalogue.csv").write_text("\n".join(undated) + "\n")
    drop(warehouse, "sales_history", CHAIN)
    sales = ingest(client, warehouse, spark, "chain-1")[CHAIN.name]
    load_days(spark, warehouse, sales.affected_days)
    cost = "SELECT DISTINCT unit_cost FROM fact_sales FINAL WHERE product_id = '036000291452' AND date_key IN %(d)s"
    assert client.query(cost, parameters={"d": sales.affected_days}).result_rows == [(Decimal("0.90"),)]

    corrected = CHAIN.with_name("catalogue.csv").read_text().replace("SUP-KC,0.90,", "SUP-KC,0.95,")
    (folder / "chain_catalogue_dated.csv").write_text(corrected)
    dated = ingest(client, warehouse, spark, "chain-2")["chain_catalogue_dated.csv"]
    assert dated.rows_quarantined == 0  # no stale_version
    assert dated.details["first_versions_dated_back"] == 3
    versions = client.query(
        "SELECT product_id, count(), min(toDate(valid_from)) FROM dim_product FINAL "
        "WHERE product_id IN ('036000291452', '012000161155', '049000028904') GROUP BY product_id ORDER BY 1"
    ).result_rows
    assert versions == [(p, 1, date(2025, 1, 1)) for p in ("012000161155", "036000291452", "049000028904")]
    tissue_days = client.query(
        "SELECT DISTINCT date_key FROM fact_sales FINAL WHERE product_id = '036000291452' ORDER BY 1"
    ).result_rows
    assert sorted(dated.affected_days) == [d for (d,) in tissue_days]
    load_days(spark, warehouse, dated.affected_days)
    assert client.query(cost, parameters={"d": sales.affected_days}).result_rows == [(Decimal("0.95"),)]


def test_a_catalogue_with_barcodes_maps_a_till_export_to_its_own_product_ids(warehouse, client):
    """A chain that keys products by its own article numbers and prints barcodes: the catalogue's
    barcode and supplier-code columns land in dim_product (a bad check digit quarantined), and the till
    export, which has only barcodes, is converted through them against the warehouse's current catalogue."""
    from retail_platform.sources import sales_history
    from retail_platform.sources.mapping import parse_mapping
    from retail_platform.sources.sales_history import ProductLookup

    listing = pd.read_csv(CHAIN.with_name("catalogue.csv"), dtype=str)
    expected = sorted(
        (f"ART-{n:04d}", row.product_id, f"{row.supplier_id}-{row.product_id[-4:]}")
        for n, row in enumerate(listing.itertuples(), start=1)
    )
    header = "product_id,product_name,category,supplier_id,unit_cost,unit_price,barcode,supplier_product_code"
    lines = [header] + [
        f"{art},{row.product_name} (article),{row.category},{row.supplier_id},{row.unit_cost},{row.unit_price},"
        f"{barcode},{code}"
        for (art, barcode, code), row in zip(expected, listing.itertuples(), strict=True)
    ]
    lines.append("ART-0099,Mistyped,Household,SUP-KC,1.00,2.00,036000291453,")  # its check digit is wrong
    folder = landing.landing_dir(warehouse, "catalogue")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "article_catalogue.csv").write_text("\n".join(lines) + "\n")
    load = {f.file: f for f in runs.ingest_dimensions(client, warehouse, "articles")}["article_catalogue.csv"]
    assert (load.rows_loaded, load.rows_quarantined) == (3, 1)
    stored = client.query(
        "SELECT product_id, barcode, supplier_product_code FROM dim_product FINAL "
        "WHERE is_current AND product_id LIKE 'ART-%' ORDER BY product_id"
    ).result_rows
    assert [tuple(r) for r in stored] == expected

    by_code = ProductLookup.from_catalogue(client, warehouse.clickhouse_database, "supplier_product_code", "quarantine")
    assert all(by_code.resolve(f" {code.lower()} ") == art for art, _, code in expected)  # case and spaces ignored
    by_barcode = ProductLookup.from_catalogue(client, warehouse.clickhouse_database, "barcode", "quarantine")
    config = yaml.safe_load(CHAIN.with_name("pos_export_2025.mapping.yaml").read_text())
    mapping = parse_mapping({**config, "product_lookup": {"by": "barcode"}})
    _, converted = sales_history.convert_file(CHAIN, mapping, by_barcode)
    assert {e["product_id"] for e in converted.events} == {art for art, _, _ in expected}
    assert len(converted.events) == pd.read_csv(CHAIN, dtype=str)["Barcode"].isin(listing["product_id"]).sum()
