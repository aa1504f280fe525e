"""Duplicates redelivered after the stream's deduplication window, recognised through the warehouse.

The streaming query drops a repeated event_id within its watermark ``W`` (15 minutes of arrival,
Spark state). A redelivery later than that would be counted twice, so every accepted event is also
recorded in ``rt_event_ids`` (sql/0018) for two days, and some of a batch's events are looked up there
first. Looking up every event would read most of the table at fleet rates; the band below says which
events need it.

With arrival ``A`` (the clamped Kafka timestamp the dedup operator uses), an event is *on time* when
``A - 2W/3 <= event_time < A + W/3`` and *early* when ``event_time >= A + W/3``. Let a duplicate
arrive at ``A1`` with its original's event_time ``E``; the operator already dropped it unless
``A1 >= A0 + W``, with ``A0`` the original's arrival.

- A duplicate outside the band (late or early) is looked up among all ids (its ``E``, hence its
  ``event_hour``, is the original's), so it is found whatever band the original was in.
- A duplicate inside the band has ``E >= A1 - 2W/3 >= A0 + W/3``: its original arrived *early*. So an
  on-time event is looked up among early ids only, a small range of the table's primary key.

Either way every duplicate arriving within the table's retention (at least 48 hours after its
original) is found. Lookups skip the current batch's own rows (``batch_id >= N`` of the same query),
so a replayed batch decides exactly as its first attempt did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

# The minimum time an accepted event id is remembered (rt_event_ids' TTL, sql/0018).
HORIZON = timedelta(hours=48)


@dataclass(frozen=True)
class Identity:
    """What the lookups need of one accepted event."""

    event_id: str
    event_type: str
    event_time: datetime
    arrival: datetime | None  # None: not known (treated as on time)


@dataclass(frozen=True)
class Band:
    """The on-time band for a deduplication window ``W``: [arrival - 2W/3, arrival + W/3)."""

    window: timedelta

    @property
    def before(self) -> timedelta:
        return self.window * 2 / 3

    @property
    def after(self) -> timedelta:
        return self.window / 3

    def is_early(self, identity: Identity) -> bool:
        return identity.arrival is not None and identity.event_time >= identity.arrival + self.after

    def is_late(self, identity: Identity) -> bool:
        return identity.arrival is not None and identity.event_time < identity.arrival - self.before

    def on_time(self, identity: Identity) -> bool:
        return not (self.is_early(identity) or self.is_late(identity))


def event_hour(event_time: datetime) -> int:
    """toStartOfHour(event_time) as a Unix timestamp (rt_event_ids.event_hour)."""
    seconds = int(_utc(event_time).timestamp())
    return seconds - seconds % 3600


Probe = tuple[int, int, str]  # (early, event_hour, event_id): a primary-key prefix of rt_event_ids


def probes(identities: Iterable[Identity], band: Band) -> list[Probe]:
    """The keys to look up: on-time events among the early ids only; the others among all."""
    keys: set[Probe] = set()
    for identity in identities:
        hour = event_hour(identity.event_time)
        keys.add((1, hour, identity.event_id))
        if not band.on_time(identity):
            keys.add((0, hour, identity.event_id))
    return sorted(keys)


def id_rows(identities: Iterable[Identity], band: Band, query_id: str, batch_id: int) -> list[list[object]]:
    """rt_event_ids rows of the batch's accepted events, sorted (a replay sends the same insert)."""
    rows = [
        [
            int(band.is_early(i)),
            event_hour(i.event_time),
            i.event_id,
            i.event_type,
            _utc(i.arrival if i.arrival is not None else i.event_time),
            query_id,
            batch_id,
        ]
        for i in identities
    ]
    return sorted(rows, key=lambda r: (r[0], r[1], r[2]))


def day_rows(identities: Iterable[Identity], query_name: str, query_id: str, batch_id: int) -> list[list[object]]:
    """ops_stream_days rows: accepted events per event type and UTC day of event_time (the bronze
    partition the batch appended them to)."""
    counts: Counter[tuple[str, date]] = Counter((i.event_type, _utc(i.event_time).date()) for i in identities)
    return [[query_name, query_id, batch_id, event_type, day, n] for (event_type, day), n in sorted(counts.items())]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
