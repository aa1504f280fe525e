"""Bronze rows -> verdicts: the same contract validation as the stream, then conformance to the dimensions.

A bronze row is rebuilt as the contract event it came from (``to_event``) and checked with
``contracts.validate``, so the batch layer rejects exactly what the stream rejects and for the same
reason codes. Conformance then attaches the product version valid at the event's time (SCD2:
``valid_from <= event_time < valid_to``); the product's attributes of that version (category, supplier,
unit cost) travel with the row into silver and the facts.

Conformance accepts what the contract accepts, as the stream does (Kimball's late-arriving dimension
members):
* a store or product the dimensions do not hold (yet) is attached to an *inferred member*: for a
  product, ``INFERRED_PRODUCT`` (placeholder attributes, valid from the beginning of time); a store
  needs no attributes here (the facts carry only its key). The daily load then writes the inferred
  rows (``is_inferred = 1``) into dim_store / dim_product (``retail_platform.batch.inferred``), and the
  catalogue fills them in when the product arrives (``retail_platform.sources.catalogue``);
* a product's first version covers all time before it (``ProductVersions.at``): a sale before the
  catalogue's valid_from conforms to the first version.
The one reason left here is ``no_product_version:product_id``: an instant after the product's first
version that no version covers (a hole in its history, or after a version closed with no successor).
Neither loader writes such a history (a version is only closed by opening the next at the same
instant), so it means a broken dimension; it is quarantined so that it shows.

``conform_arrow_batches`` is the function the daily job runs with ``mapInArrow``: plain Python over
Arrow batches, unit-testable without Spark.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retail_platform.batch.contract_precheck import NotVectorisable, valid_mask
from retail_platform.events.contracts import EVENT_TYPES, utc_time, validate
from retail_platform.events.time_bounds import TimeBounds, is_streamed

# Which copy of a duplicated event_id is kept: the first to arrive (Kafka timestamp, then its position
# in the log). Copies of one event are byte-identical re-sends, so the choice only decides the lineage
# kept, but it must be deterministic so a re-run writes the same silver rows.
DEDUP_ORDER = ("kafka_timestamp", "kafka_topic", "kafka_partition", "kafka_offset")

# Columns conformance adds to a row (Arrow types; Spark's are derived in the job).
CONFORMED_FIELDS = (
    pa.field("rejection_reason", pa.string()),
    pa.field("category", pa.string()),
    pa.field("supplier_id", pa.string()),
    pa.field("unit_cost", pa.decimal128(18, 2)),
    pa.field("product_valid_from", pa.timestamp("us", tz="UTC")),
)


def dedup_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """Sort key of the copies of one event_id; the smallest is kept (nulls last)."""
    return tuple((row.get(c) is None, row.get(c)) for c in DEDUP_ORDER)


def pick_first(copies: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The copy of a duplicated event that the batch keeps (the rule the job's window implements)."""
    return min(copies, key=dedup_key)


def _iso(value: datetime) -> str:
    return _utc(value).isoformat().replace("+00:00", "Z")


def to_event(row: Mapping[str, Any], event_type: str) -> dict[str, Any]:
    """The contract event a bronze row holds: its contract fields, event_time back in ISO-8601.

    Optional fields that are null are left out, as a producer that omits them would send the event
    (the contracts accept both); a required field that is null stays null and fails validation."""
    schema = EVENT_TYPES[event_type].schema
    required = set(schema["required"])
    event: dict[str, Any] = {}
    for name in schema["properties"]:
        value = row.get(name)
        if value is None and name not in required:
            continue
        if name == "event_time" and isinstance(value, datetime):
            value = _iso(value)
        event[name] = value
    return event


@dataclass(frozen=True)
class ProductVersion:
    valid_from: datetime
    valid_to: datetime
    category: str
    supplier_id: str
    unit_cost: Decimal
    is_inferred: bool = False


