"""Historical sales files -> ``sales_transaction`` rows of the lake's bronze sales table.

Bronze is the single source of truth of sales: imported rows land where the stream's rows land, in
the same columns and day partitions, and ``daily_etl`` recomputes their days like any other (it drops
duplicate event ids and conforms to the dimensions; its facts are the record, not this import).

Per row (``to_events``): the mapped columns are cleaned (cleaning.py), the store resolved (a column,
its ``locations`` map, or the mapping's one ``store_id``), and the row becomes a contract event that
must pass ``contracts.validate`` like a POS event, so bronze never holds what the stream would refuse
(quantity 1..1000, product ids SKUnnnn, ...). A row that fails is a ``Reject`` with its reason.

Identity: ``event_id = uuid5(NAMESPACE, source | transaction_id | line)`` where ``line`` is the
mapped line column or else the product. A re-import of the same sales (the same file again, a
corrected file, the same rows in another file of the same source) produces the same ids, and the write
(``bronze_write.merge_events``) is a Delta MERGE on event_id: a row already there is left alone, or
updated if a corrected file changed it. A second row with an identity already seen in the same file
is quarantined as ``duplicate:transaction_line``: which of two conflicting copies is right is not
guessable.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
from clickhouse_connect.driver.client import Client

from retail_platform.events.contracts import validate
from retail_platform.settings import Settings
from retail_platform.sources import cleaning
from retail_platform.sources.cleaning import BadValue
from retail_platform.sources.mapping import SalesMapping, find_mapping
from retail_platform.sources.readers import ReadResult, Record, read_file
from retail_platform.sources.report import FileLoad, Reject
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
    if value is None:
        value = mapping.defaults.get(canonical)
    return value


def _store(record: Record, mapping: SalesMapping) -> str:
    if mapping.store_id is not None:
        return mapping.store_id
    value = cleaning.text(_field(record, mapping, "store"))
    if value is None:
        raise BadValue("missing_field", "empty")
    if mapping.locations:
        if value not in mapping.locations:
            raise BadValue("unknown_location", f"{value!r} is not in the mapping's locations")
        return mapping.locations[value]
    return value


def to_event(record: Record, mapping: SalesMapping) -> dict[str, Any]:
    """The contract event of one row; raises BadValue with ``code`` '<code>:<field>'."""
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
        quantity = cleaning.integer(_field(record, mapping, "quantity"))
        current = "unit_price"
        price = cleaning.money(_field(record, mapping, "unit_price"))
        current = "timestamp"
        when = cleaning.timestamp(_field(record, mapping, "timestamp"), mapping.timestamp_formats, mapping.timezone)
    except BadValue as exc:
        raise BadValue(f"{exc.code}:{current}", exc.detail) from None
    product_id = str(texts["product_id"]).upper()
    transaction_id = str(texts["transaction_id"])
    line = texts["line"] or product_id
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
        "payment_method": str(texts["payment_method"]).lower().replace(" ", "_"),
    }


def contract_reason(event: Mapping[str, Any]) -> str | None:
    """The contract's verdict on the event (event_time in its wire form, null optionals left out)."""
    wire = {k: v for k, v in event.items() if v is not None}
    wire["event_time"] = event["event_time"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return validate(wire, EVENT_TYPE)


def to_events(read: ReadResult, mapping: SalesMapping) -> Converted:
    out = Converted()
    seen: set[str] = set()
    for record in read.records:
        if record.error:
            out.rejects.append(Reject(record.line, record.raw, record.error))
            continue
        try:
            event = to_event(record, mapping)
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
    return out


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


def _event_type(name: str) -> Any:
    from retail_platform.events.contracts import EVENT_TYPES

    return EVENT_TYPES[name]


def file_batch_id(sha256: str) -> int:
    """A bronze batch_id naming the file (lineage): the first 60 bits of its hash, a positive long."""
    return int(sha256[:15], 16)


def convert_file(path: Path, mapping: SalesMapping) -> tuple[ReadResult, Converted]:
    read = read_file(path, mapping.format, mapping.delimiter)
    mapping.check_columns(read.columns, path.name)
    return read, to_events(read, mapping)


def handle_file(client: Client, database: str, settings: Settings, spark: Any, mapping_override: Any = None) -> Any:
    """The landing handler of historical sales files (``landing.ingest``): convert, then MERGE into
    bronze; the load's affected_days are the days daily_etl must recompute."""
    from retail_platform.sources.bronze_write import merge_events

    def handle(path: Path, load: FileLoad) -> list[Reject]:
        mapping = find_mapping(path, mapping_override)
        read, converted = convert_file(path, mapping)
        table = bronze_table(
            converted.events, f"landing:{mapping.source}", file_batch_id(load.sha256), datetime.now(timezone.utc)
        )
        written = merge_events(spark, settings, EVENT_TYPE, table)
        load.rows_read, load.blank_lines, load.header_lines = read.rows_read, read.blank_lines, read.header_lines
        load.rows_loaded = len(converted.events)
        load.details = {"bronze_inserted": written["inserted"], "bronze_updated": written["updated"]}
        load.affected_days = converted.days
        return converted.rejects

    return handle
