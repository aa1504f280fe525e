"""Historical sales files -> ``sales_transaction`` rows of the lake's bronze sales table.

Bronze is the single source of truth of sales: imported rows land where the stream's rows land, in
the same columns and day partitions, and ``daily_etl`` recomputes their days like any other (it drops
duplicate event ids and conforms to the dimensions; its facts are the record, not this import).

Per row (``to_events``): the mapped columns are cleaned (cleaning.py), the store resolved (a column,
optionally cut by ``store_pattern``'s capture group, then its ``locations`` map, or the mapping's one
``store_id``), the product resolved (the key as written, or looked up in the current catalogue by
name or key when the mapping has ``product_lookup``: ``ProductLookup``), and the row becomes a contract
event that must pass ``contracts.validate`` like a POS event, so bronze never holds what the stream
would refuse (quantity 1..1000, keys by the key rule, ...). A row that fails is a ``Reject`` with its
reason.

Identity: ``event_id = uuid5(NAMESPACE, source | transaction_id | line)``. ``line`` is the mapped
line column; a file without one (an online shop's order log: one line per product, an order's lines
sharing its id) identifies a line by its product text (upper case) and its ordinal among the lines of
the same (transaction, product) in file order: the first keeps the bare product (the ids of files
imported before ordinals existed do not change), the second gets ``#2``, ... A second line of the same
product with another quantity is a real line and is loaded; an exact copy of an earlier record (every
mapped value equal) is a duplicate, quarantined as ``duplicate:record``. A re-import of the same sales
(the same file again, a corrected file, the same rows in another file of the same source) produces the
same ids, and the write (``bronze_write.merge_events``) is a Delta MERGE on event_id: a row already
there is left alone, or updated if a corrected file changed it. With a line column, a second row with
an identity already seen in the file is quarantined as ``duplicate:transaction_line``: which of two
conflicting copies is right is not guessable.

A file that is not what its mapping says fails as a whole (``FileFormatError``) instead of
quarantining every row: when most rows (``MOSTLY_WRONG``) fail on the field count or on the timestamp
format, the delimiter or the timestamp_format is wrong.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from retail_platform.events.contracts import EventType, validate
from retail_platform.settings import Settings
from retail_platform.sources import cleaning
from retail_platform.sources.cleaning import BadValue
from retail_platform.sources.landing import Handler
from retail_platform.sources.mapping import SalesMapping, find_mapping
from retail_platform.sources.readers import FileFormatError, ReadResult, Record, read_file
from retail_platform.sources.report import FileLoad, Reject, reason_counts
from retail_platform.streaming.columns import fields_of

EVENT_TYPE = "sales_transaction"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "retail-platform:batch-sources:sales")


def event_id(source: str, transaction_id: str, line: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{source}\x1f{transaction_id}\x1f{line}"))


@dataclass
class Converted:
    """The accepted events (contract dicts with event_time as a datetime) and the rejects."""

    events: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    @property
    def days(self) -> list[date]:
        return sorted({e["event_time"].date() for e in self.events})


def _field(record: Record, mapping: SalesMapping, canonical: str) -> Any:
    column = mapping.column(canonical)
    value = record.values.get(column) if column else None
    if canonical == "transaction_id" and mapping.transaction_parts and value is not None:
        # A composite id (till + receipt): numbers that restart per till stay apart.
        parts = [record.values.get(c) for c in mapping.transaction_parts]
        if any(p is None for p in parts):
            return None
        value = "/".join(str(v) for v in (value, *parts))
    if value is None:
        value = mapping.defaults.get(canonical)
    return value


def _normal(text: str) -> str:
    """How a lookup compares texts: case-folded, whitespace runs collapsed, trimmed."""
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class ProductLookup:
    """The current catalogue's products by the normalised text of one column (``by``). A text two
    products share is ambiguous: such rows are quarantined, not guessed."""

    by: str
    unmatched: str = "quarantine"
    products: Mapping[str, str] = field(default_factory=dict)  # normalised text -> product_id
    ambiguous: frozenset[str] = frozenset()

    @classmethod
    def build(cls, by: str, unmatched: str, rows: Sequence[tuple[str, str]]) -> ProductLookup:
        """``rows``: (product_id, the ``by`` column's text) of the current catalogue."""
        found: dict[str, str] = {}
        ambiguous: set[str] = set()
        for product_id, text in rows:
            key = _normal(str(text))
            if not key:
                continue  # a product without that code (a catalogue's empty barcode) is found by no text
            if key in found and found[key] != product_id:
                ambiguous.add(key)
            found[key] = product_id
        return cls(by, unmatched, {k: v for k, v in found.items() if k not in ambiguous}, frozenset(ambiguous))

    @classmethod
    def from_catalogue(cls, client: Client, database: str, by: str, unmatched: str) -> ProductLookup:
        rows = client.query(
            f"SELECT product_id, {by} FROM {database}.dim_product FINAL WHERE is_current AND NOT is_inferred"
        ).result_rows
        return cls.build(by, unmatched, [(str(a), str(b)) for a, b in rows])

    def resolve(self, text: str) -> str:
        key = _normal(text)
        if key in self.ambiguous:
            raise BadValue("ambiguous_product", f"{text!r} names several products by {self.by}")
        found = self.products.get(key)
        if found is not None:
            return found
        if self.unmatched == "infer":
            return cleaning.key(text)  # an inferred member of the daily load, flagged there
        raise BadValue("unknown_product", f"no current catalogue product has {self.by} {text!r}")


def _store(record: Record, mapping: SalesMapping) -> str:
    if mapping.store_id is not None:
        return mapping.store_id
    value = cleaning.text(_field(record, mapping, "store"))
    if value is None:
        raise BadValue("missing_field", "empty")
    if mapping.store_pattern is not None:
        match = mapping.store_pattern.search(value)
        if match is None or not match.group(1):
            raise BadValue("unknown_location", f"{value!r} does not match store_pattern")
        value = match.group(1).strip()
    if mapping.locations:
        if value not in mapping.locations:
            raise BadValue("unknown_location", f"{value!r} is not in the mapping's locations")
        return mapping.locations[value]
    return cleaning.key(value)


def to_event(
    record: Record, mapping: SalesMapping, lookup: ProductLookup | None = None, ordinal: int = 1
) -> dict[str, Any]:
    """The contract event of one row; raises BadValue with ``code`` '<code>:<field>'. ``ordinal``: the
    row's position among the file's lines of the same (transaction, product) (module docstring)."""
    current = "store"
    try:
        store_id = _store(record, mapping)
        texts: dict[str, str | None] = {}
        for name in ("transaction_id", "product_id", "payment_method", "customer_id", "line"):
            current = name
            texts[name] = cleaning.text(_field(record, mapping, name))
        for name in ("transaction_id", "product_id", "payment_method"):
            if texts[name] is None:
                current = name
                raise BadValue("missing_field", "empty")
        for name in ("quantity", "unit_price", "timestamp"):
            if _field(record, mapping, name) is None:
                current = name
                raise BadValue("missing_field", "empty")
        current = "quantity"
        quantity = cleaning.integer(_field(record, mapping, "quantity"), mapping.decimal_comma)
        current = "unit_price"
        price = cleaning.money(_field(record, mapping, "unit_price"), mapping.decimal_comma)
        current = "timestamp"
        when = cleaning.timestamp(_field(record, mapping, "timestamp"), mapping.timestamp_formats, mapping.timezone)
        current = "product_id"
        source_product = str(texts["product_id"])
        product_id = lookup.resolve(source_product) if lookup is not None else cleaning.key(source_product)
    except BadValue as exc:
        raise BadValue(f"{exc.code}:{current}", exc.detail) from None
    transaction_id = str(texts["transaction_id"])
    line = texts["line"] or source_product.upper()
    if not texts["line"] and ordinal > 1:
        line = f"{line}#{ordinal}"
    return {
        "event_id": event_id(mapping.source, transaction_id, line),
        "event_type": EVENT_TYPE,
        "schema_version": 1,
        "event_time": when.replace(microsecond=when.microsecond // 1000 * 1000),  # the contracts' ms precision
        "store_id": store_id,
        "product_id": product_id,
        "transaction_id": transaction_id,
        "quantity": quantity,
        "unit_price": float(price),
        "customer_id": texts["customer_id"],
        "payment_method": _payment(str(texts["payment_method"]), mapping),
    }


def _payment(text: str, mapping: SalesMapping) -> str:
    mapped = mapping.payment_methods.get(text)
    if mapped is None:
        folded = _normal(text)
        mapped = next((v for k, v in mapping.payment_methods.items() if _normal(k) == folded), text)
    return mapped.lower().replace(" ", "_")


def contract_reason(event: Mapping[str, Any]) -> str | None:
    """The contract's verdict on the event (event_time in its wire form, null optionals left out)."""
    wire = {k: v for k, v in event.items() if v is not None}
    wire["event_time"] = event["event_time"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return validate(wire, EVENT_TYPE)


# A file whose rows mostly fail on the field count or the timestamp format is not what its mapping
# says (wrong delimiter, wrong timestamp_format): the file fails instead of quarantining everything.
MOSTLY_WRONG = 0.5
_SHAPE_REASONS = ("malformed:field_count", "bad_date:timestamp")


def _identity_key(record: Record, mapping: SalesMapping) -> tuple[str, str] | None:
    """(transaction, product text) as the ordinal counts them, or None when the row lacks either."""
    txn = cleaning.text(_field(record, mapping, "transaction_id"))
    product = cleaning.text(_field(record, mapping, "product_id"))
    return (txn, product.upper()) if txn and product else None


def to_events(
    read: ReadResult, mapping: SalesMapping, lookup: ProductLookup | None = None, file: str = ""
) -> Converted:
    out = Converted()
    seen: set[str] = set()
    ordinals: dict[tuple[str, str], int] = {}
    copies: set[tuple[Any, ...]] = set()
    has_line = mapping.column("line") is not None
    mapped = sorted(set(mapping.columns.values()))
    for record in read.records:
        if record.error:
            out.rejects.append(Reject(record.line, record.raw, record.error))
            continue
        ordinal = 1
        if not has_line:
            identity = _identity_key(record, mapping)
            if identity is not None:
                whole = tuple(record.values.get(c) for c in mapped)
                if whole in copies:
                    detail = f"an exact copy of an earlier record of transaction {identity[0]}"
                    out.rejects.append(Reject(record.line, record.raw, "duplicate:record", detail))
                    continue
                copies.add(whole)
                ordinal = ordinals[identity] = ordinals.get(identity, 0) + 1
        try:
            event = to_event(record, mapping, lookup, ordinal)
        except BadValue as exc:
            out.rejects.append(Reject(record.line, record.raw, exc.code, exc.detail))
            continue
        reason = contract_reason(event)
        if reason:
            out.rejects.append(Reject(record.line, record.raw, reason))
            continue
        if event["event_id"] in seen:
            detail = f"transaction {event['transaction_id']} line {event['product_id']} appears earlier in the file"
            out.rejects.append(Reject(record.line, record.raw, "duplicate:transaction_line", detail))
            continue
        seen.add(event["event_id"])
        out.events.append(event)
    _check_shape(out, read, mapping, file)
    return out


def _check_shape(out: Converted, read: ReadResult, mapping: SalesMapping, file: str) -> None:
    if read.rows_read < 4:  # too few rows to tell a wrong file from a few bad rows
        return
    for reason in _SHAPE_REASONS:
        failed = sum(1 for r in out.rejects if r.reason == reason)
        if failed > MOSTLY_WRONG * read.rows_read:
            fix = (
                "its delimiter"
                if reason.startswith("malformed")
                else f"timestamp_format {list(mapping.timestamp_formats)}"
            )
            example = next(r.raw for r in out.rejects if r.reason == reason)
            raise FileFormatError(
                f"{file or 'the file'}: {failed} of {read.rows_read} rows fail with {reason}, so the file is not "
                f"what its mapping ({mapping.origin}) says; check {fix} (first such row: {example[:120]!r})"
            )


def daily_revenue(events: Sequence[Mapping[str, Any]]) -> dict[date, Decimal]:
    """Revenue loaded per UTC day (quantity x unit price, to the cent), to compare with the source."""
    out: dict[date, Decimal] = {}
    for e in events:
        day = e["event_time"].date()
        out[day] = out.get(day, Decimal(0)) + Decimal(e["quantity"]) * Decimal(str(e["unit_price"]))
    return dict(sorted(out.items()))


def bronze_table(
    events: Sequence[Mapping[str, Any]], topic: str, batch_id: int, loaded_at: datetime, event_type: str = EVENT_TYPE
) -> pa.Table:
    """Bronze rows of events of one type: contract columns, then lineage with
    ``kafka_topic`` = the source label, ``kafka_offset`` = the row's position, ``kafka_timestamp`` =
    the load time (the row's arrival), ``batch_id`` = the file's id. Partition columns come in Spark."""
    columns: dict[str, pa.Array] = {}
    for column in fields_of(_event_type(event_type)):
        columns[column.name] = pa.array([e.get(column.name) for e in events], type=column.arrow_type)
    n = len(events)
    columns |= {
        "kafka_topic": pa.array([topic] * n, type=pa.string()),
        "kafka_partition": pa.array([0] * n, type=pa.int32()),
        "kafka_offset": pa.array(range(n), type=pa.int64()),
        "kafka_timestamp": pa.array([loaded_at] * n, type=pa.timestamp("us", tz="UTC")),
        "batch_id": pa.array([batch_id] * n, type=pa.int64()),
    }
    return pa.table(columns)


def _event_type(name: str) -> EventType:
    from retail_platform.events.contracts import EVENT_TYPES

    return EVENT_TYPES[name]


def file_batch_id(sha256: str) -> int:
    """A bronze batch_id naming the file (lineage): the first 60 bits of its hash, a positive long."""
    return int(sha256[:15], 16)


def convert_file(
    path: Path, mapping: SalesMapping, lookup: ProductLookup | None = None
) -> tuple[ReadResult, Converted]:
    read = read_file(path, mapping.format, mapping.delimiter)
    mapping.check_columns(read.columns, path.name)
    if mapping.lookup_by is not None and lookup is None:
        raise ValueError(
            f"{mapping.origin} looks products up by {mapping.lookup_by}: pass the catalogue's ProductLookup"
        )
    return read, to_events(read, mapping, lookup, path.name)


def handle_file(
    client: Client, database: str, settings: Settings, spark: Any, mapping_override: SalesMapping | None = None
) -> Handler:
    """The landing handler of historical sales files (``landing.ingest``): convert, then MERGE into
    bronze; the load's affected_days are the days daily_etl must recompute."""
    from retail_platform.sources.bronze_write import merge_events

    def handle(path: Path, load: FileLoad) -> list[Reject]:
        mapping = find_mapping(path, mapping_override)
        lookup = None
        if mapping.lookup_by is not None:
            lookup = ProductLookup.from_catalogue(client, database, mapping.lookup_by, mapping.lookup_unmatched)
        read, converted = convert_file(path, mapping, lookup)
        table = bronze_table(
            converted.events, f"landing:{mapping.source}", file_batch_id(load.sha256), datetime.now(timezone.utc)
        )
        written = merge_events(spark, settings, EVENT_TYPE, table)
        load.rows_read, load.blank_lines, load.header_lines = read.rows_read, read.blank_lines, read.header_lines
        load.rows_loaded = len(converted.events)
        load.details = {"bronze_inserted": written["inserted"], "bronze_updated": written["updated"]}
        # Per reason and per day, so a user can compare with their source system (details is a map of
        # counts: revenue in cents).
        load.details |= {f"quarantined:{k}": v for k, v in reason_counts(converted.rejects).items()}
        load.details |= {
            f"revenue_cents:{d.isoformat()}": int(r * 100) for d, r in daily_revenue(converted.events).items()
        }
        load.affected_days = converted.days
        return converted.rejects

    return handle