# Inferred members (late-arriving dimension members): the placeholder a sale or stock movement of a
# product no catalogue has delivered yet is attached to, and the dimension rows the daily load writes.
# valid_from is the beginning of time (the member covers every event until the catalogue arrives).
# unit_cost 0: the cost is unknown, and a guess (e.g. a share of the price) would look like a real
# margin; with 0 the line's cost is 0 and its profit equals its revenue until the catalogue fills the
# member in and the day is recomputed (v_inferred_members shows the revenue exposed). The category
# 'Unknown' is reserved for this placeholder: fact rows carrying it mark the days to recompute once
# the product is filled in (v_inferred_recompute_days).
INFERRED_FROM = datetime(1970, 1, 1, tzinfo=timezone.utc)
OPEN_VALID_TO = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)
INFERRED_CATEGORY = "Unknown"
INFERRED_SUPPLIER = "UNKNOWN"
INFERRED_PRODUCT = ProductVersion(INFERRED_FROM, OPEN_VALID_TO, INFERRED_CATEGORY, INFERRED_SUPPLIER,
                                  Decimal("0.00"), is_inferred=True)  # fmt: skip


class ProductVersions:
    """dim_product's SCD2 versions per product, for point-in-time lookups.

    Rows flagged ``is_inferred`` stand in for a product only while it has no real version: once the
    catalogue has delivered it, a leftover inferred row (the fill-in deletes it, see
    ``sources.catalogue``) is ignored, so the history read is the catalogue's alone."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        by_product: dict[str, list[ProductVersion]] = {}
        for r in rows:
            by_product.setdefault(str(r["product_id"]), []).append(
                ProductVersion(
                    _utc(r["valid_from"]), _utc(r["valid_to"]), str(r["category"]), str(r["supplier_id"]),
                    Decimal(r["unit_cost"]), bool(r.get("is_inferred", False)),
                )
            )  # fmt: skip
        for product, versions in by_product.items():
            real = [v for v in versions if not v.is_inferred]
            if real:
                by_product[product] = real
        self._versions = {p: sorted(v, key=lambda x: x.valid_from) for p, v in by_product.items()}
        self._starts = {p: [v.valid_from for v in vs] for p, vs in self._versions.items()}
        self._flat: _FlatVersions | None = None

    def __contains__(self, product_id: str) -> bool:
        return product_id in self._versions

    @property
    def inferred(self) -> frozenset[str]:
        """Products held only as inferred members."""
        return frozenset(p for p, vs in self._versions.items() if vs[0].is_inferred)

    def at(self, product_id: str, when: datetime) -> ProductVersion | None:
        """The version valid at ``when`` (valid_from inclusive, valid_to exclusive), or None.

        The first version also covers all time before its valid_from (SCD2 practice: a product sold
        before the catalogue dated it is that version), so None means an unknown product or an instant
        after the first version that no version covers (a hole in the history)."""
        starts = self._starts.get(product_id)
        if not starts:
            return None
        i = max(bisect.bisect_right(starts, _utc(when)) - 1, 0)
        version = self._versions[product_id][i]
        return version if _utc(when) < version.valid_to else None

    def flat(self) -> _FlatVersions:
        """Every version in one set of columns, for ``at_many`` (built once)."""
        if self._flat is None:
            self._flat = _FlatVersions(self._versions)
        return self._flat

    def at_many(self, product_ids: pa.Array, times_us: np.ndarray) -> np.ndarray:
        """``at`` for many rows at once: per row the index of its version in ``flat()`` (the
        placeholder ``INFERRED_PRODUCT`` for a product without versions), or -1 where ``at`` gives
        None. ``times_us``: the instants as integer microseconds since the epoch (UTC), none null."""
        flat = self.flat()
        n = len(times_us)
        codes = flat.codes_of(product_ids)
        out = np.full(n, flat.inferred_index, dtype=np.int64)
        known = np.flatnonzero(codes >= 0)
        if not len(known) or not flat.size:
            return out
        code, when = codes[known], times_us[known]
        # bisect_right over the product's starts as one search of (product, start) keys: starts outside
        # the rows' time span are clamped to just outside it, which keeps every comparison with a row's
        # instant as it was, so a key fits in 64 bits.
        lo, hi = int(when.min()) - 1, int(when.max()) + 1
        width = hi - lo + 1
        if width * (flat.products + 1) >= 2**62:
            for i, c, t in zip(known.tolist(), code.tolist(), when.tolist(), strict=True):
                out[i] = flat.bisect_one(c, t)
            return out
        keys = flat.code * width + (np.clip(flat.start_us, lo, hi) - lo)
        found = np.searchsorted(keys, code * width + (when - lo), side="right") - 1
        first = flat.first_of[code]
        found = np.maximum(found, first)  # before the first start: the first version
        out[known] = np.where(when < flat.end_us[found], found, -1)
        return out


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _micros(value: datetime) -> int:
    delta = _utc(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class _FlatVersions:
    """ProductVersions' versions as columns, sorted by (product, valid_from) in the order ``at``
    bisects them, with the placeholder INFERRED_PRODUCT appended last."""

    def __init__(self, versions: Mapping[str, list[ProductVersion]]) -> None:
        products = sorted(versions)
        self.products = len(products)
        self._code = {p: i for i, p in enumerate(products)}
        rows = [(i, v) for i, p in enumerate(products) for v in versions[p]]
        self.size = len(rows)
        self.code = np.array([i for i, _ in rows], dtype=np.int64)
        self.start_us = np.array([_micros(v.valid_from) for _, v in rows], dtype=np.int64)
        self.end_us = np.array([_micros(v.valid_to) for _, v in rows], dtype=np.int64)
        self.first_of = np.searchsorted(self.code, np.arange(self.products), side="left").astype(np.int64)
        self.inferred_index = self.size
        every = [v for _, v in rows] + [INFERRED_PRODUCT]
        self.versions = every
        self.category = pa.array([v.category for v in every], pa.string())
        self.supplier_id = pa.array([v.supplier_id for v in every], pa.string())
        self.unit_cost = pa.array([v.unit_cost for v in every], pa.decimal128(18, 2))
        self.valid_from = pa.array([v.valid_from for v in every], pa.timestamp("us", tz="UTC"))
        self._index = {v: i for i, v in enumerate(every)}  # equal versions give equal columns
        self._products = pd.Index(products, dtype=object)

    def codes_of(self, product_ids: pa.Array) -> np.ndarray:
        """Per row its product's code, -1 for a product without versions (or a null)."""
        values = product_ids.to_numpy(zero_copy_only=False)
        return np.asarray(self._products.get_indexer(values), dtype=np.int64)

    def bisect_one(self, code: int, when_us: int) -> int:
        first = int(self.first_of[code])
        end = int(np.searchsorted(self.code, code, side="right"))
        i = max(bisect.bisect_right(self.start_us[first:end].tolist(), when_us) - 1, 0) + first
        return i if when_us < self.end_us[i] else -1

    def index_of(self, version: ProductVersion) -> int:
        return self._index[version]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@dataclass(frozen=True)
