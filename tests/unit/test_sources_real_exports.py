"""Real exports through the sales-history mapping: an online store's order log shaped like the public
2019 one, a European till export with decimal commas, a multi-store POS export keyed by barcodes.
Each file's loaded revenue per store and UTC day equals an independent pandas computation over the
raw file, exactly; every row is loaded or quarantined with its reason."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_platform.sources import sales_history
from retail_platform.sources.cleaning import BadValue
from retail_platform.sources.mapping import MappingError, find_mapping, parse_mapping
from retail_platform.sources.readers import FileFormatError, read_csv_text, read_file
from retail_platform.sources.report import reason_counts
from retail_platform.sources.sales_history import ProductLookup, to_events

LANDING = Path(__file__).resolve().parents[1] / "fixtures" / "landing"
ORDERS = LANDING / "online_orders" / "orders_2019.csv"
EU = LANDING / "eu_pos" / "kassenexport_2024.csv"
CHAIN = LANDING / "pos_multistore" / "pos_export_2025.csv"


def catalogue_lookup(folder: Path, by: str, unmatched: str = "quarantine") -> ProductLookup:
    frame = pd.read_csv(folder / "catalogue.csv", dtype=str)
    return ProductLookup.build(by, unmatched, list(zip(frame["product_id"], frame[by], strict=True)))


def loaded_revenue(events) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = {}
    for e in events:
        key = (e["store_id"], e["event_time"].date().isoformat())
        out[key] = out.get(key, Decimal(0)) + Decimal(e["quantity"]) * Decimal(str(e["unit_price"]))
    return out


def pandas_revenue(frame: pd.DataFrame) -> dict[tuple[str, str], Decimal]:
    """(store, UTC day) -> revenue, from columns store, utc, qty, price (texts of cents-exact decimals)."""
    out: dict[tuple[str, str], Decimal] = {}
    for row in frame.itertuples():
        key = (row.store, row.utc.date().isoformat())
        out[key] = out.get(key, Decimal(0)) + Decimal(int(row.qty)) * Decimal(row.price)
    return out


def local_to_utc(local: pd.Series, zone: str) -> pd.Series:
    # The platform's rule: a wall time in the spring gap moves forward by the gap's length; a repeated
    # autumn hour is its first (summer-time) occurrence.
    return local.dt.tz_localize(zone, nonexistent=pd.Timedelta(hours=1), ambiguous=True).dt.tz_convert("UTC")


# ---- the online order log (2019 shape) ------------------------------------------------------------


def orders_by_pandas() -> pd.DataFrame:
    raw = pd.read_csv(ORDERS, dtype=str, skip_blank_lines=True)
    raw = raw[raw["Order ID"].notna() & (raw["Order ID"] != "Order ID")]
    raw = raw.drop_duplicates()  # exact copies of a record are not sales
    names = pd.read_csv(LANDING / "online_orders" / "catalogue.csv", dtype=str)["product_name"]
    known = {" ".join(n.casefold().split()) for n in names}
    raw = raw[raw["Product"].map(lambda p: " ".join(p.casefold().split()) in known)]
    raw = raw[pd.to_numeric(raw["Quantity Ordered"], errors="coerce").notna()]
    city = raw["Purchase Address"].str.extract(r", *([^,]+, [A-Z]{2}) [0-9]{5}$")[0]
    stores = find_mapping(ORDERS).locations
    local = pd.to_datetime(raw["Order Date"], format="%m/%d/%y %H:%M")
    return pd.DataFrame(
        {
            "store": city.map(stores),
            "utc": local_to_utc(local, "America/New_York"),
            "qty": raw["Quantity Ordered"],
            "price": raw["Price Each"],
        }
    ).dropna(subset=["store"])  # fmt: skip  (a city the mapping does not know is no store)


def convert_orders():
    mapping = find_mapping(ORDERS)
    return sales_history.convert_file(ORDERS, mapping, catalogue_lookup(ORDERS.parent, "product_name"))


def test_order_log_revenue_per_store_and_day_equals_pandas():
    read, converted = convert_orders()
    assert loaded_revenue(converted.events) == pandas_revenue(orders_by_pandas())
    assert read.rows_read == len(converted.events) + len(converted.rejects)
    assert (read.blank_lines, read.header_lines) == (1, 3)  # the comma-only line; header + 2 repeated


def test_order_log_rejects_by_reason_and_keeps_second_lines_of_a_product():
    _, converted = convert_orders()
    assert reason_counts(converted.rejects) == {
        "bad_number:quantity": 1,
        "duplicate:record": 1,
        "unknown_location:store": 1,
        "unknown_product:product_id": 1,
    }
    cable = [e for e in converted.events if e["transaction_id"] == "176562"]
    assert sorted(e["quantity"] for e in cable) == [1, 2]  # same order, same product, two lines: both kept
    assert len({e["event_id"] for e in cable}) == 2
    by_name = {e["transaction_id"]: e["product_id"] for e in converted.events}
    assert by_name["176564"] == "0810012345671"  # "usb-c charging  cable": case and spaces ignored
    order = [e for e in converted.events if e["transaction_id"] == "176560"]
    assert {e["product_id"] for e in order} == {"PROD-GP-01", "PROD-WH-01"}  # one order, two products
    assert {e["store_id"] for e in converted.events if e["transaction_id"] in ("176568", "176571")} == {
        "US-SEA",
        "US-PWM",
    }


def test_order_log_reimport_gives_the_same_ids():
    _, first = convert_orders()
    _, second = convert_orders()
    assert [e["event_id"] for e in first.events] == [e["event_id"] for e in second.events]


def test_clock_changes_follow_the_documented_rule():
    _, converted = convert_orders()
    when = {e["transaction_id"]: e["event_time"] for e in converted.events}
    # 02:43 on 2019-03-10 does not exist in New York: read with EST, i.e. 03:43 EDT.
    assert when["176560"] == datetime(2019, 3, 10, 7, 43, tzinfo=timezone.utc)
    # The hour that happens twice: test_european_export_... (02:30 on 2024-10-27 in Berlin).


def test_unmatched_products_can_be_loaded_as_inferred_members():
    mapping = find_mapping(ORDERS)
    lookup = catalogue_lookup(ORDERS.parent, "product_name", unmatched="infer")
    _, converted = sales_history.convert_file(ORDERS, mapping, lookup)
    assert "unknown_product:product_id" not in reason_counts(converted.rejects)
    assert {e["product_id"] for e in converted.events if e["transaction_id"] == "176569"} == {"27in 4K Gaming Monitor"}


def test_an_ambiguous_name_is_quarantined_not_guessed():
    lookup = ProductLookup.build("product_name", "quarantine", [("A1", "Cable"), ("B2", " cable ")])
    mapping = parse_mapping({
        "source": "s", "store_id": "S1", "defaults": {"payment_method": "cash"},
        "columns": {"transaction_id": "t", "product_id": "p", "quantity": "q", "unit_price": "u", "timestamp": "w"},
    })  # fmt: skip
    read = read_csv_text("t,p,q,u,w\n1,CABLE,1,2.00,2020-01-01T10:00:00\n")
    assert [r.reason for r in to_events(read, mapping, lookup).rejects] == ["ambiguous_product:product_id"]


# ---- the European till export --------------------------------------------------------------------


def test_european_export_revenue_per_store_and_day_equals_pandas():
    mapping = find_mapping(EU)
    read, converted = sales_history.convert_file(EU, mapping)
    raw = pd.read_csv(EU, sep=";", dtype=str, decimal=",", thousands=".")
    price = raw["Einzelpreis"]
    ok = price.str.fullmatch(r"\d{1,3}(\.\d{3})*(,\d+)?|\d+(,\d+)?")  # "1.29" is ambiguous: refused
    local = pd.to_datetime(raw["Datum"], format="%d.%m.%Y %H:%M:%S", errors="coerce")
    raw, local = raw[ok & local.notna()], local[ok & local.notna()]
    frame = pd.DataFrame({
        "store": raw["Filiale"].str.extract(r"^Filiale ([0-9]{3})$")[0],
        "utc": local_to_utc(local, "Europe/Berlin"),
        "qty": raw["Menge"], "price": raw["Einzelpreis"].str.replace(".", "").str.replace(",", "."),
    })  # fmt: skip
    assert loaded_revenue(converted.events) == pandas_revenue(frame)
    assert reason_counts(converted.rejects) == {"bad_date:timestamp": 1, "bad_number:unit_price": 1}
    assert {e["payment_method"] for e in converted.events} == {"cash", "debit_card", "credit_card"}
    autumn = next(e for e in converted.events if e["transaction_id"] == "B-91545")
    assert autumn["event_time"] == datetime(2024, 10, 27, 0, 30, tzinfo=timezone.utc)  # 02:30 CEST
    assert read.rows_read == len(converted.events) + len(converted.rejects)


# ---- the multi-store POS export ------------------------------------------------------------------


def test_multistore_export_revenue_per_store_and_day_equals_pandas():
    mapping = find_mapping(CHAIN)
    _, converted = sales_history.convert_file(CHAIN, mapping)
    raw = pd.read_csv(CHAIN, dtype=str)
    raw = raw[raw["Barcode"].str.fullmatch(r"[0-9]+")]
    local = pd.to_datetime(raw["Sold At"], format="%Y-%m-%d %H:%M:%S")
    frame = pd.DataFrame({
        "store": raw["Till"].str.extract(r"^([A-Z]{3})-T[0-9]+$")[0], "utc": local_to_utc(local, "America/New_York"),
        "qty": raw["Qty"], "price": raw["Unit Price"],
    })  # fmt: skip
    assert loaded_revenue(converted.events) == pandas_revenue(frame)
    assert reason_counts(converted.rejects) == {"bad_format:product_id": 1}
    products = {e["product_id"] for e in converted.events}
    assert "036000291452" in products and "0036000291452" in products  # leading zeros are part of a key
    receipts = {e["transaction_id"] for e in converted.events}
    assert {"NYC-T01/000123", "BOS-T01/000123"} <= receipts  # receipt numbers restart per till


def test_a_chain_export_of_barcodes_maps_to_the_catalogues_own_product_ids():
    """The same export, with a catalogue keyed by the chain's own article numbers and carrying the
    barcodes in its ``barcode`` column: ``product_lookup: {by: barcode}`` maps every line to the
    catalogue's product_id, exactly as much revenue, and a barcode no product carries is quarantined."""
    listing = pd.read_csv(CHAIN.with_name("catalogue.csv"), dtype=str)
    own_ids = {upc: f"ART-{n:04d}" for n, upc in enumerate(listing["product_id"], start=1)}
    rows = [(own_ids[upc], upc) for upc in listing["product_id"]] + [("ART-9999", "")]  # one without a barcode
    lookup = ProductLookup.build("barcode", "quarantine", rows)
    config = yaml.safe_load(CHAIN.with_name("pos_export_2025.mapping.yaml").read_text())
    mapping = parse_mapping({**config, "product_lookup": {"by": "barcode"}})
    _, converted = sales_history.convert_file(CHAIN, mapping, lookup)
    assert {e["product_id"] for e in converted.events} == set(own_ids.values())
    raw = pd.read_csv(CHAIN, dtype=str)
    raw = raw[raw["Barcode"].isin(own_ids)]
    local = pd.to_datetime(raw["Sold At"], format="%Y-%m-%d %H:%M:%S")
    frame = pd.DataFrame({
        "store": raw["Till"].str.extract(r"^([A-Z]{3})-T[0-9]+$")[0], "utc": local_to_utc(local, "America/New_York"),
        "qty": raw["Qty"], "price": raw["Unit Price"],
    })  # fmt: skip
    assert loaded_revenue(converted.events) == pandas_revenue(frame)
    # 0036000291452 is another key than 036000291452 (leading zeros count); SKU'1 matches nothing either.
    assert reason_counts(converted.rejects) == {"unknown_product:product_id": 2}


