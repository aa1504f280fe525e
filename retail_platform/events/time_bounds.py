"""Event-time bounds: the event_time a record may carry, relative to when it arrived.

One rule for the stream (``streaming/parse.py``, arrival = the record's Kafka timestamp) and the
daily load (``batch/conform.py`` and its vectorised pre-check, arrival = bronze's ``kafka_timestamp``),
applied after the contract (an event that breaks its contract gets the contract's reason):

- ``before_floor:event_time``: event_time < the floor (``RETAIL_EVENT_TIME_FLOOR``, 00:00 UTC);
- ``in_future:event_time``: event_time > arrival + ``RETAIL_EVENT_MAX_FUTURE_SECONDS``, or after
  ``CEILING`` whatever the arrival (the warehouse's DateTime ends in 2106);
- ``too_old:event_time``: event_time < arrival - ``RETAIL_STREAM_MAX_EVENT_AGE_DAYS``, only for records
  that came through a contract topic: the real-time tables would delete such an event as soon as it
  is inserted. History imports (bronze ``kafka_topic`` ``landing:<source>`` or ``history``) carry old
  events legitimately.

Each bound is inclusive (an event_time exactly on it passes). A record without an arrival time is
checked against the floor and the ceiling only. ``TimeBounds`` is built from the settings by the
caller (never at import) and passed to the functions, including into Spark's executors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

from retail_platform import topics

if TYPE_CHECKING:
    from retail_platform.settings import Settings

UTC = timezone.utc
# The latest event_time accepted whatever the arrival: ClickHouse's DateTime ends 2106-02-07.
CEILING = datetime(2106, 1, 1, tzinfo=UTC)
# Topics whose records are streamed events (too_old applies); bronze rows from elsewhere are imports.
CONTRACT_TOPICS = frozenset(
    t.name for t in (topics.SALES, topics.INVENTORY, topics.PRICES, topics.RESTOCK_ALERTS, topics.PURCHASE_ORDERS)
)

BEFORE_FLOOR = "before_floor:event_time"
IN_FUTURE = "in_future:event_time"
TOO_OLD = "too_old:event_time"


@dataclass(frozen=True)
class TimeBounds:
    floor: datetime
    max_future: timedelta
    max_age: timedelta

    @classmethod
    def of(cls, floor: date, max_future_seconds: int, max_age_days: int) -> TimeBounds:
        return cls(
            datetime.combine(floor, time(), UTC), timedelta(seconds=max_future_seconds), timedelta(days=max_age_days)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TimeBounds:
        return cls.of(settings.event_time_floor, settings.event_max_future_seconds, settings.stream_max_event_age_days)

    def reason(self, event_time: datetime, arrival: datetime | None, streamed: bool) -> str | None:
        """The bound ``event_time`` breaks, or None; datetimes without a zone are taken as UTC."""
        event_time = _utc(event_time)
        if event_time < self.floor:
            return BEFORE_FLOOR
        if event_time > CEILING:
            return IN_FUTURE
        if arrival is None:
            return None
        arrival = _utc(arrival)
        if event_time - arrival > self.max_future:
            return IN_FUTURE
        if streamed and arrival - event_time > self.max_age:
            return TOO_OLD
        return None


def is_streamed(topic: str | None) -> bool:
    """Whether a record (or a bronze row, by its ``kafka_topic``) came through a contract topic."""
    return topic in CONTRACT_TOPICS


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
