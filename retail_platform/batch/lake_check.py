"""Whether the lake holds bronze files for a day: a cheap look before starting Spark for it."""

from __future__ import annotations

from datetime import date

from retail_platform.settings import Settings
from retail_platform.streaming.bronze import SOURCES


def day_prefix(source: str, day: date) -> str:
    return f"raw-data/{source}/year={day:%Y}/month={day:%m}/day={day:%d}/"


def bronze_day_present(settings: Settings, day: date, event_types: tuple[str, ...]) -> bool:
    """True when any of the event types has a data file in the day's bronze partition.

    Files only, not the Delta log: a day whose rows were all replaced away still counts as present,
    and the job then finds no rows (which is what a recomputation of it should load)."""
    prefixes = [day_prefix(SOURCES[t], day) for t in event_types]
    if settings.lake_is_local:
        root = settings.lake_path
        return any(any((root / p).glob("*.parquet")) for p in prefixes if (root / p).is_dir())
    from retail_platform import lake_store

    return any(
        name.endswith(".parquet")
        for prefix in prefixes
        for name in lake_store.list_keys(settings, lake_store.key(settings, prefix))
    )
