"""Store and product keys as retailers write them (events/identifiers.py): accepted by every
contract, the landing sources and the stream's vectorised check alike; hostile ones refused with a
specific reason."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_platform.batch.conform import conform_batch, dimensions_from_rows
from retail_platform.events import validate
from retail_platform.events.contracts import EVENT_TYPES
from retail_platform.events.identifiers import KEY_PATTERN, MAX_KEY_LENGTH, is_key, key_problem
from retail_platform.sources import cleaning
from retail_platform.sources.cleaning import BadValue

# The formats of the design documents and of real chains, one of each.
RETAIL_KEYS = {
    "simulator store": "store_001",
    "simulator product": "SKU0001",
    "seed 004 product": "SKU123",
    "seed 000 product": "PROD-ABC123",
    "seed 000 store": "STORE-001",
    "EAN-13": "4006381333931",
    "UPC-A with a leading zero": "036000291452",
    "EAN-8": "96385074",
    "supplier code": "AB/1234.5",
    "store with a space, lower case": "Berlin mitte 03",
    "one character": "7",
    "longest": "A" * MAX_KEY_LENGTH,
}
HOSTILE_KEYS = {
    "empty": "",
    "too long": "A" * (MAX_KEY_LENGTH + 1),
    "leading space": " SKU1",
    "trailing space": "SKU1 ",
    "trailing newline": "SKU1\n",
    "NUL": "SKU\x001",
    "tab": "SKU\t1",
    "quote": "SKU'1",
    "SQL": "1'; DROP TABLE fact_sales --",
    "double quote": 'SKU"1',
    "backslash": "SKU\\1",
    "comma": "SKU,1",
    "semicolon": "SKU;1",
    "path traversal": "../etc/passwd",
    "starts with a slash": "/SKU1",
    "ends with a dot": "SKU1.",
    "non-ASCII letter": "SKÜ1",
    "full-width digits": "ＳＫＵ１",
    "Arabic-Indic digits": "\u0661\u0662\u0663",
    "zero-width space": "SKU\u200b1",
    "right-to-left override": "SKU\u202e1",
    "lone surrogate": "SKU\ud8001",
    "HTML": "<script>alert(1)</script>",
    "template": "{{7*7}}",
}
DIMS = dimensions_from_rows([], [])
KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
keys = st.sampled_from(KEY_ALPHABET) | st.builds(
    lambda first, middle, last: first + middle + last,
    st.sampled_from(KEY_ALPHABET),
    st.text(alphabet=KEY_ALPHABET + "._/ -", max_size=MAX_KEY_LENGTH - 2),
    st.sampled_from(KEY_ALPHABET),
)


def sale(store_id: str, product_id: str) -> dict:
    return {
        "event_id": "6f1c2a4e-8b3d-4c1e-9a2f-0d5e7b8c9a10",
        "event_type": "sales_transaction",
        "schema_version": 1,
        "event_time": "2025-01-01T10:30:00Z",
        "store_id": store_id,
        "product_id": product_id,
        "transaction_id": "t-1",
        "quantity": 2,
        "unit_price": 29.99,
        "payment_method": "cash",
    }


def test_every_schema_uses_the_one_key_pattern():
    for event_type in EVENT_TYPES.values():
        properties = event_type.schema["properties"]
        for name in ("store_id", "product_id"):
            if name in properties:
                assert properties[name]["pattern"] == KEY_PATTERN, (event_type.name, name)


@pytest.mark.parametrize("key", RETAIL_KEYS.values(), ids=RETAIL_KEYS.keys())
def test_retail_keys_are_accepted_everywhere(key):
    assert is_key(key) and key_problem(key) is None
    assert validate(sale(key, key)) is None
    assert cleaning.key(f"  {key} ") == key  # trimmed, case kept
    batch = pa.RecordBatch.from_pylist([sale(key, key)])
    assert conform_batch(batch, "sales_transaction", DIMS).to_pylist()[0]["rejection_reason"] is None


@pytest.mark.parametrize("key", HOSTILE_KEYS.values(), ids=HOSTILE_KEYS.keys())
def test_hostile_keys_are_refused_with_a_reason(key):
    assert not is_key(key)
    assert key_problem(key)
    assert validate(sale(key, "SKU1")) == "bad_format:store_id"
    assert validate(sale("S1", key)) == "bad_format:product_id"
    raw = json.dumps(sale("S1", key)).encode("utf-8", "surrogatepass")
    assert validate(json.loads(raw.decode("utf-8", "surrogatepass"))) == "bad_format:product_id"


@pytest.mark.parametrize("key", [k for k in HOSTILE_KEYS.values() if k.strip()], ids=str)
def test_landing_sources_refuse_hostile_keys(key):
    if key.strip() != key and is_key(key.strip()):
        assert cleaning.key(key) == key.strip()  # landing values are trimmed first
        return
    with pytest.raises(BadValue) as refused:
        cleaning.key(key)
    assert refused.value.code == "bad_format"


def test_vectorised_check_agrees_with_the_validator_on_hostile_keys():
    rows = [sale(k, "SKU1") for k in HOSTILE_KEYS.values() if k.isascii() or "\ud800" not in k]
    rows = [r for r in rows if "\ud800" not in r["store_id"]]  # Arrow cannot hold a lone surrogate
    got = conform_batch(pa.RecordBatch.from_pylist(rows), "sales_transaction", DIMS).to_pylist()
    assert [g["rejection_reason"] for g in got] == [validate(r) for r in rows]


@settings(max_examples=300, deadline=None)
@given(keys)
def test_any_key_of_the_rule_is_accepted_and_kept_as_written(key):
    assert is_key(key), key
    assert validate(sale(key, key)) is None
    assert cleaning.key(key) == key


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_the_key_rule_matches_its_stated_parts(text):
    allowed = set(KEY_ALPHABET + "._/ -")
    expected = (
        0 < len(text) <= MAX_KEY_LENGTH
        and set(text) <= allowed
        and text[0] in KEY_ALPHABET
        and text[-1] in KEY_ALPHABET
    )
    assert is_key(text) == expected
    assert (key_problem(text) is None) == expected


def test_a_barcode_typed_as_a_number():
    assert cleaning.key(4006381333931) == "4006381333931"
    with pytest.raises(BadValue):
        cleaning.key(4006381333931.0)  # a spreadsheet's float: its digits are not certain
    with pytest.raises(BadValue) as missing:
        cleaning.key("   ")
    assert missing.value.code == "missing_field"
