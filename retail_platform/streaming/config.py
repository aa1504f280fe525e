"""The streaming job's options (command line), with defaults sized for a two-core machine.

Connection settings (Kafka, warehouse, lake root, Spark master) come from ``get_settings()``; these
options only shape the job itself.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from datetime import timedelta

from retail_platform import lake
from retail_platform.settings import Settings

QUERY_NAME = "stream_events"

# Spark's interval syntax as withWatermark accepts it ("15 minutes", "1 hour", "90 seconds").
_INTERVAL = re.compile(r"^\s*\d+\s+(second|minute|hour|day)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class StreamConfig:
    query_name: str = QUERY_NAME
    checkpoint: str = ""
    # A few seconds: ClickHouse wants about one large insert per table per second or less, and each
    # micro-batch has a fixed cost (~0.5 s on two cores); the blueprint's end-to-end target is < 30 s.
    trigger_seconds: float = 3.0
    # Caps a catch-up batch (after downtime) so it fits in memory and one insert per table stays
    # well under ClickHouse's max_insert_block_size (~1M rows); steady traffic never reaches it.
    max_offsets_per_trigger: int = 100_000
    # How long an event id is remembered to drop its duplicates (on arrival time, not event time).
    dedup_watermark: str = "15 minutes"
    starting_offsets: str = "earliest"
    fail_on_data_loss: bool = True
    # Two cores: two partitions for the dedup state and the bronze shuffle. Fixed by the checkpoint
    # once the query has started (Spark keeps the state's partitioning).
    shuffle_partitions: int = 2
    available_now: bool = False
    driver_memory: str = "2g"

    @property
    def trigger_interval(self) -> str:
        return f"{self.trigger_seconds:g} seconds"

    @property
    def dedup_window(self) -> timedelta:
        """``dedup_watermark`` as a duration."""
        count, unit = self.dedup_watermark.split()
        return timedelta(**{unit.lower().rstrip("s") + "s": int(count)})


def default_checkpoint(settings: Settings, query_name: str = QUERY_NAME) -> str:
    return lake.uri(settings, "checkpoints", query_name)


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return number


def _interval(value: str) -> str:
    if not _INTERVAL.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an interval like '15 minutes'")
    return value.strip()


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not true or false")


def parser() -> argparse.ArgumentParser:
    d = StreamConfig()
    p = argparse.ArgumentParser(
        prog="stream_events",
        description="Speed layer: contract topics -> validation, dedup -> ClickHouse rt_* tables, lake bronze, "
        "dead letters and restock alerts.",
    )
    p.add_argument("--query-name", default=d.query_name, help="streaming query name (ops rows, checkpoint folder)")
    p.add_argument("--checkpoint", default="", help="checkpoint URI (default: <lake>/checkpoints/<query name>)")
    p.add_argument("--trigger-seconds", type=_positive_float, default=d.trigger_seconds)
    p.add_argument("--max-offsets-per-trigger", type=_positive_int, default=d.max_offsets_per_trigger)
    p.add_argument("--dedup-watermark", type=_interval, default=d.dedup_watermark)
    p.add_argument("--starting-offsets", default=d.starting_offsets, help="for a new checkpoint: earliest or latest")
    p.add_argument("--fail-on-data-loss", type=_boolean, default=d.fail_on_data_loss)
    p.add_argument("--shuffle-partitions", type=_positive_int, default=d.shuffle_partitions)
    p.add_argument("--available-now", action="store_true", help="process what the topics hold, then stop")
    p.add_argument("--driver-memory", default=d.driver_memory, help="JVM heap when started with python -m")
    return p


def parse_args(argv: list[str] | None, settings: Settings) -> StreamConfig:
    args = parser().parse_args(argv)
    if args.starting_offsets not in ("earliest", "latest"):
        parser().error("--starting-offsets must be earliest or latest")
    return StreamConfig(
        query_name=args.query_name,
        checkpoint=args.checkpoint or default_checkpoint(settings, args.query_name),
        trigger_seconds=args.trigger_seconds,
        max_offsets_per_trigger=args.max_offsets_per_trigger,
        dedup_watermark=args.dedup_watermark,
        starting_offsets=args.starting_offsets,
        fail_on_data_loss=args.fail_on_data_loss,
        shuffle_partitions=args.shuffle_partitions,
        available_now=args.available_now,
        driver_memory=args.driver_memory,
    )
