"""Fault injection: each fault does what it says, at the declared counts, with the exact rejection
reasons of the contracts."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime, timezone

import numpy as np
import pytest

from retail_platform.events.contracts import event_type_for_topic, rejection_reason
from retail_platform.settings import get_settings
from retail_platform.simulation.catalog import generate_catalog
from retail_platform.simulation.encoding import Messages
from retail_platform.simulation.faults import MUTATIONS, FaultInjector, FaultRates, Outgoing
from retail_platform.simulation.ground_truth import (
    DUPLICATE,
    INVALID,
    LATE,
    MALFORMED,
    ORIGINAL,
    OUT_OF_ORDER,
    GroundTruth,
)
from retail_platform.simulation.producer import MemorySink, SimulationConfig, run_simulation

SALE = (
    b'{"event_id":"6f1c2a4e-8b3d-4c1e-9a2f-%012d","event_type":"sales_transaction","schema_version":1,'
    b'"event_time":"2025-01-01T10:30:00.000Z","store_id":"store_%03d","product_id":"SKU0001",'
    b'"transaction_id":"t%d","quantity":2,"unit_price":29.99,"customer_id":null,"payment_method":"cash"}'
)


def stream(n: int = 2000, stores: int = 2) -> Messages:
    """n sales one second apart, stores taking turns."""
    store = np.arange(n) % stores
    return Messages(
        event_type=np.zeros(n, dtype=np.int8),
        store=store.astype(np.int64),
        time_ms=np.arange(n, dtype=np.int64) * 1000,
        values=[SALE % (i, s + 1, i) for i, s in enumerate(store.tolist())],
    )


def send_all(injector: FaultInjector, messages: Messages, batch: int = 500) -> Outgoing:
    parts = [
        injector.process(
            Messages(messages.event_type[i : i + batch], messages.store[i : i + batch],
                     messages.time_ms[i : i + batch], messages.values[i : i + batch])
        )
        for i in range(0, len(messages), batch)
    ]  # fmt: skip
    parts.append(injector.flush())
    return Outgoing(
        event_type=np.concatenate([p.event_type for p in parts]),
        store=np.concatenate([p.store for p in parts]),
        values=[v for p in parts for v in p.values],
        due_ms=np.concatenate([p.due_ms for p in parts]),
        fault=np.concatenate([p.fault for p in parts]),
        reasons=[r for p in parts for r in p.reasons],
    )


def test_parse_rates():
    rates = FaultRates.parse("duplicates=0.01,late=0.02,out_of_order=0.03,malformed=0.005,invalid=0.004")
    assert (rates.duplicates, rates.late, rates.out_of_order, rates.malformed, rates.invalid) == (
        0.01, 0.02, 0.03, 0.005, 0.004,
    )  # fmt: skip
    assert FaultRates.parse("") == FaultRates() and not FaultRates().any
    assert FaultRates.parse(rates.describe()) == rates
    for bad in ("typo=0.1", "late", "late=x", "late=2"):
        with pytest.raises(ValueError):
            FaultRates.parse(bad)


def test_no_faults_passes_messages_through_unchanged():
    messages = stream(100)
    out = send_all(FaultInjector(FaultRates(), seed=1), messages)
    assert out.values == messages.values and np.all(out.fault == ORIGINAL)


def test_late_messages_arrive_after_the_stream_moved_on_by_the_delay():
    rates = FaultRates(late=0.05, late_delay_seconds=(30, 120))
    messages = stream()
    out = send_all(FaultInjector(rates, seed=2), messages)
    assert sorted(out.values) == sorted(messages.values)  # each event exactly once
    times = {v: t for v, t in zip(messages.values, messages.time_ms.tolist(), strict=True)}
    late = [i for i, f in enumerate(out.fault.tolist()) if f == LATE]
    assert 50 < len(late) < 150
    sent_times = [times[v] for v in out.values]
    for i in late:
        # Everything sent before it that came after it in event time is at least 30 s newer... and the
        # stream (the newest event sent before it) has moved on by >= 30 s (unless the run ended).
        newest_before = max(sent_times[:i])
        assert newest_before >= sent_times[i] + 30_000 or i >= len(out) - len(late)
    displaced = sum(1 for i, t in enumerate(sent_times) if t < max(sent_times[:i], default=-1))
    assert displaced == len(late)


def test_out_of_order_swaps_with_the_next_message_of_the_same_store_and_topic():
    messages = stream(stores=3)
    out = send_all(FaultInjector(FaultRates(out_of_order=0.05), seed=3), messages)
    assert sorted(out.values) == sorted(messages.values)
    moved = int(np.count_nonzero(out.fault == OUT_OF_ORDER))
    assert moved > 30
    inversions = 0
    for store in range(3):
        mine = [json.loads(v)["event_id"] for v, s in zip(out.values, out.store.tolist(), strict=True) if s == store]
        sequence = [int(e[-12:]) for e in mine]
        inversions += sum(1 for a, c in zip(sequence, sequence[1:], strict=False) if c < a)
        # Displaced by exactly one message of its store.
        assert sorted(sequence) == [i for i in range(len(messages)) if i % 3 == store]
    assert inversions == moved


def test_duplicates_are_byte_identical_and_sent_later():
    messages = stream()
    out = send_all(FaultInjector(FaultRates(duplicates=0.05), seed=4), messages)
    dups = [i for i, f in enumerate(out.fault.tolist()) if f == DUPLICATE]
    assert 50 < len(dups) < 150
    first_seen: dict[bytes, int] = {}
    for i, v in enumerate(out.values):
        first_seen.setdefault(v, i)
    for i in dups:
        assert first_seen[out.values[i]] < i  # the original went first
    assert len(out) == len(messages) + len(dups)
    assert Counter(Counter(out.values).values()) == Counter({1: len(messages) - len(dups), 2: len(dups)})


def test_malformed_and_invalid_are_extra_messages_with_their_exact_reasons():
    messages = stream()
    out = send_all(FaultInjector(FaultRates(malformed=0.05, invalid=0.05), seed=5), messages)
    bad = [i for i, f in enumerate(out.fault.tolist()) if f in (MALFORMED, INVALID)]
    assert len(out) == len(messages) + len(bad) and len(out.reasons) == len(bad)
    valid_ids = {json.loads(v)["event_id"] for v in messages.values}
    for i, reason in zip(bad, out.reasons, strict=True):
        assert rejection_reason(out.values[i], "sales_transaction") == reason
        if out.fault[i] == MALFORMED:
            assert reason in ("malformed_json", "not_an_object")
        else:
            assert json.loads(out.values[i])["event_id"] not in valid_ids  # never a "duplicate"
    assert [v for i, v in enumerate(out.values) if i not in set(bad)] == messages.values


def test_invalid_mutations_cover_the_categories_for_every_event_type():
    for event_type, options in MUTATIONS.items():
        assert {"wrong_type", "out_of_range", "missing_field", "bad_enum"} <= {c for c, _ in options}, event_type


def test_a_run_with_faults_reports_the_declared_counts():
    rates = FaultRates(duplicates=0.01, late=0.01, out_of_order=0.01, malformed=0.005, invalid=0.005)
    config = SimulationConfig(
        stores=5, products=20, seed=8, speed=math.inf, start=datetime(2025, 6, 3, 15, tzinfo=timezone.utc),
        events=40_000, faults=rates,
    )  # fmt: skip
    sink = MemorySink(generate_catalog(config.catalog_config()).store_ids)
    truth: GroundTruth = run_simulation(get_settings(), config, sink=sink)
    n = sum(truth.events.values())
    faults = truth.fault_summary()
    for name, rate in (("duplicates", 0.01), ("late", 0.01), ("malformed", 0.005), ("invalid", 0.005)):
        # Binomial counts: within 4 standard deviations of n * rate.
        assert abs(faults[name] - n * rate) <= 4 * math.sqrt(n * rate * (1 - rate)), (name, faults[name])
    assert 0 < faults["out_of_order"] <= 4 * n * 0.01
    reasons = Counter(
        r for topic, _, v in sink.messages if (r := rejection_reason(v, event_type_for_topic(topic).name))
    )
    assert reasons == Counter(truth.malformed) + Counter(truth.invalid)
    assert {r.split(":")[0] for r in truth.invalid} >= {"wrong_type", "out_of_range", "missing_field", "not_allowed"}
    assert set(truth.malformed) == {"malformed_json", "not_an_object"}
    assert (
        sum(truth.produced.values()) == len(sink.messages) == n + faults["duplicates"] + sum(truth.quarantined.values())
    )
