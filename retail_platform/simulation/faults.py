"""Fault injection between the generator and the producer: the kinds of trouble a real POS/WMS feed
has, at chosen rates, each recorded so the ground truth stays exact.

Per valid message, independently:

* ``duplicates``: a byte-identical copy is sent again later (uniform delay in
  ``duplicate_delay_seconds`` of simulated time: long enough to land after a consumer restart).
* ``late``: the message is held back and sent ``late_delay_seconds`` (simulated) later, with its
  original event_time.
* ``out_of_order``: the message is sent right after the next message of the same store and topic
  (so that one overtakes it). Only counted when such a next message exists in the same batch and is
  not itself moved.
* ``malformed``: an extra message that is not a JSON object: truncated JSON or invalid UTF-8
  (``malformed_json``) or a JSON array (``not_an_object``).
* ``invalid``: an extra, well-formed event that breaks its schema in one place: wrong type,
  out-of-range value, missing field or value outside an enum (and naive timestamps / malformed ids).
  It gets a fresh event_id so it can never be mistaken for a duplicate of the valid event.

Malformed and invalid messages are *extra*: the valid event they were derived from is still sent,
so they never change the business totals. The recorded reason of each is what
``retail_platform.events.contracts.rejection_reason`` returns for the bytes actually sent, i.e. the
reason a correct pipeline must quarantine it with.

Delays are in simulated time, so at ``--speed 1`` they are real seconds, and relative to the stream
(watermarks are event-time based) they mean the same at any speed. Held messages are released when
the stream passes their release time, and all of them at the end of a run.

Anomalies for the stream's detectors are injected into the simulated chain itself, not into its
messages, so stock and the ground truth stay consistent (the generator applies them, ``generator.py``):
a ``StockCount`` is a stock count at a chosen simulated moment that finds some units fewer (or more)
than the records say, sent as an inventory_update with reason ``adjustment`` that no sale or delivery
explains; a ``DemandBurst`` multiplies one store/product's demand for a span of simulated time (a
run on a product), so its sales velocity leaves what its forecast expects.
"""

from __future__ import annotations

import heapq
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from retail_platform.events.contracts import rejection_reason
from retail_platform.simulation import batch as b
from retail_platform.simulation.encoding import Messages
from retail_platform.simulation.ground_truth import DUPLICATE, INVALID, LATE, MALFORMED, ORIGINAL, OUT_OF_ORDER

_STREAM = 0x46415554  # "FAUT"
FAULT_NAMES = ("duplicates", "late", "out_of_order", "malformed", "invalid")


