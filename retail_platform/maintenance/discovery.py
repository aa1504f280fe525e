"""Finding the lake's Delta tables: every folder holding a ``_delta_log`` below the scanned zones.

Nothing is hard-coded beyond the zones: a bronze source, a silver table or a quarantine table added
later is maintained from its first night. The walk stops at a table's root (its partition folders are
never listed), so its cost grows with the number of tables, not with their days.

``find_delta_tables`` takes a ``list_dir`` function so the walk itself is pure and unit-tested;
``local_lister`` serves file:// lakes and ``hadoop_lister`` any Hadoop filesystem (s3a://) through
the Spark session's JVM.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

DELTA_LOG = "_delta_log"
# A zone's first folder -> the kind of table, which selects its retention window.
KINDS = {"raw-data": "bronze", "silver": "silver", "quarantine": "quarantine"}

# list_dir(uri) -> names of the sub-folders of uri (no files), or [] if it does not exist.
ListDir = Callable[[str], Iterable[str]]


@dataclass(frozen=True)
class LakeTable:
    root: str  # lake root URI
    path: str  # below the root, e.g. raw-data/sales or quarantine/batch/sales

    @property
    def uri(self) -> str:
        return f"{self.root.rstrip('/')}/{self.path}"

    @property
    def kind(self) -> str:
        return table_kind(self.path)


def table_kind(path: str) -> str:
    """bronze, silver or quarantine from a table's path below the lake root; "other" otherwise."""
    return KINDS.get(path.strip("/").split("/", 1)[0], "other")


def _skip(name: str) -> bool:
    # Hidden and bookkeeping folders (_spark_metadata, .tmp) and partition folders (key=value): a
    # Delta table's partitions sit inside its root, never above one.
    return name.startswith(("_", ".")) or "=" in name


def find_delta_tables(root: str, zones: Iterable[str], list_dir: ListDir, max_depth: int = 4) -> list[LakeTable]:
    """Delta tables under ``root/<zone>`` for each zone, sorted by path."""
    found: list[LakeTable] = []

    def walk(rel: str, depth: int) -> None:
        children = set(list_dir(f"{root.rstrip('/')}/{rel}"))
        if DELTA_LOG in children:
            found.append(LakeTable(root, rel))
            return
        if depth >= max_depth:
            return
        for name in sorted(children):
            if not _skip(name):
                walk(f"{rel}/{name}", depth + 1)

    for zone in zones:
        walk(zone.strip("/"), 1)
    return sorted(found, key=lambda t: t.path)


def local_lister(uri: str) -> list[str]:
    """Sub-folders of a file:// URI (or a plain path)."""
    path = urlparse(uri).path if uri.startswith("file:") else uri
    try:
        with os.scandir(path) as entries:
            return [e.name for e in entries if e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def hadoop_lister(spark: Any) -> ListDir:
    """Sub-folders through Hadoop's FileSystem of the Spark session (s3a://, hdfs://, file://)."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()

    def list_dir(uri: str) -> list[str]:
        path = jvm.org.apache.hadoop.fs.Path(uri)
        fs = path.getFileSystem(conf)
        if not fs.exists(path):
            return []
        return [status.getPath().getName() for status in fs.listStatus(path) if status.isDirectory()]

    return list_dir


def lister_for(root: str, spark: Any | None = None) -> ListDir:
    """The local walk for file:// lakes (no JVM round trips), Hadoop's for anything else."""
    if root.startswith("file:") or spark is None:
        return local_lister
    return hadoop_lister(spark)
