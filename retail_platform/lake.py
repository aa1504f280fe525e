"""The lake's layout (one root URI: file:// locally, s3a:// on MinIO)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from retail_platform.settings import Settings

# Zones of the contract; raw-data is partitioned by event date below each source.
RAW_SOURCES = ("sales", "inventory", "prices", "events", "orders")
ZONES = (
    *(f"raw-data/{source}" for source in RAW_SOURCES),
    "silver",
    "features/training",
    "features/inference",
    "models/demand-forecast",
    "models/stock-optimization",
    "quarantine",
    "checkpoints",
    "landing",
)


def uri(settings: Settings, *parts: str) -> str:
    """A URI below the lake root, e.g. uri(s, "raw-data", "sales")."""
    return "/".join([settings.lake_uri, *(p.strip("/") for p in parts)])


def ensure_local_layout(settings: Settings) -> Path:
    """Create the zone folders of a file:// lake; returns the root."""
    root = settings.lake_path
    for zone in ZONES:
        (root / zone).mkdir(parents=True, exist_ok=True)
    return root


def day_predicate(first: date, last: date | None = None) -> str:
    """The predicate selecting the day partitions (year/month/day, bronze and silver) of first..last (inclusive).

    Plain comparisons of the partition columns only (Delta resolves them against the partition
    values; expressions such as concat() over them fail its analysis)."""
    days = [first + timedelta(days=i) for i in range(((last or first) - first).days + 1)]
    return " OR ".join(f"(year = '{d:%Y}' AND month = '{d:%m}' AND day = '{d:%d}')" for d in days)


def commit_conflicts() -> tuple[type[BaseException], ...]:
    """Delta's commit-conflict errors (another writer committed first; the operation may run again on
    the new snapshot). Importing ``delta.exceptions`` is also what makes PySpark raise Delta's JVM
    conflicts as these Python types, so it is imported before any write that catches them."""
    from delta import exceptions as e

    return (
        e.ConcurrentAppendException,
        e.ConcurrentDeleteDeleteException,
        e.ConcurrentDeleteReadException,
        e.ConcurrentTransactionException,
        e.ConcurrentWriteException,
        e.DeltaConcurrentModificationException,
    )
