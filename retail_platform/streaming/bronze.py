"""Accepted events and restock alerts appended to the lake's bronze zone as Delta tables.

Layout: ``raw-data/{sales,inventory,prices,events,orders}/year=YYYY/month=MM/day=DD/`` by the UTC day of
event_time (a late event lands in its own, old day, where the batch layer recomputing that day finds it).

Exactly once: each append carries ``txnAppId`` = "<query name>:<query id>" and ``txnVersion`` = the
batch id; Delta records the pair in the same commit and skips an append whose version it already
has, so a replayed micro-batch writes nothing twice. Small files: each day of a micro-batch becomes
exactly one file. The tables are appended concurrently (separate Delta logs; one table's commit
latency overlaps the others' work).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from retail_platform import lake
from retail_platform.events.contracts import EVENT_TYPES
from retail_platform.settings import Settings
from retail_platform.streaming.alerts import Alert
from retail_platform.streaming.columns import alert_fields, fields_of, spark_type

# event type -> bronze source folder (lake.RAW_SOURCES)
SOURCES: dict[str, str] = {
    "sales_transaction": "sales",
    "inventory_update": "inventory",
    "price_change": "prices",
    "restock_alert": "events",
    "purchase_order": "orders",
}
PARTITION_COLUMNS = ("year", "month", "day")
# Where each row came from: enough to find it again in Kafka and in the job's ops rows.
LINEAGE_COLUMNS = ("kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp", "batch_id")


def table_path(settings: Settings, event_type: str) -> str:
    return lake.uri(settings, "raw-data", SOURCES[event_type])


def event_columns(event_type: str) -> list[str]:
    """Columns of an event type's bronze table: the contract's fields, lineage, then the day."""
    return [c.name for c in fields_of(EVENT_TYPES[event_type])] + list(LINEAGE_COLUMNS) + list(PARTITION_COLUMNS)


def with_day(df: DataFrame) -> DataFrame:
    """year/month/day partition columns from event_time, zero-padded (year=2025/month=01/day=07)."""
    return (
        df.withColumn("year", F.date_format("event_time", "yyyy"))
        .withColumn("month", F.date_format("event_time", "MM"))
        .withColumn("day", F.date_format("event_time", "dd"))
    )


class DeltaBronze:
    def __init__(self, settings: Settings, app_id: str) -> None:
        self.settings = settings
        self.app_id = app_id

    def _append(self, df: DataFrame, event_type: str, batch_id: int) -> None:
        # One task writes the batch's rows of this type; Spark's writer sorts them by the partition
        # columns, so each day gets exactly one file (no shuffle, unlike repartition: the micro-batch
        # is a few thousand to 100k rows, one task handles that in well under a second).
        (
            df.coalesce(1)
            .write.format("delta")
            .mode("append")
            .partitionBy(*PARTITION_COLUMNS)
            .option("txnAppId", self.app_id)
            .option("txnVersion", str(batch_id))
            .save(table_path(self.settings, event_type))
        )

    def _event_rows(self, df: DataFrame, event_type: str, batch_id: int, skip: frozenset[str]) -> DataFrame:
        rows = df.where((F.col("row_kind") == "event") & F.col("rejection_reason").isNull())
        if skip:  # late duplicates the batch dropped (a handful: a literal IN list)
            rows = rows.where(~F.col("event_id").isin(sorted(skip)))
        rows = (
            rows.where(F.col("event_type") == event_type)
            .withColumnRenamed("topic", "kafka_topic")
            .withColumnRenamed("partition", "kafka_partition")
            .withColumnRenamed("offset", "kafka_offset")
            .withColumn("batch_id", F.lit(batch_id).cast("long"))
        )
        return with_day(rows).select(*event_columns(event_type))

    def _alert_rows(self, spark: SparkSession, alerts: Sequence[Alert], batch_id: int) -> DataFrame:
        from pyspark.sql import types as T

        fields = [T.StructField(c.name, spark_type(c.kind), True) for c in alert_fields()]
        fields += [T.StructField("source_event_id", T.StringType()), T.StructField("batch_id", T.LongType())]
        rows: list[tuple[Any, ...]] = []
        for alert in alerts:
            event = alert.to_event()
            event["event_time"] = alert.event_time
            rows.append(tuple(event[c.name] for c in alert_fields()) + (alert.source_event_id, batch_id))
        return with_day(spark.createDataFrame(rows, T.StructType(fields)))

    def write(
        self,
        df: DataFrame,
        batch_id: int,
        counts: dict[str, int],
        alerts: Sequence[Alert],
        skip: frozenset[str] = frozenset(),
    ) -> dict[str, int]:
        """Append the batch's accepted events per type (but ``skip``) and its alerts, the tables
        concurrently. ``counts`` (accepted per type, without ``skip``) is known already, so empty types
        cost no Spark job."""
        appends: dict[str, tuple[str, Any]] = {}
        for event_type in ("sales_transaction", "inventory_update", "price_change", "purchase_order"):
            if counts.get(event_type):
                appends[event_type] = (event_type, self._event_rows(df, event_type, batch_id, skip))
        if alerts:
            appends["restock_alert"] = ("restock_alert", self._alert_rows(df.sparkSession, alerts, batch_id))
        with ThreadPoolExecutor(max_workers=max(1, len(appends)), thread_name_prefix="bronze") as pool:
            futures = [pool.submit(self._append, rows, event_type, batch_id) for event_type, rows in appends.values()]
            for future in futures:
                future.result()  # re-raises the first failure: the batch fails and is replayed
        written = {f"raw-data/{SOURCES[t]}": counts[t] for t in appends if t != "restock_alert"}
        if alerts:
            written["raw-data/events"] = len(alerts)
        return written


class BoundBronze:
    """DeltaBronze bound to one micro-batch (the ``batch.Bronze`` protocol)."""

    def __init__(self, bronze: DeltaBronze, df: DataFrame, batch_id: int, counts: dict[str, int]) -> None:
        self.bronze, self.df, self.batch_id, self.counts = bronze, df, batch_id, counts

    def write(self, alerts: list[Alert], skip_event_ids: frozenset[str] = frozenset()) -> dict[str, int]:
        return self.bronze.write(self.df, self.batch_id, self.counts, alerts, skip_event_ids)
