"""The columns of a parsed Kafka record, derived from the event contracts.

A parsed record carries its Kafka coordinates, the contract verdict and one typed column per contract
field. Fields are the union over the input topics' schemas: a field shared by two types (``reason`` of
inventory_update and price_change) must have the same column type in both, which ``event_fields()``
checks. The batch layer reads the bronze tables with these same names and types.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from retail_platform import topics
from retail_platform.events.contracts import EVENT_TYPES, EventType, event_type_for_topic

if TYPE_CHECKING:  # pyspark is imported where a schema is built, not with this module
    from pyspark.sql.types import DataType, StructType

# The topics the stream consumes; restock alerts are its output, the dead-letter topic its reject pile.
INPUT_TOPICS: tuple[topics.Topic, ...] = (topics.SALES, topics.INVENTORY, topics.PRICES, topics.PURCHASE_ORDERS)

# Column kinds: one vocabulary mapped to Arrow (the parse function) and Spark (the stream's schema).
_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int32(),
    "long": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "binary": pa.binary(),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.kind]


# Kafka coordinates and the verdict. kafka_key and raw_value are kept only for rejected records (the
# dead-letter message repeats them); accepted records are fully described by their typed fields.
META_COLUMNS: tuple[Column, ...] = (
    Column("topic", "string"),
    Column("partition", "int"),
    Column("offset", "long"),
    Column("kafka_timestamp", "timestamp"),
    Column("kafka_key", "binary"),
    Column("event_type", "string"),
    Column("dedup_key", "string"),
    Column("rejection_reason", "string"),
    Column("raw_value", "binary"),
)


def input_event_type(topic: str) -> EventType:
    """The event type a topic carries (the contract's ``expected_type`` for validation)."""
    return event_type_for_topic(topic)


def _kind(rule: dict[str, Any]) -> str:
    """The column kind of one JSON-schema property of the contracts."""
    if "const" in rule:
        value = rule["const"]
        return "int" if isinstance(value, int) and not isinstance(value, bool) else "string"
    if "enum" in rule:
        if not all(isinstance(v, str) for v in rule["enum"]):
            raise ValueError(f"enum {rule['enum']} is not all strings; add a column kind for it")
        return "string"
    declared = rule.get("type")
    kinds = [t for t in (declared if isinstance(declared, list) else [declared]) if t != "null"]
    if len(kinds) != 1 or not isinstance(kinds[0], str):
        raise ValueError(f"property {rule} has no single non-null type")
    kind = kinds[0]
    if kind == "string":
        return "timestamp" if rule.get("format") == "date-time" else "string"
    return {"integer": "long", "number": "double", "boolean": "boolean"}[kind]


def fields_of(event_type: EventType) -> tuple[Column, ...]:
    """The typed columns of one event type, in schema order."""
    return tuple(Column(name, _kind(rule)) for name, rule in event_type.schema["properties"].items())


@cache
def event_fields() -> tuple[Column, ...]:
    """The union of the input types' fields, first appearance first; a shared name must share its kind."""
    seen: dict[str, Column] = {}
    for topic in INPUT_TOPICS:
        for column in fields_of(input_event_type(topic.name)):
            known = seen.get(column.name)
            if known is None:
                seen[column.name] = column
            elif known.kind != column.kind:
                raise ValueError(f"field {column.name} is {known.kind} in one contract and {column.kind} in another")
    # event_type is a meta column (set for rejected records too: the type their topic carries).
    return tuple(c for c in seen.values() if c.name != "event_type")


@cache
def parsed_columns() -> tuple[Column, ...]:
    return META_COLUMNS + event_fields()


def arrow_schema() -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow_type) for c in parsed_columns()])


def spark_type(kind: str) -> DataType:
    from pyspark.sql import types as T

    return {
        "string": T.StringType(),
        "int": T.IntegerType(),
        "long": T.LongType(),
        "double": T.DoubleType(),
        "boolean": T.BooleanType(),
        "timestamp": T.TimestampType(),
        "binary": T.BinaryType(),
    }[kind]


def spark_schema() -> StructType:
    """The StructType of the parse function's output (``mapInArrow`` needs it up front)."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField(c.name, spark_type(c.kind), True) for c in parsed_columns()])


def alert_fields() -> tuple[Column, ...]:
    return fields_of(EVENT_TYPES["restock_alert"])
