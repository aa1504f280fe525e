"""The daily recomputation of one UTC day: bronze -> silver (+ quarantine) -> facts, watermark, DQ.

For day D, per event type (sales, inventory):
1. read D's bronze partition (every row that ever landed there, late arrivals included);
2. drop duplicate event_ids, keeping the first arrival (``conform.DEDUP_ORDER``);
3. re-validate with the contracts and conform to the dimensions (``conform``), in ``mapInArrow``;
4. write silver (accepted rows + product attributes) and quarantine (rejected rows + reason) for D
   with ``replaceWhere`` on D's partition: a re-run rewrites the same rows.
Then, on the driver (a day is at most ~1M rows): fact rows from silver (``facts``), input checks,
both facts replaced for D (``warehouse_load.replace_days``), the serving aggregates rebuilt for D
(``aggregates.refresh``), the post-load checks (uniqueness of the loaded day, reconciliation with
the speed layer) recorded in dq_results, and only when every check passed the watermark row that
closes the day. A failed check fails the run after every check was recorded; the day then has no
watermark row (one left by an earlier load of the day is withdrawn), so the views serve it from the
speed layer while its facts hold the failed load.

A range (a backfill, a history import) does each step once for a run of days rather than once a day
(``run_days``, ``load_days``): the per-day fixed cost (Spark passes, Delta commits, partition swaps,
warehouse round trips) was most of a small day's time. Every day still gets exactly what a run of it
alone gives.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from retail_platform import lake
from retail_platform.batch import aggregates, close, facts, lake_files, late_arrivals, quality
from retail_platform.batch import warehouse_load as wl
from retail_platform.batch.conform import DEDUP_ORDER, Dimensions, conform_arrow_batches
from retail_platform.batch.inferred import Inferred, attached, create_for_day
from retail_platform.events.contracts import EVENT_TYPES
from retail_platform.events.time_bounds import TimeBounds
from retail_platform.lake import day_predicate
from retail_platform.settings import Settings
from retail_platform.streaming.bronze import PARTITION_COLUMNS, SOURCES, event_columns, table_path
from retail_platform.streaming.columns import fields_of, spark_type
from retail_platform.warehouse.client import connect

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

TYPES = ("sales_transaction", "inventory_update", "purchase_order")
CONFORMED_SPARK = (
    T.StructField("rejection_reason", T.StringType()),
    T.StructField("category", T.StringType()),
    T.StructField("supplier_id", T.StringType()),
    T.StructField("unit_cost", T.DecimalType(18, 2)),
    T.StructField("product_valid_from", T.TimestampType()),
)


def never_null(event_type: str) -> list[str]:
    """The fields a complete row has a value in: required, and not of a nullable type (a received
    purchase order's expected_delivery is required and null)."""
    schema = EVENT_TYPES[event_type].schema
    nullable = {
        name
        for name, rule in schema["properties"].items()
        if isinstance(rule.get("type"), list) and "null" in rule["type"]
    }
    return [name for name in schema["required"] if name not in nullable]


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


def pin_bronze_days(
    spark: SparkSession, settings: Settings, event_type: str, days: list[date]
) -> tuple[DataFrame, list[tuple[date, str]] | None]:
    """The bronze rows of ``days`` at the table's current version (Spark), and the files holding them
    when the driver can read them itself (``lake_files.pin``)."""
    from delta.tables import DeltaTable

    path = table_path(settings, event_type)
    if not DeltaTable.isDeltaTable(spark, path):
        return spark.createDataFrame([], bronze_schema(event_type)), []
    pinned = lake_files.pin(spark, path, days, day_predicate(days[0], days[-1]))
    return pinned.frame.select(*event_columns(event_type)), pinned.files


def never_landed(spark: SparkSession, settings: Settings, event_type: str) -> bool:
    from delta.tables import DeltaTable

    paths = (table_path(settings, event_type), silver_path(settings, event_type))
    return not any(DeltaTable.isDeltaTable(spark, path) for path in paths)


def empty_silver(event_type: str) -> pd.DataFrame:
    """The silver frame of a day without rows: the bronze columns and the conformed ones."""
    return pd.DataFrame(
        columns=[*event_columns(event_type), *(f.name for f in CONFORMED_SPARK if f.name != "rejection_reason")]
    )


def _day_of(year: str, month: str, day: str) -> date:
    return date(int(year), int(month), int(day))


@dataclass
class TypeResult:
    rows: int = 0
    stream_rows: int = 0  # of rows, those from the stream (a contract topic): late-arrival detection
    complete: int = 0
    distinct_ids: int = 0
    accepted: int = 0
    quarantined: int = 0
    silver: Any = None  # pandas frame of the accepted rows
    seconds: dict[str, float] = field(default_factory=dict)  # the Spark pass's steps (shared by its days)


@dataclass
class DayResult:
    day: date
    batch_id: str
    types: dict[str, TypeResult] = field(default_factory=dict)
    sales_rows: int = 0
    inventory_rows: int = 0
    checks: list[quality.Check] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    inferred: Inferred = field(default_factory=Inferred)  # members created, lines attached (batch/inferred.py)

    def summary(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "batch_id": self.batch_id,
            "types": {
                t: {k: (round_all(v) if k == "seconds" else v) for k, v in vars(r).items() if k != "silver"}
                for t, r in self.types.items()
            },
            "sales_rows": self.sales_rows,
            "inventory_rows": self.inventory_rows,
            "checks_failed": [c.name for c in self.checks if not c.passed],
            "inferred_members": self.inferred.summary(),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def round_all(seconds: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in seconds.items()}


def _write_days(frame: DataFrame, path: str, first: date, last: date) -> None:
    (
        frame.coalesce(1)
        .write.format("delta")
        .mode("overwrite")
        .partitionBy(*PARTITION_COLUMNS)
        .option("replaceWhere", day_predicate(first, last))
        .save(path)
    )


def spark_counts(
    bronze: DataFrame, event_type: str, results: dict[date, TypeResult]
) -> list[tuple[str, str, str, str | None]]:
    """``lake_files.bronze_counts`` by a Spark job, for bronze the driver cannot read itself: fills
    the days' counts in ``results`` and returns the (year, month, day, event_id) keys with copies."""
    complete = F.when(F.expr(" AND ".join(f"{c} IS NOT NULL" for c in never_null(event_type))), 1).otherwise(0)
    from_stream = F.when(F.col("kafka_topic").isin(list(late_arrivals.stream_topics())), 1).otherwise(0)
    # Counted per key first (a hash aggregate, no sort), then per day.
    per_id = bronze.groupBy(*PARTITION_COLUMNS, "event_id").agg(
        F.count(F.lit(1)).alias("n"), F.sum(complete).alias("complete"), F.sum(from_stream).alias("stream")
    )
    copied = F.col("n") > 1
    stats = per_id.groupBy(*PARTITION_COLUMNS).agg(
        F.sum("n").alias("rows"),
        F.sum("complete").alias("complete"),
        F.count("event_id").alias("ids"),
        F.sum("stream").alias("stream_rows"),
        F.collect_list(F.when(copied, F.col("event_id"))).alias("copied_ids"),
        F.max(F.when(copied & F.col("event_id").isNull(), True)).alias("copied_null"),
    )
    copied_keys: list[tuple[str, str, str, str | None]] = []
    for row in stats.collect():
        r = results[_day_of(row["year"], row["month"], row["day"])]
        r.rows, r.complete, r.distinct_ids = int(row["rows"]), int(row["complete"] or 0), int(row["ids"])
        r.stream_rows = int(row["stream_rows"] or 0)
        day_key = (row["year"], row["month"], row["day"])
        copied_keys += [(*day_key, event_id) for event_id in row["copied_ids"]]
        if row["copied_null"]:
            copied_keys.append((*day_key, None))
    return copied_keys


def drop_copies(spark: SparkSession, bronze: DataFrame, copied: list[tuple[str, str, str, str | None]]) -> DataFrame:
    """``bronze`` with one row per (day, event_id): of the copies of a key the first to arrive
    (``DEDUP_ORDER``); rows of a null event_id count as copies of one key, as in a window over them.

    ``copied``: the keys (year, month, day, event_id) with more than one row. Only their rows are
    sorted (a window over them); the others pass as they are, without a shuffle. The keys go to the
    tasks with the plan (a broadcast join, null-safe on event_id)."""
    if not copied:
        return bronze
    key_names = ("_year", "_month", "_day", "_event_id")
    keys_schema = T.StructType([T.StructField(name, T.StringType(), True) for name in key_names])
    keys = F.broadcast(spark.createDataFrame(copied, keys_schema))
    on = [bronze[c] == keys[k] for c, k in zip(PARTITION_COLUMNS, key_names, strict=False)]
    on.append(bronze["event_id"].eqNullSafe(keys["_event_id"]))
    single = bronze.join(keys, on, "left_anti")
    order = [F.col(c).asc_nulls_last() for c in DEDUP_ORDER]
    first = Window.partitionBy(*PARTITION_COLUMNS, "event_id").orderBy(*order)
    copies = bronze.join(keys, on, "left_semi")
    kept = copies.withColumn("_copy", F.row_number().over(first)).where("_copy = 1").drop("_copy")
    return single.unionByName(kept)


def process_type(
    spark: SparkSession, settings: Settings, event_type: str, first: date, last: date, dims: Dimensions
) -> dict[date, TypeResult]:
    """Steps 1-4 for one event type over first..last; the counts and silver rows (pandas) per day.

    A run of days goes through Spark in one pass (one read, one silver and one quarantine commit):
    Spark's fixed cost per pass is most of a small day's time. Every step stays per day: duplicates
    are looked for within a day's partition (a copy of an event has its event_time, hence its day), so
    a range gives each day exactly the rows a run of that day alone gives.

    A type of which nothing ever landed (no bronze and no silver table: e.g. no purchase orders on a
    platform whose sources send none) costs no Spark pass: its days have no rows, and there is no
    silver to replace."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if never_landed(spark, settings, event_type):
        return {day: TypeResult(silver=empty_silver(event_type)) for day in days}
    steps: dict[str, float] = {}
    clock = time.monotonic()

    def step(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        steps[name] = now - clock
        clock = now

    bronze, files = pin_bronze_days(spark, settings, event_type, days)
    results = {day: TypeResult() for day in days}
    if files is not None:
        counts, copied = lake_files.bronze_counts(files, never_null(event_type), late_arrivals.stream_topics())
        for day, c in counts.items():
            r = results[day]
            r.rows, r.complete, r.distinct_ids, r.stream_rows = c.rows, c.complete, c.distinct_ids, c.stream_rows
        copied_keys = [(f"{d:%Y}", f"{d:%m}", f"{d:%d}", event_id) for d, event_id in copied]
    else:
        copied_keys = spark_counts(bronze, event_type, results)
    step("stats")
    deduped = drop_copies(spark, bronze, copied_keys)
    schema = T.StructType([*deduped.schema.fields, *CONFORMED_SPARK])
    bounds = TimeBounds.from_settings(settings)  # the stream's event-time bounds, applied to bronze
    conformed = deduped.mapInArrow(
        partial(conform_arrow_batches, event_type=event_type, dims=dims, bounds=bounds), schema
    )
    conformed = conformed.persist()
    try:
        accepted = conformed.where(F.col("rejection_reason").isNull()).drop("rejection_reason")
        rejected = conformed.where(F.col("rejection_reason").isNotNull())
        # Counting first fills the cache with every partition in parallel: the writes below coalesce
        # to one file per day, and a coalesced task would otherwise run the conformance (the costly
        # Python part) of all partitions itself, on one core.
        for row in rejected.groupBy(*PARTITION_COLUMNS).count().collect():
            results[_day_of(row["year"], row["month"], row["day"])].quarantined = int(row["count"])
        step("conform")
        _write_days(accepted, silver_path(settings, event_type), first, last)
        step("silver_write")
        _write_days(rejected, quarantine_path(settings, event_type), first, last)
        step("quarantine_write")
        # Read back what silver now holds for the days: the facts are built from the record itself.
        silver = lake_files.pin(spark, silver_path(settings, event_type), days, day_predicate(first, last))
        if silver.files:
            table = lake_files.read_days(silver.files, silver.frame.columns)
        else:
            table = silver.frame.toArrow()
        frame = table.to_pandas(timestamp_as_object=False)
        step("silver_to_driver")
    finally:
        conformed.unpersist()
    keys = frame[list(PARTITION_COLUMNS)].astype(int) if len(frame) else None
    for day in days:
        if keys is None:
            part = frame
        else:
            mask = (keys["year"] == day.year) & (keys["month"] == day.month) & (keys["day"] == day.day)
            part = frame[mask.to_numpy()].reset_index(drop=True)
        results[day].silver = part
        results[day].accepted = len(part)
    step("split_days")
    log.info("daily_etl %s %s..%s spark steps: %s", event_type, first, last, round_all(steps))
    for day in days:
        results[day].seconds = steps
    return results


def process_types(
    spark: SparkSession, settings: Settings, first: date, last: date, dims: Dimensions
) -> dict[str, dict[date, TypeResult]]:
    """``process_type`` of every event type, the types side by side (one thread each, their Spark jobs
    running concurrently): a day's bronze is one file per type from the history generator and each
    silver write is one task per day, so one type at a time left a core idle. The types share nothing
    but the read-only dimensions; the first failure is raised once every type has finished."""
    with ThreadPoolExecutor(max_workers=len(TYPES), thread_name_prefix="daily-etl") as pool:
        futures = {t: pool.submit(process_type, spark, settings, t, first, last, dims) for t in TYPES}
        return {t: futures[t].result() for t in TYPES}


def new_batch_id(day: date) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"daily_etl:{day.isoformat()}:{stamp}:{uuid.uuid4().hex[:8]}"


def run_day(spark: SparkSession, settings: Settings, day: date, run_id: str = "") -> DayResult:
    """Recompute one day end to end; raises DataQualityError (after recording) when a check fails."""
    span = run_days(spark, settings, day, day, run_id)
    if span.failed:
        raise quality.DataQualityError(span.failed[day.isoformat()])
    return span.days[0]


def load_day(client: Client, database: str, day: date, types: dict[str, TypeResult], run_id: str) -> DayResult:
    """Facts, load, checks and (when every check passed) the watermark of one day whose silver is
    written; raises DataQualityError (after recording every check) when a check fails."""
    span = load_days(client, database, {day: types}, run_id)
    if span.failed:
        raise quality.DataQualityError(span.failed[day.isoformat()])
    return span.days[0]


def carry_forward(previous: pd.DataFrame, today: pd.DataFrame) -> pd.DataFrame:
    """The last snapshot per store/product after a day: the day's own rows, else the one before (what
    ``warehouse_load.previous_snapshots`` reads for the next day once the day is in fact_inventory)."""
    if today.empty:
        return previous
    if previous.empty:
        return today.reset_index(drop=True)
    keys = ["store_id", "product_id"]
    replaced = pd.MultiIndex.from_frame(previous[keys]).isin(pd.MultiIndex.from_frame(today[keys]))
    return pd.concat([previous[~replaced], today], ignore_index=True)


def snapshots_of(inventory_rows: pa.Table) -> pd.DataFrame:
    """The snapshot columns of a day's fact_inventory rows (Arrow), as ``previous_snapshots`` gives them."""
    return inventory_rows.select([*facts.SNAPSHOT_COLUMNS, facts.ON_ORDER_COLUMN]).to_pandas()


def load_days(
    client: Client,
    database: str,
    types: dict[date, dict[str, TypeResult]],
    run_id: str,
    before_swaps: Callable[[], None] = lambda: None,
) -> RangeResult:
    """Facts, load, checks and watermarks of a run of consecutive days whose silver is written, as each
    day alone would get them, with the warehouse work done once for the run instead of once a day.

    Per day, in order: the input checks (a day that fails them loads nothing: its facts keep their last
    good state), its inferred members, its fact rows (end-of-day stock carries the previous day's
    snapshot forward in memory: what the warehouse would hold once that day is in). Then for the whole
    run: each fact's month partitions swapped once (every day of the month in one INSERT, the month in
    one ``REPLACE PARTITION``: readers see every day of it before or after), the aggregates rebuilt once,
    the post-load checks of all days from one grouped query, the checks recorded in one insert, and the
    watermark rows of the days whose every check passed in one insert; a day that failed a post-load
    check keeps its swapped-in facts, has no watermark row (one left by an earlier load is withdrawn)
    and is listed in ``failed``. ``before_swaps`` runs right before the first swap (the month claims'
    check)."""
    span = RangeResult()
    days = sorted(types)
    if not days:
        return span
    started = time.monotonic()
    results = {day: DayResult(day, new_batch_id(day), types=types[day]) for day in days}
    for result in results.values():
        for event_type, r in result.types.items():
            result.checks += quality.input_checks(event_type, r.rows, r.complete, r.distinct_ids, r.accepted)
    refused = [day for day in days if any(not c.passed for c in results[day].checks)]
    if refused:
        # Nothing is loaded from input that failed its checks: the facts keep their last good state.
        wl.record_checks(client, database, [(results[d].batch_id, d, results[d].checks) for d in refused])
    loadable = [day for day in days if day not in refused]

    dims = wl.dimensions(client, database)
    policy = wl.reorder_policy(client, database)
    previous = wl.previous_snapshots(client, database, days[0])
    # The cascade (late_arrivals): what the closed day after the range starts from, before the swaps.
    following = days[-1] + timedelta(days=1)
    following_closed = wl.is_closed(client, database, following)
    carried_before = wl.previous_snapshots(client, database, following) if following_closed else None
    sales_rows: dict[date, pa.Table] = {}
    inventory_rows: dict[date, pa.Table] = {}
    for day in days:
        result = results[day]
        if day in refused:
            previous = carry_forward(previous, wl.day_snapshots(client, database, day))
            continue
        t0 = time.monotonic()
        sales = result.types["sales_transaction"].silver
        inventory = result.types["inventory_update"].silver
        # Late-arriving members: keys silver carries that the dimensions lack get inferred rows before
        # the facts are built (fact_inventory values stock by the product's version); batch/inferred.py.
        made = create_for_day(client, database, dims, (sales, inventory), result.batch_id)
        if made.stores_created or made.products_created:
            dims = wl.dimensions(client, database)
        result.inferred = attached(sales, dims, made)
        result.checks.append(
            quality.Check("inferred_members", float(made.sale_lines), 0.0, True, f"informational: {made.summary()}")
        )
        sales_rows[day] = facts.sales_rows(sales, day, result.batch_id)
        inventory_rows[day] = facts.inventory_rows(
            day,
            inventory,
            sales,
            previous,
            policy,
            dims.products,
            result.batch_id,
            result.types["purchase_order"].silver,
        )
        previous = carry_forward(previous, snapshots_of(inventory_rows[day]))
        result.seconds["facts"] = time.monotonic() - t0

    shared: dict[str, float] = {}  # seconds of the run's shared steps, shared out over its days
    if loadable:
        before_swaps()
        t0 = time.monotonic()
        wl.replace_days(client, database, "fact_sales", sales_rows)
        wl.replace_days(client, database, "fact_inventory", inventory_rows)
        shared["load"] = time.monotonic() - t0
        t0 = time.monotonic()
        # Before the watermark rows: a day enters the views with its aggregates in place.
        aggregates.refresh(client, database, loadable[0], loadable[-1])
        shared["aggregates"] = time.monotonic() - t0
        totals = wl.sales_totals(client, database, loadable)
        for day in loadable:
            result = results[day]
            result.sales_rows, result.inventory_rows = sales_rows[day].num_rows, inventory_rows[day].num_rows
            t = totals[day]
            result.checks += quality.fact_checks(t["rows"], t["distinct_sale_ids"])
            result.checks += quality.reconciliation_checks(
                t["units"], t["revenue"], t["speed_units"], t["speed_revenue"]
            )
        wl.record_checks(client, database, [(results[d].batch_id, d, results[d].checks) for d in loadable])
    failed = [day for day in loadable if any(not c.passed for c in results[day].checks)]
    # The day's facts and aggregates are swapped in, but the day is not closed: without a watermark row
    # the views keep serving it from the speed layer. A day closed by an earlier load whose re-run fails
    # here loses its row too (its facts are the failed load's now).
    for day in wl.withdraw_watermarks(client, database, failed):
        log.warning("daily_etl %s: checks failed on a re-run of a closed day; watermark withdrawn", day)
    closing = [day for day in loadable if day not in failed]
    per_day = (time.monotonic() - started) / len(days)
    marks = []
    for day in closing:
        result = results[day]
        values = result.types.values()
        marks.append(
            wl.Watermark(
                day,
                result.batch_id,
                run_id,
                {
                    "bronze_rows": sum(r.rows for r in values),
                    "stream_rows": sum(r.stream_rows for r in values),
                    "duplicates_dropped": sum(r.rows - r.distinct_ids for r in values),
                    "quarantined_rows": sum(r.quarantined for r in values),
                    "sales_rows": result.sales_rows,
                    "inventory_rows": result.inventory_rows,
                    "duration_ms": int(per_day * 1000),
                },
            )
        )
    # Only a day whose every check passed closes.
    wl.record_watermarks(client, database, marks)
    if carried_before is not None and loadable:
        carried_after = wl.previous_snapshots(client, database, following)
        if late_arrivals.cascade_to(days[-1], carried_before, carried_after, following_closed):
            late_arrivals.request_recompute(client, database, following, results[days[-1]].batch_id)
    for day in days:
        result = results[day]
        result.seconds |= {name: seconds / len(loadable) for name, seconds in shared.items()}
        result.seconds["load_day"] = per_day
        log.info("daily_etl %s: %s", day, result.summary())
        try:
            quality.raise_on_failure(day.isoformat(), result.checks)
            span.days.append(result)
        except quality.DataQualityError as exc:
            span.failed[day.isoformat()] = str(exc)
    return span


@dataclass
class RangeResult:
    """Days of a range run in order; a day whose checks failed is listed and the range goes on."""

    days: list[DayResult] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # day -> the DataQualityError message

    def summary(self) -> dict[str, Any]:
        return {"days": [d.summary() for d in self.days], "failed": self.failed}


def per_type_day(per_type: dict[str, dict[date, TypeResult]], day: date) -> list[TypeResult]:
    return [by_day[day] for by_day in per_type.values() if day in by_day]


@dataclass
class Progress:
    """A backfill's progress in the log (the CLI's output and the Airflow task log): days done of the
    range, bronze rows read, the rate and the time left at that rate."""

    total_days: int
    started: float = field(default_factory=time.monotonic)
    days: int = 0
    rows: int = 0

    def day_done(self, day: date, rows: int) -> str:
        return self.days_done(day, 1, rows)

    def days_done(self, last: date, days: int, rows: int) -> str:
        """``days`` more days done, the newest ``last``, with ``rows`` bronze rows between them."""
        self.days += days
        self.rows += rows
        elapsed = max(time.monotonic() - self.started, 1e-9)
        left = elapsed / self.days * (self.total_days - self.days)
        line = (
            f"daily_etl progress: {self.days}/{self.total_days} days (last {last}), {self.rows:,} rows, "
            f"{self.rows / elapsed:,.0f} rows/s, {elapsed / self.days:.1f} s/day, about {left:.0f} s left"
        )
        log.info(line)
        return line


def run_days(
    spark: SparkSession, settings: Settings, first: date, last: date, run_id: str = "", days_per_pass: int = 62
) -> RangeResult:
    """Recompute first..last (inclusive) in one Spark application: a bulk backfill.

    The range goes through in passes of up to ``days_per_pass`` days: bronze to silver for all days of
    the pass at once (``process_type``: one read, one silver and one quarantine commit per type), then
    the warehouse side of all of them at once (``load_days``: each fact month swapped once, the
    aggregates rebuilt once, the checks of all days in one grouped query), each day getting exactly
    what a run of that day alone gives. A day whose checks fail is recorded and left as a run of it
    alone would leave it (no watermark row); the range goes on. Progress (days, rows, rate, time left)
    is logged after each pass.

    Refused (``close.DayNotClosable``) when a day of the range is too recent to close (end of the day
    plus the close grace still ahead); whether the stream is past the days is the caller's check
    (``close.await_closable``: the CLI and the DAG), as it needs Kafka. The month partitions the range
    swaps (facts and aggregates, plus the fill-rate estimates of the 28 days after) are claimed for the
    whole run (``warehouse_load.MonthClaims``): a second writer on one of them is refused
    (``warehouse_load.MonthBusy``, naming the holder) before any Spark work."""
    if last < first:
        raise ValueError(f"empty range: {first} is after {last}")
    if days_per_pass < 1:
        raise ValueError(f"days_per_pass must be at least 1, not {days_per_pass}")
    close.refuse_too_early([last], datetime.now(timezone.utc), settings.close_grace_minutes)
    swapped_to = last + timedelta(days=aggregates.FILL_RATE_LOOKBACK_DAYS)
    months = [month for month, _, _ in aggregates.month_spans(first, swapped_to)]
    what = f"daily_etl {first}..{last}" + (f" run {run_id}" if run_id else "")
    # A retry of the same orchestrator run supersedes the claim of its killed try (take_over).
    claims = wl.MonthClaims(
        partial(connect, settings), settings.clickhouse_database, months, what, take_over=bool(run_id)
    )
    with claims:
        return _run_days(spark, settings, first, last, run_id, days_per_pass, claims)


def _run_days(
    spark: SparkSession,
    settings: Settings,
    first: date,
    last: date,
    run_id: str,
    days_per_pass: int,
    claims: wl.MonthClaims,
) -> RangeResult:
    database = settings.clickhouse_database
    result = RangeResult()
    client = connect(settings)
    progress = Progress((last - first).days + 1)
    try:
        start = first
        while start <= last:
            end = min(last, start + timedelta(days=days_per_pass - 1))
            n_days = (end - start).days + 1
            dims = wl.dimensions(client, database)
            t0 = time.monotonic()
            per_type = process_types(spark, settings, start, end, dims)
            spark_seconds = (time.monotonic() - t0) / n_days
            days = [start + timedelta(days=i) for i in range(n_days)]
            span = load_days(client, database, {d: {t: per_type[t][d] for t in TYPES} for d in days}, run_id,
                             claims.check)  # fmt: skip
            for done in span.days:
                done.seconds["spark_share"] = spark_seconds
            result.days += span.days
            result.failed |= span.failed
            progress.days_done(end, n_days, sum(r.rows for d in days for r in per_type_day(per_type, d)))
            start = end + timedelta(days=1)
    finally:
        client.close()
    return result
