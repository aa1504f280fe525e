"""Store-local calendars: for each UTC hour, each store's local date, clock hour, weekday and day of year.

Everything in the simulation happens on a grid of whole UTC hours. The stores' time zones all have
whole-hour offsets, so a local clock hour never straddles a UTC hour and a local midnight is always a
UTC hour boundary; demand intensities are therefore constant within a UTC hour, and the generator and
the expected-demand computation walk the same grid (a daylight-saving day has 23 or 25 local hours,
and both see exactly those).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class HourGrid:
    """Local calendar of every store over ``count`` consecutive UTC hours starting at ``first_hour``.

    Arrays are ``[store, hour]``. ``local_date`` is a proleptic Gregorian ordinal (``date.toordinal``),
    ``weekday`` is 0 = Monday ... 6 = Sunday, ``day_of_year`` is 1..366.
    """

    first_hour: int  # hours since the Unix epoch (UTC)
    local_date: np.ndarray
    local_hour: np.ndarray
    weekday: np.ndarray
    day_of_year: np.ndarray

    @property
    def count(self) -> int:
        return int(self.local_date.shape[1])


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def hour_grid(timezones: Sequence[str], first_hour: int, count: int) -> HourGrid:
    """The local calendar of stores in ``timezones`` for UTC hours [first_hour, first_hour + count)."""
    utc = pd.date_range(pd.Timestamp(first_hour * HOUR_MS, unit="ms", tz="UTC"), periods=count, freq="h")
    n = len(timezones)
    local_date = np.empty((n, count), dtype=np.int64)
    local_hour = np.empty((n, count), dtype=np.int64)
    day_of_year = np.empty((n, count), dtype=np.int64)
    rows_by_zone: dict[str, list[int]] = {}
    for i, tz in enumerate(timezones):
        rows_by_zone.setdefault(tz, []).append(i)
    for tz, rows in rows_by_zone.items():
        # zoneinfo (not pytz) so tests that check local times with zoneinfo see the same tz database.
        local = utc.tz_convert(zone(tz))
        naive = local.tz_localize(None)
        days = naive.values.astype("datetime64[D]").astype(np.int64) + _EPOCH_ORDINAL
        local_date[rows] = days
        local_hour[rows] = np.asarray(naive.hour)
        day_of_year[rows] = np.asarray(naive.dayofyear)
    weekday = (local_date - 1) % 7  # date(1, 1, 1) is a Monday
    return HourGrid(first_hour, local_date, local_hour, weekday, day_of_year)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (naive datetimes are refused: ambiguous)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware datetime (UTC)")
    return int(round(moment.timestamp() * 1000))


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def iso_z(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and 'Z', the contracts' event_time form."""
    return np.datetime_as_string(np.datetime64(int(ms), "ms"), unit="ms") + "Z"


def local_midnight_ms(day: date, tz: str) -> int:
    """The UTC instant (ms) at which ``day`` starts in ``tz``."""
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=zone(tz)))