class Dimensions:
    stores: frozenset[str]
    products: ProductVersions
    inferred_stores: frozenset[str] = frozenset()  # stores held only as inferred members

    def unknown(self, stores: Iterable[str], products: Iterable[str]) -> tuple[list[str], list[str]]:
        """The store and product keys among these that have no dimension row at all (sorted)."""
        return sorted(set(stores) - self.stores), sorted(p for p in set(products) if p not in self.products)


def verdict(
    row: Mapping[str, Any], event_type: str, dims: Dimensions, bounds: TimeBounds | None = None
) -> tuple[str | None, ProductVersion | None]:
    """(rejection reason or None, the product version the row conforms to). Never raises.

    The contract first, then (with ``bounds``) the event-time bounds against the row's arrival
    (``kafka_timestamp``; ``too_old`` only for rows streamed from a contract topic), then the
    dimensions. An exception on the way is the reason ``validator_error:<ExceptionClass>``."""
    try:
        event = to_event(row, event_type)
        reason = validate(event, event_type)
        if reason is None and bounds is not None:
            reason = time_reason(event["event_time"], row, bounds)
        if reason is not None:
            return reason, None
        return dimension_verdict(row["store_id"], row["product_id"], row["event_time"], dims)
    except Exception as exc:  # the last line of defence: the row is quarantined, the load goes on
        return f"validator_error:{type(exc).__name__}", None


