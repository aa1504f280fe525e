"""Parsing what callers send to the inventory API: generated inputs (hypothesis) and the hostile
corpus in tests/fixtures/api/hostile_adjustments.jsonl (expected status and field per case)."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_platform.api import requests
from retail_platform.api.identifiers import MAX_LENGTH, BadIdentifier, check_identifier
from retail_platform.api.requests import BadRequest, parse_adjustment
from retail_platform.events.identifiers import KEY_PATTERN, is_key

CORPUS = Path(__file__).parents[1] / "fixtures" / "api" / "hostile_adjustments.jsonl"
CASES = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
FIELDS = {"storeId", "quantity", "reason", "reference", "body", "?"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
safe_ids = st.from_regex(KEY_PATTERN, fullmatch=True)  # the contracts' key rule


def _raw(case: dict) -> bytes:
    return base64.b64decode(case["base64"]) if "base64" in case else case["text"].encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_hostile_bodies_get_the_expected_status_and_field(case):
    with pytest.raises(BadRequest) as refused:
        parse_adjustment(_raw(case))
    assert (refused.value.status, refused.value.field) == (case["status"], case["field"])
    assert refused.value.message  # a message for the caller, not an empty string


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_are_parsed_or_refused_with_a_bad_request(raw):
    try:
        adjustment = parse_adjustment(raw)
    except BadRequest as exc:
        assert exc.status in (400, 413, 422)
        assert exc.field
    else:
        assert adjustment.quantity != 0


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["storeId", "quantity", "reason", "reference", "other"]), json_values))
def test_any_json_object_is_parsed_or_refused_naming_a_known_field(body):
    try:
        adjustment = parse_adjustment(json.dumps(body).encode())
    except BadRequest as exc:
        assert exc.field in FIELDS | {"other"}
        assert exc.status in (422, 413)
    else:
        assert set(body) <= {"storeId", "quantity", "reason", "reference"}
        assert adjustment.store_id == body["storeId"] and adjustment.quantity == body["quantity"]
        assert type(body["quantity"]) is int and 0 < abs(body["quantity"]) <= requests.MAX_QUANTITY


@given(
    store=safe_ids,
    quantity=st.integers(-requests.MAX_QUANTITY, requests.MAX_QUANTITY).filter(bool),
    reason=st.sampled_from(sorted(requests.REASONS)),
    reference=st.none() | safe_ids,
)
def test_valid_bodies_round_trip_with_the_contracts_reason(store, quantity, reason, reference):
    raw = json.dumps({"storeId": store, "quantity": quantity, "reason": reason, "reference": reference}).encode()
    adjustment = parse_adjustment(raw)
    assert (adjustment.store_id, adjustment.quantity, adjustment.reference) == (store, quantity, reference)
    assert adjustment.reason == requests.REASONS[reason]
    assert adjustment.reason in ("delivery", "adjustment", "shrinkage")


def test_reason_defaults_to_adjustment_and_restock_is_a_delivery():
    assert parse_adjustment(b'{"storeId": "s1", "quantity": -2}').reason == "adjustment"
    assert parse_adjustment(b'{"storeId": "s1", "quantity": 2, "reason": "restock"}').reason == "delivery"


@given(st.text(max_size=80))
def test_identifiers_are_accepted_only_when_short_and_plain(value):
    try:
        assert check_identifier("storeId", value) == value
    except BadIdentifier as exc:
        assert exc.field == "storeId"
    else:
        assert 1 <= len(value) <= MAX_LENGTH and value.isascii() and value.isprintable()
        assert not set(value) & set("'\"\\;,%&?#=<>()[]{}*`$|:@+\n\r\t\x00")
        assert is_key(value), "the API accepts exactly the keys events can carry"


@given(st.text(max_size=80))
def test_the_api_and_the_contracts_accept_the_same_keys(value):
    try:
        check_identifier("productSku", value)
    except BadIdentifier:
        assert not is_key(value)
    else:
        assert is_key(value)


@pytest.mark.parametrize(
    "value", ["store_001", "STORE-7", "1234", "Berlin Mitte 03", "AB/1234.5", "0036000291452", "a" * MAX_LENGTH]
)
def test_opaque_retailer_identifiers_are_accepted(value):
    assert check_identifier("storeId", value) == value


@given(st.text(max_size=12))
def test_bounded_int_accepts_only_plain_digits_in_range(raw):
    try:
        value = requests.bounded_int("limit", raw, 100, 1, 1000)
    except BadRequest as exc:
        assert exc.field == "limit"
    else:
        assert raw.isdigit() and raw.isascii() and 1 <= value <= 1000 and value == int(raw)


@given(st.text(max_size=12) | st.floats().map(str))
def test_wait_is_a_finite_number_of_seconds_within_bounds(raw):
    try:
        value = requests.wait_seconds(raw)
    except BadRequest as exc:
        assert exc.field == "wait"
    else:
        assert math.isfinite(value) and 0 <= value <= requests.MAX_WAIT_S


def test_missing_wait_limit_and_filters_take_their_defaults():
    assert requests.wait_seconds(None) == 0.0
    assert requests.bounded_int("limit", None, 100, 1, 1000) == 100
    assert requests.risk_level(None) is None and requests.category(None) is None
    with pytest.raises(BadRequest, match="risk"):
        requests.risk_level("severe")


@given(st.text(max_size=200) | st.none())
def test_idempotency_key_is_required_and_bounded(raw):
    try:
        key = requests.idempotency_key(raw)
    except BadRequest as exc:
        assert exc.field == "Idempotency-Key" and exc.status == 400
    else:
        assert key == raw and 1 <= len(key) <= 128 and key.isascii() and key.isprintable()


@pytest.mark.parametrize(
    ("header", "token"),
    [(None, None), ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer ", None), ("", None)],
)
def test_bearer_header(header, token):
    assert requests.bearer(header) == token