@dataclass(frozen=True)
class FaultRates:
    """Probabilities per valid message (0..1)."""

    duplicates: float = 0.0
    late: float = 0.0
    out_of_order: float = 0.0
    malformed: float = 0.0
    invalid: float = 0.0
    late_delay_seconds: tuple[float, float] = (30.0, 600.0)
    duplicate_delay_seconds: tuple[float, float] = (1.0, 900.0)

    def __post_init__(self) -> None:
        for name in FAULT_NAMES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {name}={value} must be within 0..1")

    @property
    def any(self) -> bool:
        return any(getattr(self, name) > 0 for name in FAULT_NAMES)

    @classmethod
    def parse(cls, text: str) -> FaultRates:
        """``"duplicates=0.01,late=0.01,out_of_order=0.01,malformed=0.005,invalid=0.005"``."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, raw = part.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in FAULT_NAMES:
                raise ValueError(f"{part!r}: expected name=rate with name one of {', '.join(FAULT_NAMES)}")
            try:
                values[name] = float(raw)
            except ValueError:
                raise ValueError(f"{part!r}: {raw!r} is not a number") from None
        return cls(**values)  # type: ignore[arg-type]  # names checked against FAULT_NAMES: all rates

    def describe(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self) if f.name in FAULT_NAMES)


@dataclass(frozen=True)
class StockCount:
    """A stock count of one store/product (catalogue indices) ``at_seconds`` of simulated time after the
    run's start that finds ``units`` fewer than the records say (negative: more); the shelf then holds
    what the count found (never below 0)."""

    store: int
    product: int
    units: int
    at_seconds: float

    def __post_init__(self) -> None:
        if self.store < 0 or self.product < 0:
            raise ValueError(f"stock count {self.describe()}: store and product are indices from 0")
        if self.units == 0:
            raise ValueError(f"stock count {self.describe()}: units must not be 0 (a count that finds no difference)")
        if not self.at_seconds >= 0:
            raise ValueError(f"stock count {self.describe()}: the moment must be at or after the start")

    @classmethod
    def parse(cls, text: str) -> StockCount:
        """``"STORE:PRODUCT:UNITS@SECONDS"``, e.g. ``"0:3:25@30"``: store 0, product 3, 25 units
        missing, 30 simulated seconds after the start."""
        where, sep, when = text.partition("@")
        parts = where.split(":")
        if not sep or len(parts) != 3:
            raise ValueError(f"{text!r}: expected STORE:PRODUCT:UNITS@SECONDS, e.g. 0:3:25@30")
        try:
            store, product, units = (int(p) for p in parts)
            at = float(when)
        except ValueError:
            raise ValueError(f"{text!r}: STORE, PRODUCT and UNITS are integers, SECONDS a number") from None
        return cls(store, product, units, at)

    def describe(self) -> str:
        return f"{self.store}:{self.product}:{self.units}@{self.at_seconds:g}"


@dataclass(frozen=True)
class DemandBurst:
    """One store/product's (catalogue indices) demand multiplied by ``factor`` over the generator's
    steps that start within [``from_seconds``, ``to_seconds``) of simulated time after the start."""

    store: int
    product: int
    factor: float
    from_seconds: float
    to_seconds: float

    def __post_init__(self) -> None:
        if self.store < 0 or self.product < 0:
            raise ValueError(f"demand burst {self.describe()}: store and product are indices from 0")
        if not self.factor > 0 or self.factor != self.factor:
            raise ValueError(f"demand burst {self.describe()}: the factor must be positive")
        if not 0 <= self.from_seconds < self.to_seconds:
            raise ValueError(f"demand burst {self.describe()}: the span must start at or after 0 and end after it")

    @classmethod
    def parse(cls, text: str) -> DemandBurst:
        """``"STORE:PRODUCT:FACTOR@FROM-TO"``, e.g. ``"0:2:8@40-60"``: store 0, product 2, eight times
        the demand from 40 to 60 simulated seconds after the start."""
        where, sep, when = text.partition("@")
        parts = where.split(":")
        start, dash, end = when.partition("-")
        if not sep or not dash or len(parts) != 3:
            raise ValueError(f"{text!r}: expected STORE:PRODUCT:FACTOR@FROM-TO, e.g. 0:2:8@40-60")
        try:
            store, product = int(parts[0]), int(parts[1])
            factor, from_seconds, to_seconds = float(parts[2]), float(start), float(end)
        except ValueError:
            raise ValueError(f"{text!r}: STORE and PRODUCT are integers, FACTOR, FROM and TO numbers") from None
        return cls(store, product, factor, from_seconds, to_seconds)

    def describe(self) -> str:
        return f"{self.store}:{self.product}:{self.factor:g}@{self.from_seconds:g}-{self.to_seconds:g}"


@dataclass
class Outgoing:
    """Messages to send, in order, with what the ground truth needs to account them."""

    event_type: np.ndarray  # int8 index into batch.TOPICS / EVENT_TYPES
    store: np.ndarray  # int64 store index (the key)
    values: list[bytes]
    due_ms: np.ndarray  # int64 stream (simulated) time at which to send: the pacing clock
    fault: np.ndarray  # int8 ground_truth fault code
    reasons: list[str]  # rejection reason of each MALFORMED/INVALID message, in order

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def empty(cls) -> Outgoing:
        ints = np.zeros(0, dtype=np.int64)
        return cls(np.zeros(0, dtype=np.int8), ints, [], ints, np.zeros(0, dtype=np.int8), [])

    @classmethod
    def plain(cls, messages: Messages) -> Outgoing:
        n = len(messages)
        return cls(
            messages.event_type.astype(np.int8),
            messages.store,
            messages.values,
            messages.time_ms,
            np.zeros(n, dtype=np.int8),
            [],
        )


# --- schema-invalid mutations ----------------------------------------------------------------
Mutation = Callable[[dict[str, Any]], None]


def _set(field: str, value: Callable[[Any], Any]) -> Mutation:
    def mutate(event: dict[str, Any]) -> None:
        event[field] = value(event[field])

    return mutate


def _drop(field: str) -> Mutation:
    def mutate(event: dict[str, Any]) -> None:
        del event[field]

    return mutate


def _naive_time(value: str) -> str:
    return value.replace("T", " ").rstrip("Z")


# (category, mutation) per event type: wrong types, out-of-range values, missing fields, values
# outside an enum, malformed formats and unknown schema versions.
MUTATIONS: dict[str, list[tuple[str, Mutation]]] = {
    "sales_transaction": [
        ("wrong_type", _set("quantity", str)),
        ("wrong_type", _set("unit_price", lambda v: f"{v:.2f}")),
        ("out_of_range", _set("quantity", lambda v: 0)),
        ("out_of_range", _set("unit_price", lambda v: -v)),
        ("missing_field", _drop("store_id")),
        ("missing_field", _drop("transaction_id")),
        ("bad_enum", _set("payment_method", lambda v: "barter")),
        ("bad_format", _set("event_time", _naive_time)),
    ],
    "inventory_update": [
        ("wrong_type", _set("new_quantity", str)),
        ("wrong_type", _set("quantity_change", lambda v: v + 0.5)),
        ("out_of_range", _set("new_quantity", lambda v: -1 - v)),
        ("missing_field", _drop("product_id")),
        ("missing_field", _drop("new_quantity")),
        ("bad_enum", _set("reason", lambda v: "theft")),
        ("bad_format", _set("store_id", lambda v: v.replace("store_", "store#"))),  # '#' is no key character
    ],
    "price_change": [
        ("wrong_type", _set("promotion", lambda v: "yes" if v else "no")),
        ("out_of_range", _set("new_price", lambda v: 0)),
        ("missing_field", _drop("old_price")),
        ("bad_enum", _set("event_type", lambda v: "price_update")),  # not one of the event types
        ("bad_format", _set("product_id", lambda v: f" {v}")),  # a key does not start with a space
    ],
    "purchase_order": [
        ("wrong_type", _set("quantity", str)),
        ("out_of_range", _set("quantity", lambda v: 0)),
        ("missing_field", _drop("order_id")),
        ("missing_field", _drop("expected_delivery")),
        ("bad_enum", _set("status", lambda v: "shipped")),
        ("bad_format", _set("order_id", lambda v: "")),
    ],
}
for _options in MUTATIONS.values():  # a producer still on a schema version the platform does not know
    _options.append(("bad_version", _set("schema_version", lambda v: v + 1)))


class FaultInjector:
    """Stateful across batches (held messages); seeded, so the same input gives the same faults."""

    def __init__(self, rates: FaultRates, seed: int) -> None:
        self.rates = rates
        self.rng = np.random.default_rng([int(seed), _STREAM])
        self._held: list[tuple[int, int, tuple[int, int, bytes, int]]] = []  # (release, seq, message)
        self._seq = 0

    @property
    def held(self) -> int:
        return len(self._held)

    def _hold(self, release_ms: int, event_type: int, store: int, value: bytes, fault: int) -> None:
        self._seq += 1
        heapq.heappush(self._held, (release_ms, self._seq, (event_type, store, value, fault)))

    def _uuid(self) -> str:
        return str(uuid.UUID(bytes=self.rng.bytes(16), version=4))

    def _malformed(self, value: bytes) -> bytes:
        variant = int(self.rng.integers(0, 3))
        if variant == 0:  # cut off in transit
            return value[: int(self.rng.integers(1, len(value) - 1))]
        if variant == 1:  # wrong encoding
            return b"\xff\xfe" + value[2:]
        return b"[" + value + b"]"  # valid JSON, not an object

    def _invalid(self, value: bytes, event_type: str) -> bytes:
        event = json.loads(value)
        options = MUTATIONS[event_type]
        categories = sorted({c for c, _ in options})
        category = categories[int(self.rng.integers(0, len(categories)))]
        chosen = [m for c, m in options if c == category]
        chosen[int(self.rng.integers(0, len(chosen)))](event)
        event["event_id"] = self._uuid()
        return json.dumps(event, separators=(",", ":")).encode()

    def process(self, messages: Messages, horizon_ms: int | None = None) -> Outgoing:
        """The messages to send now for this batch (plus held ones whose release time has come).

        ``horizon_ms``: the end of the batch's simulated time (default: its last event time).
        """
        n = len(messages)
        rates = self.rates
        if not rates.any or n == 0:
            out = Outgoing.plain(messages)
            return self._merge_released(out, horizon_ms if horizon_ms is not None else _last(messages.time_ms))
        rng = self.rng
        draws = rng.random((n, 5))
        times = messages.time_ms
        types = messages.event_type.astype(np.int64)
        stores = messages.store
        duplicate = draws[:, 0] < rates.duplicates
        late = draws[:, 1] < rates.late
        malformed = draws[:, 3] < rates.malformed
        invalid = draws[:, 4] < rates.invalid

        # Out of order: send after the next message of the same store and topic (not late, not moved).
        candidate = (draws[:, 2] < rates.out_of_order) & ~late
        partner = np.full(n, -1, dtype=np.int64)
        staying = np.flatnonzero(~late)
        key = stores[staying] * len(b.TOPICS) + types[staying]
        order = staying[np.lexsort((staying, key))]  # by store and topic, then stream position
        sorted_key = stores[order] * len(b.TOPICS) + types[order]
        has_next = sorted_key[1:] == sorted_key[:-1]
        partner[order[:-1][has_next]] = order[1:][has_next]
        moved = candidate & (partner >= 0)
        moved &= ~np.where(partner >= 0, candidate[np.maximum(partner, 0)], False)

        position = np.arange(n, dtype=np.float64)
        position[moved] = partner[moved] + 0.5
        due = times.copy()
        due[moved] = times[partner[moved]]
        fault = np.where(moved, OUT_OF_ORDER, ORIGINAL).astype(np.int8)
        keep = ~late

        values = messages.values
        out_positions = list(position[keep])
        out_types = list(types[keep])
        out_stores = list(stores[keep])
        out_values = [values[i] for i in np.flatnonzero(keep).tolist()]
        out_due = list(due[keep])
        out_fault = list(fault[keep])
        extra_reasons: dict[float, str] = {}

        lo_late, hi_late = (s * 1000 for s in rates.late_delay_seconds)
        for i in np.flatnonzero(late).tolist():
            delay = int(rng.uniform(lo_late, hi_late))
            self._hold(int(times[i]) + delay, int(types[i]), int(stores[i]), values[i], LATE)
        lo_dup, hi_dup = (s * 1000 for s in rates.duplicate_delay_seconds)
        for i in np.flatnonzero(duplicate).tolist():
            delay = int(rng.uniform(lo_dup, hi_dup))
            self._hold(int(times[i]) + delay, int(types[i]), int(stores[i]), values[i], DUPLICATE)
        for offset, mask, code in ((0.25, malformed, MALFORMED), (0.3, invalid, INVALID)):
            for i in np.flatnonzero(mask).tolist():
                event_type = b.EVENT_TYPES[types[i]]
                value = self._malformed(values[i]) if code == MALFORMED else self._invalid(values[i], event_type)
                reason = rejection_reason(value, event_type)
                if reason is None:  # cannot happen with the mutations above; never count a valid event as bad
                    raise AssertionError(f"fault injection produced a valid event: {value!r}")
                pos = i + offset
                out_positions.append(pos)
                out_types.append(types[i])
                out_stores.append(stores[i])
                out_values.append(value)
                out_due.append(times[i])
                out_fault.append(code)
                extra_reasons[pos] = reason

        sort = np.argsort(np.array(out_positions), kind="stable")
        positions = np.array(out_positions)[sort]
        out = Outgoing(
            event_type=np.array(out_types, dtype=np.int8)[sort],
            store=np.array(out_stores, dtype=np.int64)[sort],
            values=[out_values[i] for i in sort.tolist()],
            due_ms=np.array(out_due, dtype=np.int64)[sort],
            fault=np.array(out_fault, dtype=np.int8)[sort],
            reasons=[extra_reasons[p] for p in positions.tolist() if p in extra_reasons],
        )
        return self._merge_released(out, horizon_ms if horizon_ms is not None else _last(times))

    def _merge_released(self, out: Outgoing, horizon_ms: int | None) -> Outgoing:
        """Insert held messages released by ``horizon_ms`` at their place in the stream."""
        if not self._held or horizon_ms is None or self._held[0][0] > horizon_ms:
            return out
        released = []
        while self._held and self._held[0][0] <= horizon_ms:
            released.append(heapq.heappop(self._held))
        return _insert(out, released)

    def flush(self) -> Outgoing:
        """Every held message, in release order (the end of a run)."""
        released = [heapq.heappop(self._held) for _ in range(len(self._held))]
        return _insert(Outgoing.empty(), released)


def _last(times: np.ndarray) -> int | None:
    return int(times[-1]) if times.size else None


def _insert(out: Outgoing, released: list[tuple[int, int, tuple[int, int, bytes, int]]]) -> Outgoing:
    if not released:
        return out
    release = np.array([r[0] for r in released], dtype=np.int64)
    # Each released message goes before the first message due after its release time.
    at = np.searchsorted(out.due_ms, release, side="right")
    order = np.argsort(np.concatenate([np.arange(len(out)) * 2 + 1, at * 2]), kind="stable")
    n_out = len(out)
    types = np.concatenate([out.event_type, np.array([r[2][0] for r in released], dtype=np.int8)])
    stores = np.concatenate([out.store, np.array([r[2][1] for r in released], dtype=np.int64)])
    values = out.values + [r[2][2] for r in released]
    due = np.concatenate([out.due_ms, release])
    fault = np.concatenate([out.fault, np.array([r[2][3] for r in released], dtype=np.int8)])
    assert n_out + len(released) == order.size
    return Outgoing(
        event_type=types[order],
        store=stores[order],
        values=[values[i] for i in order.tolist()],
        due_ms=np.maximum.accumulate(due[order]),
        fault=fault[order],
        reasons=out.reasons,  # released messages are valid events or duplicates: no reasons
    )
