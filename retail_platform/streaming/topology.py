"""The streaming plan, and collecting one micro-batch of it on the driver.

    Kafka ─┬─ mapInArrow(parse) ─ arrival ─ watermark ─ dropDuplicatesWithinWatermark ─┐
           └─ (topic, partition, offset): the tally ─────────────────────────────────────┴─ union ─ foreachBatch

The tally branch reads the same offsets again (cheap, no parsing) so each micro-batch knows what it
consumed before deduplication: input - accepted - quarantined = duplicates dropped, exactly.

Deduplication is on arrival time, never on event_time: a late event (event_time days ago) is a real
sale the ground truth counts. Arrival is the Kafka timestamp clamped into
[batch time - watermark + 1 minute, batch time]:
- the upper bound stops a producer with a fast clock from pushing the watermark ahead (which would
  silently drop everything arriving on time as "late");
- the lower bound keeps a backlog (catching up after downtime, records hours old) above the watermark,
  because Spark's deduplication drops rows older than the watermark outright, uncounted.
In steady state arrival is the Kafka timestamp itself. ``current_timestamp()`` is the batch's
timestamp, recorded in the checkpoint's offset log, so a replayed batch sees the same values.
"""

from __future__ import annotations

from functools import partial

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from retail_platform.events.time_bounds import TimeBounds
from retail_platform.kafka_security import spark_options
from retail_platform.settings import Settings
from retail_platform.streaming.batch import COLLECTED_COLUMNS, ROW_KIND, CollectedBatch
from retail_platform.streaming.columns import INPUT_TOPICS, spark_schema
from retail_platform.streaming.config import StreamConfig
from retail_platform.streaming.parse import parse_arrow_batches


def kafka_source(spark: SparkSession, settings: Settings, config: StreamConfig) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
        .option("subscribe", ",".join(t.name for t in INPUT_TOPICS))
        .option("startingOffsets", config.starting_offsets)
        .option("maxOffsetsPerTrigger", str(config.max_offsets_per_trigger))
        .option("failOnDataLoss", str(config.fail_on_data_loss).lower())
        .options(**spark_options(settings))
        .load()
    )


def arrival_time(watermark: str) -> Column:
    """The Kafka timestamp clamped into [batch time - watermark + 1 minute, batch time]."""
    now = F.current_timestamp()
    floor = now - F.expr(f"INTERVAL {watermark}") + F.expr("INTERVAL 1 MINUTE")
    return F.least(F.greatest(F.col("kafka_timestamp"), floor), now)


def build(spark: SparkSession, settings: Settings, config: StreamConfig) -> DataFrame:
    source = kafka_source(spark, settings, config)
    events = (
        source.select("topic", "partition", "offset", "timestamp", "key", "value")
        .mapInArrow(partial(parse_arrow_batches, bounds=TimeBounds.from_settings(settings)), spark_schema())
        .withColumn("arrival", arrival_time(config.dedup_watermark))
        .withWatermark("arrival", config.dedup_watermark)
        .dropDuplicatesWithinWatermark(["dedup_key"])
        .withColumn(ROW_KIND, F.lit("event"))
    )
    tally = source.select("topic", "partition", "offset", F.lit("input").alias(ROW_KIND))
    return events.unionByName(tally, allowMissingColumns=True)


def collect(df: DataFrame, batch_id: int) -> CollectedBatch:
    """The batch's counts and the records the warehouse sinks need, in one Spark job (df must be
    persisted: the bronze writes read it again)."""
    return CollectedBatch.from_arrow(df.select(*COLLECTED_COLUMNS).toArrow(), batch_id)
