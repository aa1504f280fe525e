"""The warehouse tables the stream writes (created by sql/0006_realtime.sql, 0016, 0018, 0028 and 0029): names,
insert columns and their ClickHouse types.

Inserts name their column types so clickhouse-connect does not DESCRIBE the table before each insert
(one round trip less per table per micro-batch). tests/unit/test_streaming_tables.py checks these
against the migration.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def column_types(self) -> list[str]:
        return [type_ for _, type_ in self.columns]


SALES_5MIN = Table(
    "rt_sales_5min",
    (
        ("store_id", "String"),
        ("product_id", "String"),
        ("window_start", "DateTime('UTC')"),
        ("units", "Int64"),
        ("revenue", "Decimal(18, 2)"),
        ("transactions", "UInt64"),
    ),
)

STOCK = Table(
    "rt_stock",
    (
        ("store_id", "String"),
        ("product_id", "String"),
        ("quantity", "Int64"),
        ("quantity_change", "Int64"),
        ("reason", "String"),
        ("event_time", "DateTime64(3, 'UTC')"),
        ("event_id", "String"),
        ("version", "UInt256"),
        ("batch_id", "UInt64"),
    ),
)

QUARANTINE = Table(
    "rt_quarantine",
    (
        ("source_topic", "String"),
        ("source_partition", "Int32"),
        ("source_offset", "Int64"),
        ("reason", "String"),
        ("raw_value", "String"),
        ("kafka_timestamp", "DateTime64(3, 'UTC')"),
        ("query_id", "String"),
        ("batch_id", "UInt64"),
    ),
)

RESTOCK_ALERTS = Table(
    "rt_restock_alerts",
    (
        ("event_id", "String"),
        ("event_time", "DateTime64(3, 'UTC')"),
        ("store_id", "String"),
        ("product_id", "String"),
        ("current_stock", "Int64"),
        ("reorder_point", "Int64"),
        ("recommended_quantity", "Nullable(Int64)"),
        ("source_event_id", "String"),
        ("query_id", "String"),
        ("batch_id", "UInt64"),
    ),
)

RESTOCK_STATE = Table(
    "rt_restock_state",
    (
        ("query_id", "String"),
        ("store_id", "String"),
        ("product_id", "String"),
        ("batch_id", "UInt64"),
        ("stock", "Int64"),
        ("event_time", "DateTime64(3, 'UTC')"),
        ("event_id", "String"),
        ("alerted", "UInt8"),
    ),
)

STREAM_BATCHES = Table(
    "ops_stream_batches",
    (
        ("query_name", "String"),
        ("query_id", "String"),
        ("batch_id", "UInt64"),
        ("started_at", "DateTime64(3, 'UTC')"),
        ("finished_at", "DateTime64(3, 'UTC')"),
        ("duration_ms", "UInt64"),
        ("input_rows", "Map(String, UInt64)"),
        ("input_total", "UInt64"),
        ("accepted", "UInt64"),
        ("accepted_by_type", "Map(String, UInt64)"),
        ("quarantined", "UInt64"),
        ("duplicates_dropped", "UInt64"),
        ("alerts", "UInt64"),
        ("rows_written", "Map(String, UInt64)"),
        ("max_event_time", "Nullable(DateTime64(3, 'UTC'))"),
        ("max_offsets", "Map(String, Int64)"),
        ("queryable_at", "Nullable(DateTime64(3, 'UTC'))"),
    ),
)

STREAM_OUTBOX = Table(
    "ops_stream_outbox",
    (
        ("query_id", "String"),
        ("batch_id", "UInt64"),
        ("topic", "String"),
        ("partition", "Int32"),
        ("start_offset", "Int64"),
    ),
)

# sql/0018_stream_event_ids.sql: accepted event ids, for late-duplicate lookups (late_duplicates.py).
EVENT_IDS = Table(
    "rt_event_ids",
    (
        ("early", "UInt8"),
        ("event_hour", "UInt32"),
        ("event_id", "String"),
        ("event_type", "String"),
        ("arrival", "DateTime64(3, 'UTC')"),
        ("query_id", "String"),
        ("batch_id", "UInt64"),
    ),
)

# sql/0016_late_arrivals.sql: accepted events per batch, event type and day appended to bronze (the
# daily load compares them with what it loaded, to find closed days that received late events).
STREAM_DAYS = Table(
    "ops_stream_days",
    (
        ("query_name", "String"),
        ("query_id", "String"),
        ("batch_id", "UInt64"),
        ("event_type", "String"),
        ("day", "Date"),
        ("events", "UInt64"),
    ),
)

# sql/0029_stream_anomalies.sql: anomalies, one row per episode opening and closing (anomalies.py, velocity.py).
ANOMALIES = Table(
    "rt_anomalies",
    (
        ("anomaly_id", "String"),
        ("kind", "String"),
        ("status", "String"),
        ("event_time", "DateTime64(3, 'UTC')"),
        ("store_id", "String"),
        ("product_id", "String"),
        ("observed", "Float64"),
        ("expected", "Float64"),
        ("lower", "Float64"),
        ("upper", "Float64"),
        ("source_event_id", "String"),
        ("query_id", "String"),
        ("batch_id", "UInt64"),
    ),
)

# sql/0029_stream_anomalies.sql: the detector's state per store/product, versioned by micro-batch.
ANOMALY_STATE = Table(
    "rt_anomaly_state",
    (
        ("query_id", "String"),
        ("store_id", "String"),
        ("product_id", "String"),
        ("batch_id", "UInt64"),
        ("level", "Nullable(Int64)"),
        ("event_time", "Nullable(DateTime64(3, 'UTC'))"),
        ("event_id", "String"),
        ("episode", "String"),
        ("sales_newest_time", "Nullable(DateTime64(3, 'UTC'))"),
        ("sales_first_time", "Nullable(DateTime64(3, 'UTC'))"),
        ("bucket_ms", "UInt32"),
        ("bucket_numbers", "Array(Int64)"),
        ("bucket_units", "Array(Int64)"),
        ("velocity_kind", "String"),
        ("velocity_episode", "String"),
    ),
)

ALL_TABLES: tuple[Table, ...] = (
    SALES_5MIN,
    STOCK,
    QUARANTINE,
    RESTOCK_ALERTS,
    RESTOCK_STATE,
    STREAM_BATCHES,
    STREAM_OUTBOX,
    EVENT_IDS,
    STREAM_DAYS,
    ANOMALIES,
    ANOMALY_STATE,
)
