"""Whether the lake holds bronze files for a day: a cheap look before starting Spark for it."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlparse

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
    from minio import Minio

    endpoint = urlparse(settings.s3_endpoint)
    client = Minio(
        endpoint.netloc or endpoint.path,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=endpoint.scheme == "https",
    )
    lake = urlparse(settings.lake_uri)
    base = lake.path.strip("/")
    for prefix in prefixes:
        full = f"{base}/{prefix}" if base else prefix
        if any(o.object_name.endswith(".parquet") for o in client.list_objects(lake.netloc, prefix=full)):
            return True
    return False
