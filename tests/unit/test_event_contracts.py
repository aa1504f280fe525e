"""The event contracts: fixtures of every type validate; each kind of bad event is rejected with
its specific reason; schema files and the registry agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retail_platform.events import EVENT_TYPES, Rejection, event_type_for_topic, parse_event, validate
from retail_platform.events.contracts import SCHEMA_DIR, rejection_reason
from retail_platform.topics import ALL_TOPICS

FIXTURES = Path(__file__).parent.parent / "fixtures" / "events"
INVALID = json.loads((FIXTURES / "invalid.json").read_text())


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_valid_fixture_of_each_type_passes(name):
    raw = (FIXTURES / f"{name}.valid.json").read_bytes()
    event = parse_event(raw, expected_type=name)
    assert event["event_type"] == name


@pytest.mark.parametrize("case", INVALID, ids=[c["reason"] for c in INVALID])
def test_invalid_events_are_rejected_with_their_reason(case):
    raw = case["event"] if isinstance(case["event"], str) else json.dumps(case["event"])
    with pytest.raises(Rejection) as caught:
        parse_event(raw)
    assert caught.value.reason == case["reason"]
    assert rejection_reason(raw) == case["reason"]


def test_an_event_on_the_wrong_topic_is_rejected():
    raw = (FIXTURES / "price_change.valid.json").read_bytes()
    assert rejection_reason(raw, expected_type="sales_transaction") == "wrong_topic"


def test_booleans_are_not_numbers_and_nan_is_not_a_number():
    sale = json.loads((FIXTURES / "sales_transaction.valid.json").read_text())
    assert validate({**sale, "quantity": True}) == "wrong_type:quantity"
    assert validate({**sale, "unit_price": float("nan")}) == "wrong_type:unit_price"
    assert validate({**sale, "customer_id": None}) is None


def test_every_schema_file_is_registered_with_envelope_fields():
    files = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert files == {f"{t.name}.v{t.version}.json" for t in EVENT_TYPES.values()}
    for event_type in EVENT_TYPES.values():
        required = set(event_type.schema["required"])
        assert {"event_id", "event_type", "schema_version", "event_time", "store_id", "product_id"} <= required
        assert event_type.schema["additionalProperties"] is False


def test_each_event_type_has_its_own_contract_topic():
    names = {t.name for t in ALL_TOPICS}
    for event_type in EVENT_TYPES.values():
        assert event_type.topic.name in names
        assert event_type_for_topic(event_type.topic.name) is event_type
