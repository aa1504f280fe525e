"""Re-validation with the contracts, SCD2 conformance and the dedup choice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pyarrow as pa

from retail_platform.batch.conform import (
    CONFORMED_FIELDS,
    INFERRED_FROM,
    INFERRED_PRODUCT,
    ProductVersions,
    conform_batch,
    dimensions_from_rows,
    pick_first,
    to_event,
    verdict,
)

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAR = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
VERSIONS = [
    {"product_id": "SKU0001", "valid_from": T0, "valid_to": T0 + timedelta(days=10), "category": "Dairy",
     "supplier_id": "SUP001", "unit_cost": Decimal("1.10")},
    {"product_id": "SKU0001", "valid_from": T0 + timedelta(days=10), "valid_to": FAR, "category": "Bakery",
     "supplier_id": "SUP002", "unit_cost": Decimal("1.25")},
]  # fmt: skip
DIMS = dimensions_from_rows(["store_001"], VERSIONS)


def sale(**changes):
    row = {
        "event_id": "0b3c8a2e-1d4f-4c6a-9e8b-7a6f5e4d3c2b",
        "event_type": "sales_transaction",
        "schema_version": 1,
        "event_time": T0 + timedelta(days=1, hours=3),
        "store_id": "store_001",
        "product_id": "SKU0001",
        "transaction_id": "t-1",
        "quantity": 2,
        "unit_price": 2.5,
        "customer_id": None,
        "payment_method": "cash",
        "kafka_topic": "retail-sales-transactions",
        "kafka_partition": 0,
        "kafka_offset": 7,
        "kafka_timestamp": T0,
    }
    row.update(changes)
    return row


def test_a_bronze_row_becomes_its_contract_event():
    event = to_event(sale(), "sales_transaction")
    assert event["event_time"] == "2026-01-02T03:00:00Z"
    assert "customer_id" not in event  # optional and null: omitted, as a producer may
    assert "kafka_offset" not in event


def test_valid_rows_conform_to_the_version_valid_at_event_time():
    reason, version = verdict(sale(), "sales_transaction", DIMS)
    assert reason is None and version.category == "Dairy" and version.unit_cost == Decimal("1.10")
    reason, version = verdict(sale(event_time=T0 + timedelta(days=10)), "sales_transaction", DIMS)
    assert reason is None and version.category == "Bakery"  # valid_from is inclusive


def test_contract_reasons_are_the_streams():
    assert verdict(sale(quantity=0), "sales_transaction", DIMS)[0] == "out_of_range:quantity"
    assert verdict(sale(store_id=None), "sales_transaction", DIMS)[0] == "wrong_type:store_id"
    assert verdict(sale(payment_method="iou"), "sales_transaction", DIMS)[0] == "not_allowed:payment_method"


def test_an_unknown_store_is_accepted_for_its_inferred_member():
    reason, version = verdict(sale(store_id="store_999"), "sales_transaction", DIMS)
    assert reason is None and version.category == "Dairy"  # the product's own version
    assert DIMS.unknown(["store_001", "store_999"], ["SKU0001"]) == (["store_999"], [])


def test_an_unknown_product_conforms_to_the_inferred_placeholder():
    reason, version = verdict(sale(product_id="SKU0002"), "sales_transaction", DIMS)
    assert reason is None and version is INFERRED_PRODUCT
    assert (version.category, version.supplier_id, version.unit_cost) == ("Unknown", "UNKNOWN", Decimal("0.00"))
    assert version.valid_from == INFERRED_FROM and version.is_inferred
    assert DIMS.unknown(["store_001"], ["SKU0001", "SKU0002", "SKU0002"]) == ([], ["SKU0002"])


def test_an_inferred_member_row_conforms_like_the_placeholder_until_a_real_version_exists():
    row = {"product_id": "SKU0002", "valid_from": INFERRED_FROM, "valid_to": FAR, "category": "Unknown",
           "supplier_id": "UNKNOWN", "unit_cost": Decimal("0.00"), "is_inferred": True}  # fmt: skip
    dims = dimensions_from_rows(["store_001", "store_009"], [*VERSIONS, row], inferred_stores=["store_009"])
    assert dims.products.inferred == {"SKU0002"} and dims.inferred_stores == {"store_009"}
    assert dims.unknown(["store_009"], ["SKU0002"]) == ([], [])  # nothing to create again
    assert verdict(sale(product_id="SKU0002"), "sales_transaction", dims) == (None, INFERRED_PRODUCT)
    # The catalogue delivered it (a real version from T0 + 5 days) but the inferred row is still there:
    # the real version alone counts, and covers the time before it.
    real = {**row, "valid_from": T0 + timedelta(days=5), "category": "Snacks", "unit_cost": Decimal("0.80"),
            "is_inferred": False}  # fmt: skip
    dims = dimensions_from_rows(["store_001"], [*VERSIONS, row, real])
    assert dims.products.inferred == frozenset()
    reason, version = verdict(sale(product_id="SKU0002"), "sales_transaction", dims)  # T0 + 1 day
    assert reason is None and version.category == "Snacks" and not version.is_inferred


def test_an_event_before_the_first_version_conforms_to_the_first_version():
    early = sale(event_time=T0 - timedelta(days=400))
    reason, version = verdict(early, "sales_transaction", DIMS)
    assert reason is None and version.category == "Dairy" and version.valid_from == T0


def test_the_only_conformance_reason_left_is_a_hole_in_the_history():
    closed = [{**VERSIONS[0]}]  # closed at T0 + 10 days, no successor
    gap = [{**VERSIONS[0]}, {**VERSIONS[1], "valid_from": T0 + timedelta(days=12)}]
    for rows, when in ((closed, T0 + timedelta(days=10)), (gap, T0 + timedelta(days=11))):
        dims = dimensions_from_rows(["store_001"], rows)
        assert verdict(sale(event_time=when), "sales_transaction", dims) == ("no_product_version:product_id", None)
    assert verdict(sale(event_time=T0 + timedelta(days=12)), "sales_transaction",
                   dimensions_from_rows(["store_001"], gap))[1].category == "Bakery"  # fmt: skip


def test_scd2_lookup_valid_to_is_exclusive():
    versions = ProductVersions([{**VERSIONS[0]}])
    assert versions.at("SKU0001", T0 + timedelta(days=10) - timedelta(milliseconds=1)) is not None
    assert versions.at("SKU0001", T0 + timedelta(days=10)) is None
    assert versions.at("SKU0001", datetime(2026, 1, 5)) is not None  # naive means UTC
    assert versions.at("SKU0001", T0 - timedelta(days=1)).valid_from == T0  # the first version covers before
    assert versions.at("SKU9999", T0) is None


def test_first_arrival_wins_among_duplicates():
    copies = [
        sale(kafka_timestamp=T0 + timedelta(seconds=5), kafka_offset=1),
        sale(kafka_timestamp=T0, kafka_offset=9),
        sale(kafka_timestamp=T0, kafka_offset=3),
        sale(kafka_timestamp=None, kafka_offset=0),
    ]
    assert pick_first(copies)["kafka_offset"] == 3


def test_conform_batch_appends_the_verdict_columns():
    rows = [sale(), sale(event_id="x", quantity=-1)]
    batch = pa.RecordBatch.from_pylist(rows)
    out = conform_batch(batch, "sales_transaction", DIMS)
    assert out.schema.names == batch.schema.names + [f.name for f in CONFORMED_FIELDS]
    got = out.to_pylist()
    assert got[0]["rejection_reason"] is None and got[0]["unit_cost"] == Decimal("1.10")
    assert got[1]["rejection_reason"] == "bad_format:event_id" and got[1]["category"] is None


# Rows that break one rule each (or none), typed as bronze types them. The vectorised pre-check must
# never pass a row the validator rejects; whatever it sends on, the reasons are the validator's.
MIXED = [
    sale(),
    sale(event_id="not-a-uuid"),
    sale(event_id=None),
    sale(event_type="inventory_update"),
    sale(schema_version=2),
    sale(event_time=None),
    sale(store_id="store'001"),  # a quote is no key character
    sale(store_id="store_001\n"),  # Python's $ matches before a final newline: the validator passes it
    sale(store_id=" store_001"),  # a key does not start with a space
    sale(product_id="SKU1;DROP"),
    sale(transaction_id=""),
    sale(transaction_id=None),
    sale(quantity=0),
    sale(quantity=1000),
    sale(quantity=1001),
    sale(quantity=None),
    sale(unit_price=0.0),
    sale(unit_price=100000.0),
    sale(unit_price=100000.01),
    sale(unit_price=float("nan")),
    sale(unit_price=float("inf")),
    sale(customer_id="c-9"),
    sale(payment_method="iou"),
    sale(payment_method=None),
    sale(store_id="store_002"),  # valid contract, unknown store: accepted (inferred member)
    sale(product_id="SKU0002"),  # unknown product: accepted (inferred member)
    sale(event_time=T0 - timedelta(days=1)),  # before the product's first version: conforms to it
    sale(event_time=T0 + timedelta(days=12)),  # second version
]


def test_vectorised_pre_check_gives_the_validators_verdict_on_every_row():
    batch = pa.RecordBatch.from_pylist(MIXED)
    got = conform_batch(batch, "sales_transaction", DIMS).to_pylist()
    for row, out in zip(MIXED, got, strict=True):
        reason, version = verdict(row, "sales_transaction", DIMS)
        assert out["rejection_reason"] == reason, row
        assert out["category"] == (version.category if version else None), row
    reasons = [o["rejection_reason"] for o in got]
    # The untouched sale, 1000 units, the top price, a customer, version 2, and the three dimension
    # misses (unknown store, unknown product, before the first version) that conform all the same.
    assert reasons.count(None) == 8
    # A pattern's $ is the end of the string (JSON Schema): a final newline is not a store id.
    assert reasons[MIXED.index(sale(store_id="store_001\n"))] == "bad_format:store_id"
    assert got[MIXED.index(sale(product_id="SKU0002"))]["category"] == "Unknown"
    assert "wrong_type:unit_price" in reasons and "out_of_range:unit_price" in reasons


def test_pre_check_passes_only_rows_it_can_vouch_for():
    from retail_platform.batch.contract_precheck import valid_mask

    batch = pa.RecordBatch.from_pylist(MIXED)
    mask = valid_mask(batch, "sales_transaction")
    for row, fast in zip(MIXED, mask, strict=True):
        if fast:
            assert verdict(row, "sales_transaction", DIMS)[0] is None, row
    assert mask.sum() == 8  # the five valid rows and the three dimension misses; store\n is sent on


def test_a_column_of_the_wrong_type_sends_the_batch_to_the_validator():
    rows = [sale(quantity=2.0), sale()]  # a float column for an integer field
    out = conform_batch(pa.RecordBatch.from_pylist(rows), "sales_transaction", DIMS).to_pylist()
    assert [o["rejection_reason"] for o in out] == ["wrong_type:quantity", "wrong_type:quantity"]


def test_lookup_of_many_rows_at_once_is_the_lookup_of_each():
    """``at_many`` (the daily job's vectorised lookup) against ``at`` on every row: instants on each
    version's bounds and a microsecond either side, before the first version, in a hole, after a
    closed last version, a product held only as an inferred member, and an unknown product."""
    day = timedelta(days=1)
    us = timedelta(microseconds=1)
    rows = VERSIONS + [
        {"product_id": "SKU0003", "valid_from": T0, "valid_to": T0 + 2 * day, "category": "A",
         "supplier_id": "S", "unit_cost": Decimal("2.00")},
        {"product_id": "SKU0003", "valid_from": T0 + 3 * day, "valid_to": T0 + 5 * day, "category": "B",
         "supplier_id": "S", "unit_cost": Decimal("2.50")},
        {"product_id": "SKU0004", "valid_from": INFERRED_FROM, "valid_to": FAR, "category": "Unknown",
         "supplier_id": "UNKNOWN", "unit_cost": Decimal("0.00"), "is_inferred": True},
    ]  # fmt: skip
    versions = ProductVersions(rows)
    bounds = [T0 - 400 * day, T0, T0 + 2 * day, T0 + 3 * day, T0 + 5 * day, T0 + 10 * day]
    instants = sorted({b + k * us for b in bounds for k in (-1, 0, 1)})
    products = ["SKU0001", "SKU0003", "SKU0004", "SKU0009"]
    pairs = [(p, t) for p in products for t in instants]
    micros = [(t - INFERRED_FROM) // us for _, t in pairs]
    flat = versions.flat()
    found = versions.at_many(pa.array([p for p, _ in pairs]), np.array(micros, dtype=np.int64))
    for (product, when), index in zip(pairs, found.tolist(), strict=True):
        expected = versions.at(product, when)
        if product not in versions:
            assert index == flat.inferred_index, (product, when)
        elif expected is None:
            assert index == -1, (product, when)
        else:
            assert flat.versions[index] == expected, (product, when)
    assert (found == -1).sum() > 0 and (found == flat.inferred_index).sum() == len(instants)
