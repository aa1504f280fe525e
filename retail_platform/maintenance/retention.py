"""Retention arithmetic (pure): cut-off days, day partitions of lake paths, warehouse partition ids.

Convention: a window of N days, applied on day T, keeps every day on or after ``cutoff = T - N``;
days strictly before the cut-off are deleted. With N = 730 a partition is deleted once it is more
than two years old, never a day earlier.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from datetime import date, timedelta

_DAY_PARTITION = re.compile(r"year=(\d{4})/month=(\d{1,2})/day=(\d{1,2})(?:/|$)")


def cutoff_day(today: date, retention_days: int) -> date:
    """The first day kept: partitions of days before it are past retention."""
    if retention_days < 1:
        raise ValueError(f"a retention window must be at least 1 day, got {retention_days}")
    return today - timedelta(days=retention_days)


def day_of_partition(path: str) -> date | None:
    """The day of a ``year=YYYY/month=MM/day=DD`` partition found in a file or folder path."""
    match = _DAY_PARTITION.search(path)
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    return date(year, month, day)


def partition_name(day: date) -> str:
    """The partition folder of a day, as the lake writes it (zero-padded)."""
    return f"year={day:%Y}/month={day:%m}/day={day:%d}"


def day_predicate_before(cutoff: date) -> str:
    """SQL over the string partition columns selecting days before ``cutoff``. It references only
    partition columns, so Delta deletes whole files from its log and rewrites nothing."""
    return f"concat(year, month, day) < '{cutoff:%Y%m%d}'"


def day_predicate_since(first: date) -> str:
    """SQL over the partition columns selecting days on or after ``first`` (OPTIMIZE of recent days)."""
    return f"concat(year, month, day) >= '{first:%Y%m%d}'"


def days_before(paths: Iterable[str], cutoff: date) -> list[date]:
    """Distinct partition days of ``paths`` (files of a snapshot) that are before ``cutoff``, sorted."""
    days = {d for d in (day_of_partition(p) for p in paths) if d is not None and d < cutoff}
    return sorted(days)


# --- warehouse partition ids ---------------------------------------------------------------------


def partition_bounds(partition_id: str) -> tuple[date, date] | None:
    """First and last day covered by a ClickHouse partition id of toYYYYMM (6 digits) or toYYYYMMDD
    (8 digits); None for other partitionings (``all`` of PARTITION BY tuple(), expressions)."""
    if re.fullmatch(r"\d{6}", partition_id):
        year, month = int(partition_id[:4]), int(partition_id[4:])
        if not 1 <= month <= 12:
            return None
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    if re.fullmatch(r"\d{8}", partition_id):
        try:
            day = date(int(partition_id[:4]), int(partition_id[4:6]), int(partition_id[6:]))
        except ValueError:
            return None
        return day, day
    return None


def partitions_past_retention(partition_ids: Iterable[str], cutoff: date) -> list[str]:
    """Partitions whose every day is before ``cutoff`` (a month is dropped only once wholly past it)."""
    expired = []
    for pid in sorted(set(partition_ids)):
        bounds = partition_bounds(pid)
        if bounds is not None and bounds[1] < cutoff:
            expired.append(pid)
    return expired


def recent_partitions(partition_ids: Iterable[str], since: date) -> list[str]:
    """Partitions holding any day on or after ``since``, plus unpartitioned tables' ``all``."""
    recent = []
    for pid in sorted(set(partition_ids)):
        bounds = partition_bounds(pid)
        if pid == "all" or (bounds is not None and bounds[1] >= since):
            recent.append(pid)
    return recent
