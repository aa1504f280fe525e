"""The daily recomputation of one UTC day: bronze -> silver (+ quarantine) -> facts, watermark, DQ.

For day D, per event type (sales, inventory):
1. read D's bronze partition (every row that ever landed there, late arrivals included);
2. drop duplicate event_ids, keeping the first arrival (``conform.DEDUP_ORDER``);
3. re-validate with the contracts and conform to the dimensions (``conform``), in ``mapInArrow``;
4. write silver (accepted rows + product attributes) and quarantine (rejected rows + reason) for D
   with ``replaceWhere`` on D's partition: a re-run rewrites the same rows.
Then, on the driver (a day is at most ~1M rows): fact rows from silver (``facts``), input checks,
both facts replaced for D (``warehouse_load.replace_day``), the watermark row, and the post-load checks
(uniqueness of the loaded day, reconciliation with the speed layer). A failed check fails the run
after every check was recorded in dq_results.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import partial
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from retail_platform import lake
from retail_platform.batch import facts, quality
from retail_platform.batch import warehouse_load as wl
from retail_platform.batch.conform import DEDUP_ORDER, Dimensions, conform_arrow_batches
from retail_platform.batch.history import day_predicate
from retail_platform.events.contracts import EVENT_TYPES
from retail_platform.settings import Settings
from retail_platform.streaming.bronze import PARTITION_COLUMNS, SOURCES, event_columns, table_path
from retail_platform.streaming.columns import fields_of, spark_type
from retail_platform.warehouse.client import connect

log = logging.getLogger(__name__)

TYPES = ("sales_transaction", "inventory_update")
CONFORMED_SPARK = (
    T.StructField("rejection_reason", T.StringType()),
    T.StructField("category", T.StringType()),
    T.StructField("supplier_id", T.StringType()),
    T.StructField("unit_cost", T.DecimalType(18, 2)),
    T.StructField("product_valid_from", T.TimestampType()),
)


def silver_path(settings: Settings, event_type: str) -> str:
    return lake.uri(settings, "silver", SOURCES[event_type])


def quarantine_path(settings: Settings, event_type: str) -> str:
    return lake.uri(settings, "quarantine", "batch", SOURCES[event_type])


def bronze_schema(event_type: str) -> T.StructType:
    """The bronze table's schema (as the stream writes it), for days where the table is missing."""
    kinds = {c.name: c.kind for c in fields_of(EVENT_TYPES[event_type])}
    kinds |= {"kafka_topic": "string", "kafka_partition": "int", "kafka_offset": "long"}
    kinds |= {"kafka_timestamp": "timestamp", "batch_id": "long"}
    kinds |= dict.fromkeys(PARTITION_COLUMNS, "string")
    return T.StructType([T.StructField(c, spark_type(kinds[c]), True) for c in event_columns(event_type)])


def read_bronze_day(spark: SparkSession, settings: Settings, event_type: str, day: date) -> DataFrame:
    from delta.tables import DeltaTable

    path = table_path(settings, event_type)
    if not DeltaTable.isDeltaTable(spark, path):
        return spark.createDataFrame([], bronze_schema(event_type))
    frame = spark.read.format("delta").load(path).where(day_predicate(day))
    return frame.select(*event_columns(event_type))


@dataclass
class TypeResult:
    rows: int = 0
    complete: int = 0
    distinct_ids: int = 0
    accepted: int = 0
    quarantined: int = 0
    silver: Any = None  # pandas frame of the accepted rows


@dataclass
class DayResult:
    day: date
    batch_id: str
    types: dict[str, TypeResult] = field(default_factory=dict)
    sales_rows: int = 0
    inventory_rows: int = 0
    checks: list[quality.Check] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "batch_id": self.batch_id,
            "types": {t: {k: v for k, v in vars(r).items() if k != "silver"} for t, r in self.types.items()},
            "sales_rows": self.sales_rows,
            "inventory_rows": self.inventory_rows,
            "checks_failed": [c.name for c in self.checks if not c.passed],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def _write_day(frame: DataFrame, path: str, day: date) -> None:
    (
        frame.coalesce(1)
        .write.format("delta")
        .mode("overwrite")
        .partitionBy(*PARTITION_COLUMNS)
        .option("replaceWhere", day_predicate(day))
        .save(path)
    )


