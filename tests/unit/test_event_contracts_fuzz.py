"""Property tests: no input makes validation raise. Arbitrary bytes, arbitrary JSON and mutations of
valid events of every type go through the contracts, the stream's parse (down to its Arrow batch) and
the daily load's verdict: each returns a reason (a string) or accepts, and valid events stay valid."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retail_platform.batch.conform import conform_batch, dimensions_from_rows, verdict
from retail_platform.events.contracts import EVENT_TYPES, check, rejection_reason, utc_time, validate
from retail_platform.events.time_bounds import TimeBounds
from retail_platform.streaming.columns import fields_of
from retail_platform.streaming.parse import parse_arrow_batch, parse_value
from tests import hostile

UTC = timezone.utc
ARRIVAL = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BOUNDS = TimeBounds.of(date(2000, 1, 1), 3600, 35)
TYPES = sorted(hostile.TOPIC_OF)
DIMS = dimensions_from_rows(
    ["store_001"],
    [{"product_id": "SKU1234", "valid_from": datetime(2000, 1, 1, tzinfo=UTC), "category": "Dairy",
      "valid_to": datetime(2299, 12, 31, tzinfo=UTC), "supplier_id": "SUP001", "unit_cost": Decimal("1.10")}],
)  # fmt: skip
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = {
    name: json.loads((hostile.CORPUS.parent / f"{name}.valid.json").read_text()) | {"event_time": hostile.iso(ARRIVAL)}
    for name in TYPES
}


def is_verdict(reason: object) -> bool:
    return reason is None or (isinstance(reason, str) and len(reason) > 0)


def through_everything(event_type: str, raw: bytes | None) -> str | None:
    """The verdict of the contracts, the stream's parse and (for a JSON object) the daily load; asserts
    none raised and all gave a verdict; returns the stream's."""
    topic = hostile.TOPIC_OF[event_type]
    contract = rejection_reason(raw, event_type)
    assert is_verdict(contract)
    parsed = parse_value(topic, 0, 1, None, raw, ARRIVAL, BOUNDS)
    stream = parsed.get("rejection_reason")
    assert is_verdict(stream)
    if contract is not None:
        assert stream == contract
    event, _ = check(raw)
    if isinstance(event, dict):
        row = {c.name: event.get(c.name) for c in fields_of(EVENT_TYPES[event_type])}
        if isinstance(row.get("event_time"), str) and utc_time(row["event_time"]) is not None:
            row["event_time"] = utc_time(row["event_time"])
        row |= {"kafka_topic": topic, "kafka_timestamp": ARRIVAL}
        assert is_verdict(verdict(row, event_type, DIMS, BOUNDS)[0])
    return stream


def arrow_parse(event_type: str, raws: list[bytes | None]) -> list[str | None]:
    n = len(raws)
    batch = pa.RecordBatch.from_pydict(
        {
            "topic": [hostile.TOPIC_OF[event_type]] * n,
            "partition": pa.array([0] * n, pa.int32()),
            "offset": pa.array(range(n), pa.int64()),
            "timestamp": pa.array([ARRIVAL] * n, pa.timestamp("us", tz="UTC")),
            "key": pa.array([None] * n, pa.binary()),
            "value": pa.array(raws, pa.binary()),
        }
    )
    return [r["rejection_reason"] for r in parse_arrow_batch(batch, BOUNDS).to_pylist()]


# ---- arbitrary input ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@FAST
@given(st.sampled_from(TYPES), st.binary(max_size=300))
def test_arbitrary_bytes(event_type, raw):
    assert through_everything(event_type, raw) is not None or rejection_reason(raw, event_type) is None


@FAST
@given(st.sampled_from(TYPES), json_values)
def test_arbitrary_json(event_type, value):
    raw = json.dumps(value).encode("utf-8", "surrogatepass")
    through_everything(event_type, raw)


@FAST
@given(st.sampled_from(TYPES), st.lists(st.binary(max_size=80) | st.none(), max_size=8))
def test_arbitrary_batches_convert_to_arrow(event_type, raws):
    assert all(is_verdict(r) for r in arrow_parse(event_type, raws))


# ---- mutations of valid events --------------------------------------------------------------------

WRONG_VALUES = st.sampled_from(
    [None, True, False, 0, -1, 1, 2**63, -(2**63) - 1, 10**30, 0.5, -0.0, 1e308, "", "x" * 10_000, [], {}, [1],
     {"a": None}, "\ud800", "store_001\n", "SKU1234\n"]
)  # fmt: skip
NON_FINITE = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 400, "1" * 4301])
TIMESTAMPS = st.sampled_from(
    ["T", "Z", "", "2025", "2025-01-01", "2025-01-01T10:30:00", "2025-01-01 10:30:00Z", "20250101T103000Z",
     "2025-W01-1T10:30:00Z", "2025-01-01T10:30Z", "2025-01-01T10:30:00,5Z", "2025-01-01T10:30:00+0100",
     "2025-02-29T10:30:00Z", "2025-13-01T10:30:00Z", "2025-01-01T24:00:00Z", "2025-01-01T10:60:00Z",
     "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59Z",
     "9999-12-31T23:59:59-00:01", "2025-01-01T10:30:00+99:99", "2025-01-01T10:30:00.Z",
     "2025-01-01T10:30:00.1234567890Z", "\uff12025-01-01T10:30:00Z", "2025-01-01T10:30:00Z\n"]
) | st.text(alphabet="0123456789-T:.+Z ", max_size=32) | st.from_regex(
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})\Z"
)  # fmt: skip