def test_lookups_by_a_code_skip_products_without_one():
    lookup = ProductLookup.build("supplier_product_code", "quarantine", [("A1", ""), ("B2", " kc-100 "), ("C3", "")])
    assert lookup.resolve("KC-100") == "B2"
    assert "" not in lookup.products and not lookup.ambiguous  # two empty codes are not an ambiguity
    with pytest.raises(BadValue, match="unknown_product"):
        lookup.resolve("")


# ---- a file that is not what its mapping says ----------------------------------------------------


def test_wrong_delimiter_fails_the_file_with_a_message(tmp_path):
    path = tmp_path / "kassenexport.csv"
    path.write_text(EU.read_text().replace(";", "|", 3))  # the header no longer splits like the rows
    with pytest.raises((FileFormatError, MappingError)) as failed:
        sales_history.convert_file(path, find_mapping(EU))
    assert "kassenexport.csv" in str(failed.value) or "not found" in str(failed.value)


def test_wrong_timestamp_format_fails_the_file_instead_of_quarantining_every_row(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS.read_text())
    config = {**_mapping_config(ORDERS), "timestamp_format": "%d/%m/%Y %H:%M"}
    with pytest.raises(FileFormatError, match="bad_date:timestamp.*timestamp_format"):
        sales_history.convert_file(path, parse_mapping(config), catalogue_lookup(ORDERS.parent, "product_name"))