def process_type(spark: SparkSession, settings: Settings, event_type: str, day: date, dims: Dimensions) -> TypeResult:
    """Steps 1-4 for one event type; returns the counts and the day's silver rows (pandas)."""
    bronze = read_bronze_day(spark, settings, event_type, day)
    required = EVENT_TYPES[event_type].schema["required"]
    complete = F.when(F.expr(" AND ".join(f"{c} IS NOT NULL" for c in required)), 1).otherwise(0)
    stats = bronze.agg(
        F.count(F.lit(1)).alias("rows"), F.sum(complete).alias("complete"), F.count_distinct("event_id").alias("ids")
    ).first()
    result = TypeResult(rows=int(stats["rows"]), complete=int(stats["complete"] or 0), distinct_ids=int(stats["ids"]))

    order = [F.col(c).asc_nulls_last() for c in DEDUP_ORDER]
    first = Window.partitionBy("event_id").orderBy(*order)
    deduped = bronze.withColumn("_copy", F.row_number().over(first)).where("_copy = 1").drop("_copy")
    schema = T.StructType([*deduped.schema.fields, *CONFORMED_SPARK])
    conformed = deduped.mapInArrow(partial(conform_arrow_batches, event_type=event_type, dims=dims), schema)
    conformed = conformed.persist()
    try:
        accepted = conformed.where(F.col("rejection_reason").isNull()).drop("rejection_reason")
        rejected = conformed.where(F.col("rejection_reason").isNotNull())
        _write_day(accepted, silver_path(settings, event_type), day)
        _write_day(rejected, quarantine_path(settings, event_type), day)
        # Read back what silver now holds for the day: the facts are built from the record itself.
        silver = spark.read.format("delta").load(silver_path(settings, event_type)).where(day_predicate(day))
        result.silver = silver.toArrow().to_pandas(timestamp_as_object=False)
        result.accepted = len(result.silver)
        result.quarantined = int(rejected.count())
    finally:
        conformed.unpersist()
    return result


def new_batch_id(day: date) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"daily_etl:{day.isoformat()}:{stamp}:{uuid.uuid4().hex[:8]}"


def run_day(spark: SparkSession, settings: Settings, day: date, run_id: str = "") -> DayResult:
    """Recompute one day end to end; raises DataQualityError (after recording) when a check fails."""
    database = settings.clickhouse_database
    result = DayResult(day, new_batch_id(day))
    started = time.monotonic()
    client = connect(settings)
    try:
        dims = wl.dimensions(client, database)
        for event_type in TYPES:
            t0 = time.monotonic()
            result.types[event_type] = process_type(spark, settings, event_type, day, dims)
            result.seconds[f"spark:{event_type}"] = time.monotonic() - t0
        for event_type, r in result.types.items():
            result.checks += quality.input_checks(event_type, r.rows, r.complete, r.distinct_ids, r.accepted)
        failed_input = [c for c in result.checks if not c.passed]
        if failed_input:
            # Nothing is loaded from input that failed its checks: the facts keep their last good state.
            wl.record_checks(client, database, result.batch_id, day, result.checks)
            quality.raise_on_failure(day.isoformat(), result.checks)

        t0 = time.monotonic()
        sales = result.types["sales_transaction"].silver
        inventory = result.types["inventory_update"].silver
        sales_rows = facts.sales_rows(sales, day, result.batch_id)
        inventory_rows = facts.inventory_rows(
            day,
            inventory,
            sales,
            wl.previous_snapshots(client, database, day),
            wl.reorder_policy(client, database),
            dims.products,
            result.batch_id,
        )
        result.seconds["facts"] = time.monotonic() - t0
        t0 = time.monotonic()
        result.sales_rows = wl.replace_day(client, database, "fact_sales", day, sales_rows)
        result.inventory_rows = wl.replace_day(client, database, "fact_inventory", day, inventory_rows)
        result.seconds["load"] = time.monotonic() - t0
        types = result.types.values()
        wl.record_watermark(
            client,
            database,
            day,
            result.batch_id,
            run_id,
            bronze_rows=sum(r.rows for r in types),
            duplicates_dropped=sum(r.rows - r.distinct_ids for r in types),
            quarantined_rows=sum(r.quarantined for r in types),
            sales_rows=result.sales_rows,
            inventory_rows=result.inventory_rows,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        totals = wl.sales_totals(client, database, day)
        result.checks += quality.fact_checks(totals["rows"], totals["distinct_sale_ids"])
        result.checks += quality.reconciliation_checks(
            totals["units"], totals["revenue"], totals["speed_units"], totals["speed_revenue"]
        )
        wl.record_checks(client, database, result.batch_id, day, result.checks)
        result.seconds["total"] = time.monotonic() - started
        log.info("daily_etl %s: %s", day, result.summary())
        quality.raise_on_failure(day.isoformat(), result.checks)
        return result
    finally:
        client.close()