def boundaries(rule: dict) -> list[float]:
    out: list[float] = []
    for key in ("minimum", "maximum", "exclusiveMinimum"):
        if key in rule:
            bound = rule[key]
            out += [bound - 1, bound, bound + 1, bound - 0.001, bound + 0.001]
    return out


@st.composite
def mutated(draw):
    event_type = draw(st.sampled_from(TYPES))
    event = dict(VALID[event_type])
    properties = EVENT_TYPES[event_type].schema["properties"]
    field = draw(st.sampled_from(sorted(properties)))
    how = draw(st.sampled_from(["drop", "wrong", "boundary", "non_finite", "time", "duplicate", "deep", "bytes"]))
    if how == "drop":
        event.pop(field, None)
    elif how == "wrong":
        event[field] = draw(WRONG_VALUES)
    elif how == "boundary":
        options = boundaries(properties[field]) or [0]
        value = draw(st.sampled_from(options))
        event[field] = int(value) if value == int(value) and draw(st.booleans()) else value
    elif how == "time":
        event["event_time"] = draw(TIMESTAMPS)
    raw = json.dumps(event).encode("utf-8", "surrogatepass")
    if how == "non_finite":
        raw = raw[:-1] + f', "{field}": {draw(NON_FINITE)}}}'.encode()
    elif how == "duplicate":
        raw = raw[:-1] + f', "{field}": {json.dumps(event.get(field))}}}'.encode()
    elif how == "deep":
        depth = draw(st.sampled_from([10, 999, 1001, 5000, 100_000]))
        raw = raw[:-1] + f', "{field}": {"[" * depth}{"]" * depth}}}'.encode()
    elif how == "bytes":
        position = draw(st.integers(0, len(raw)))
        raw = raw[:position] + draw(st.binary(min_size=1, max_size=4)) + raw[position:]
    return event_type, raw


@FAST
@given(mutated())
def test_mutations_of_valid_events(case):
    event_type, raw = case
    through_everything(event_type, raw)
    assert is_verdict(arrow_parse(event_type, [raw])[0])


# ---- valid events stay valid ----------------------------------------------------------------------

# Keys as retailers write them (events/identifiers.py): every string the key rule accepts.
PATTERNS = {"store_id": r"\A[A-Za-z0-9](?:[A-Za-z0-9._/ -]{0,62}[A-Za-z0-9])?\Z",
            "product_id": r"\A[A-Za-z0-9](?:[A-Za-z0-9._/ -]{0,62}[A-Za-z0-9])?\Z"}  # fmt: skip


@st.composite
def valid_events(draw):
    event_type = draw(st.sampled_from(TYPES))
    event = dict(VALID[event_type])
    event["event_id"] = str(draw(st.uuids()))
    offset = draw(st.integers(min_value=-35 * 86400, max_value=3600))
    event["event_time"] = hostile.iso(ARRIVAL + timedelta(seconds=offset))
    for name, pattern in PATTERNS.items():
        event[name] = draw(st.from_regex(pattern))
    if event_type == "sales_transaction":
        event["quantity"] = draw(st.integers(1, 1000))
        event["unit_price"] = draw(st.floats(min_value=0.01, max_value=100000))
    elif event_type == "inventory_update":
        reason = draw(st.sampled_from(["sale", "delivery", "adjustment", "shrinkage"]))
        low, high = {"sale": (-100000, 0), "shrinkage": (-100000, 0), "delivery": (0, 100000)}.get(
            reason, (-100000, 100000)
        )
        event |= {"reason": reason, "quantity_change": draw(st.integers(low, high))}
        event["new_quantity"] = draw(st.integers(0, 1000000))
    elif event_type == "purchase_order":
        status = draw(st.sampled_from(["placed", "received"]))
        expected = draw(st.dates()).isoformat() if status == "placed" else draw(st.none() | st.dates().map(str))
        event |= {"status": status, "quantity": draw(st.integers(1, 1000000)), "expected_delivery": expected}
        event["order_id"] = draw(st.from_regex(PATTERNS["store_id"]))  # the one key pattern
    else:
        event["new_price"] = draw(st.floats(min_value=0.01, max_value=100000))
        event["promotion"] = draw(st.booleans())
    return event_type, event


@FAST
@given(valid_events())
def test_valid_events_stay_valid(case):
    event_type, event = case
    assert validate(event, event_type) is None
    assert through_everything(event_type, json.dumps(event).encode()) is None
    assert arrow_parse(event_type, [json.dumps(event).encode()]) == [None]
    if event_type != "price_change":
        row = {c.name: event.get(c.name) for c in fields_of(EVENT_TYPES[event_type])}
        row |= {"event_time": utc_time(event["event_time"]), "kafka_topic": hostile.TOPIC_OF[event_type]}
        row["kafka_timestamp"] = ARRIVAL
        assert verdict(row, event_type, DIMS, BOUNDS)[0] is None
        out = conform_batch(pa.RecordBatch.from_pylist([row]), event_type, DIMS, BOUNDS).to_pylist()
        assert out[0]["rejection_reason"] is None


def test_non_finite_numbers_are_wrong_types():
    assert math.isnan(json.loads("NaN"))  # Python's json accepts them; the contracts do not
    sale = json.dumps(VALID["sales_transaction"])
    for literal in ("NaN", "Infinity", "-Infinity", "1e999"):
        raw = sale.replace('"unit_price": 29.99', f'"unit_price": {literal}')
        assert rejection_reason(raw, "sales_transaction") == "wrong_type:unit_price"