def _mapping_config(data: Path) -> dict:
    import yaml

    return yaml.safe_load(data.with_name(f"{data.stem}.mapping.yaml").read_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"store_pattern": "([A-Z]+"}, "store_pattern is not a regular expression"),
        ({"store_pattern": "[A-Z]+"}, "exactly one capture group"),
        ({"product_lookup": {"by": "colour"}}, "product_lookup.by must be one of"),
        ({"product_lookup": {"by": "product_name", "unmatched": "guess"}}, "product_lookup.unmatched"),
        ({"decimal": ";"}, "decimal must be"),
        ({"decimal": ",", "delimiter": ","}, "cannot be told apart"),
        ({"locations": {"Dallas, TX": "Dallas; TX"}}, "not a usable store key"),
    ],
)
def test_an_unusable_mapping_names_the_key_and_the_fix(change, message):
    with pytest.raises(MappingError, match=message):
        parse_mapping({**_mapping_config(ORDERS), **change})


# ---- properties ----------------------------------------------------------------------------------

NAMES = ["USB-C Charging Cable", "Wired Headphones", "Google Phone"]
lines = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from(NAMES), st.integers(1, 5), st.sampled_from(["1.00", "2.50"])),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(lines)
def test_every_distinct_line_is_loaded_once_and_copies_are_reported(rows):
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["Order ID", "Product", "Quantity Ordered", "Price Each", "Order Date", "Purchase Address"])
    for order, name, qty, price in rows:
        writer.writerow([order, name, qty, price, "04/19/19 08:46", "1 Main St, Dallas, TX 75001"])
    mapping = parse_mapping(_mapping_config(ORDERS))
    lookup = catalogue_lookup(ORDERS.parent, "product_name")
    converted = to_events(read_csv_text(text.getvalue()), mapping, lookup)
    distinct = list(dict.fromkeys(rows))
    assert len(converted.events) == len(distinct)
    assert len(converted.rejects) == len(rows) - len(distinct)
    assert {r.reason for r in converted.rejects} <= {"duplicate:record"}
    assert len({e["event_id"] for e in converted.events}) == len(distinct)
    # the same file again: the same ids (a re-import is idempotent through the MERGE on event_id)
    again = to_events(read_csv_text(text.getvalue()), mapping, lookup)
    assert [e["event_id"] for e in again.events] == [e["event_id"] for e in converted.events]


def test_files_without_a_line_column_keep_their_ids_from_before_ordinals():
    # The first line of a (transaction, product) keeps the id it had: uuid5(source | txn | PRODUCT).
    _, converted = convert_orders()
    first = next(e for e in converted.events if e["transaction_id"] == "176558")
    assert first["event_id"] == sales_history.event_id("online-store-2019", "176558", "USB-C CHARGING CABLE")


def test_read_file_counts_comma_only_lines_as_blank():
    read = read_file(ORDERS)
    assert all(r.values.get("order_id") for r in read.records)
