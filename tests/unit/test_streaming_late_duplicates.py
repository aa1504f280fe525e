"""The on-time band finds every duplicate the dedup operator lets through, and rt_event_ids keeps ids
at least as long as the documented horizon."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest

from retail_platform.settings import REPO_ROOT
from retail_platform.streaming.late_duplicates import HORIZON, Band, Identity, day_rows, event_hour, id_rows, probes
from retail_platform.warehouse.migrations import parse_migration

W = timedelta(minutes=15)
BAND = Band(W)
A0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def identity(event_time: datetime, arrival: datetime | None, event_id: str = "e-1") -> Identity:
    return Identity(event_id, "sales_transaction", event_time, arrival)


def recorded_keys(original: Identity) -> set[tuple[int, int, str]]:
    (row,) = id_rows([original], BAND, "q", 0)
    return {(row[0], row[1], row[2])}


@pytest.mark.parametrize("skew_minutes", range(-180, 61, 5))  # the original's event_time - its arrival
@pytest.mark.parametrize("delay_minutes", [15, 16, 20, 45, 60, 61, 600, 24 * 60, 47 * 60])  # redelivery delay
def test_every_redelivery_past_the_window_is_probed_where_its_original_was_recorded(skew_minutes, delay_minutes):
    event_time = A0 + timedelta(minutes=skew_minutes, seconds=7)
    original = identity(event_time, A0)
    redelivery = identity(event_time, A0 + timedelta(minutes=delay_minutes))
    assert recorded_keys(original) & set(probes([redelivery], BAND))


def test_on_time_events_are_probed_among_early_ids_only():
    on_time = identity(A0 - timedelta(minutes=3), A0)
    assert BAND.on_time(on_time)
    assert probes([on_time], BAND) == [(1, event_hour(on_time.event_time), "e-1")]


@pytest.mark.parametrize(
    ("offset", "early", "late"),
    [
        (-W * 2 / 3, False, False),
        (-W * 2 / 3 - timedelta(microseconds=1), False, True),
        (W / 3 - timedelta(microseconds=1), False, False),
        (W / 3, True, False),
    ],
)
def test_band_edges(offset, early, late):
    event = identity(A0 + offset, A0)
    assert (BAND.is_early(event), BAND.is_late(event)) == (early, late)


def test_an_unknown_arrival_is_on_time():
    assert BAND.on_time(identity(A0 - timedelta(days=3), None))


def test_event_hour_is_the_start_of_the_utc_hour():
    assert event_hour(datetime(2026, 3, 2, 10, 59, 59, tzinfo=timezone.utc)) == int(A0.timestamp())
    naive = datetime(2026, 3, 2, 10, 30)
    assert event_hour(naive) == int(A0.timestamp())


def test_day_rows_count_events_per_type_and_utc_day():
    events = [
        identity(datetime(2026, 3, 1, 23, 59, tzinfo=timezone.utc), A0, "a"),
        identity(datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc), A0, "b"),
        identity(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc), A0, "c"),
        Identity("d", "price_change", datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc), A0),
    ]
    assert day_rows(events, "stream_events", "q", 7) == [
        ["stream_events", "q", 7, "price_change", date(2026, 3, 2), 1],
        ["stream_events", "q", 7, "sales_transaction", date(2026, 3, 1), 1],
        ["stream_events", "q", 7, "sales_transaction", date(2026, 3, 2), 2],
    ]


def test_the_table_keeps_ids_at_least_the_horizon():
    (statement,) = [
        s for s in parse_migration(REPO_ROOT / "sql" / "0018_stream_event_ids.sql").up if "rt_event_ids" in s
    ]
    ttl = re.search(r"TTL toDateTime\(arrival\) \+ INTERVAL (\d+) DAY", statement)
    assert ttl and timedelta(days=int(ttl.group(1))) >= HORIZON
    assert "PARTITION BY toYYYYMMDD(arrival)" in statement  # whole days drop: nothing earlier than the TTL
    assert "ORDER BY (early, event_hour, event_id)" in statement  # the probes are primary-key prefixes