def time_reason(event_time: str, row: Mapping[str, Any], bounds: TimeBounds) -> str | None:
    """The event-time bounds of a bronze row whose contract (``event_time`` in its wire form) holds."""
    when = utc_time(event_time)
    if when is None:  # cannot happen after the contract; never let a bad time through
        return "bad_format:event_time"
    return bounds.reason(when, row.get("kafka_timestamp"), is_streamed(row.get("kafka_topic")))


def dimension_verdict(
    store_id: str, product_id: str, event_time: datetime, dims: Dimensions
) -> tuple[str | None, ProductVersion | None]:
    """The conformance half of ``verdict``, for a row that passed its contract.

    An unknown store is accepted (its inferred member is written by the load); an unknown product
    conforms to ``INFERRED_PRODUCT``. The only reason returned is ``no_product_version:product_id``
    (see the module docstring)."""
    if product_id not in dims.products:
        return None, INFERRED_PRODUCT
    version = dims.products.at(product_id, event_time)
    if version is None:
        return "no_product_version:product_id", None
    return None, version


def conform_batch(
    batch: pa.RecordBatch, event_type: str, dims: Dimensions, bounds: TimeBounds | None = None
) -> pa.RecordBatch:
    """A batch of bronze rows with the conformance columns appended (without ``bounds``, the contract
    and the dimensions only).

    Rows the vectorised pre-check (``contract_precheck``) passes skip the per-row validator; the others
    get ``verdict`` in full, so every reason is the validator's own."""
    n = batch.num_rows
    try:
        fast = valid_mask(batch, event_type, bounds)
    except NotVectorisable:
        fast = np.zeros(n, dtype=bool)
    flat = dims.products.flat()
    version = np.full(n, -1, dtype=np.int64)  # index into flat's columns; -1: no version
    reasons: list[str | None] = [None] * n
    rows = np.flatnonzero(fast)
    if len(rows):
        # The rows the pre-check vouches for: the dimension lookup of ``dimension_verdict`` for all of
        # them at once (their event_time is a valid, non-null timestamp).
        times = batch.column("event_time").take(pa.array(rows))
        times_us = pc.cast(times, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
        found = dims.products.at_many(batch.column("product_id").take(pa.array(rows)), times_us)
        version[rows] = found
        for i in rows[found < 0].tolist():
            reasons[i] = "no_product_version:product_id"
    slow = np.flatnonzero(~fast)
    if len(slow):
        for i, row in zip(slow.tolist(), batch.take(pa.array(slow)).to_pylist(), strict=True):
            reason, matched = verdict(row, event_type, dims, bounds)
            reasons[i] = reason
            if matched is not None:
                version[i] = flat.index_of(matched)
    picks = pa.array(version, mask=version < 0)
    conformed = {
        "rejection_reason": pa.array(reasons, pa.string()),
        "category": flat.category.take(picks),
        "supplier_id": flat.supplier_id.take(picks),
        "unit_cost": flat.unit_cost.take(picks),
        "product_valid_from": flat.valid_from.take(picks),
    }
    arrays = list(batch.columns) + [conformed[f.name].cast(f.type) for f in CONFORMED_FIELDS]
    return pa.RecordBatch.from_arrays(arrays, schema=_with_conformed(batch.schema))


def _with_conformed(schema: pa.Schema) -> pa.Schema:
    for f in CONFORMED_FIELDS:
        schema = schema.append(f)
    return schema


def conform_arrow_batches(
    batches: Iterable[pa.RecordBatch], event_type: str, dims: Dimensions, bounds: TimeBounds
) -> Iterator[pa.RecordBatch]:
    """The daily job's ``mapInArrow`` function (``partial(..., dims=..., bounds=...)``)."""
    for batch in batches:
        yield conform_batch(batch, event_type, dims, bounds)


def dimensions_from_rows(
    stores: Sequence[str], products: Iterable[Mapping[str, Any]], inferred_stores: Iterable[str] = ()
) -> Dimensions:
    return Dimensions(frozenset(stores), ProductVersions(products), frozenset(inferred_stores))
