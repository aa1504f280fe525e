"""Sales velocity against the forecast, in the stream: a store/product selling much faster or slower
than its current demand forecast's interval says, one anomaly per episode.

Velocity is the units sold in a trailing window of event time (``RETAIL_ANOMALY_VELOCITY_WINDOW_SECONDS``,
default an hour) ending at the store/product's newest sale, as a rate per day. The forecast is the
newest batch prediction for the store/product and the UTC day of that sale (``ml_demand_forecast``:
of the forecasts made for that day, the one with the newest ``forecast_date``), with its 80 % interval
[lower_units, upper_units] of a day's units. The window's pace is scaled to a day as if demand were
spread evenly over 24 hours; a store's opening hours concentrate a day's sales, so the breach band is
the interval widened by ``RETAIL_ANOMALY_VELOCITY_FACTOR`` (default 3) on both sides:

    velocity_high: rate > upper_units * factor      velocity_low: rate < lower_units / factor

and an open episode ends when the rate is back inside the interval itself (lower_units <= rate <=
upper_units), or can no longer be judged; the margin between the two keeps a rate near the band's
edge from opening and ending episodes by chance. Velocity is judged only when the forecast expects
at least ``RETAIL_ANOMALY_VELOCITY_MIN_UNITS`` units in the time the window covers (so a slow
mover's few sales, whose count is mostly chance, are never extrapolated to a day) and the window
covers at least one bucket (below); without a forecast for the day (or with one that is not finite)
it is not judged either. Judged after every sale, in (event_time, event_id) order: a store/product
that stops selling is judged at its next sale.

The window is kept as 60 buckets of a 60th of its length each (units per bucket), so the state per
store/product is small whatever the rate. A sale older than the window of the newest sale adds nothing;
a late sale within it is counted in its bucket. The window is shorter than its length only until the
stream has seen the store/product for that long (``first``): the rate divides by the time covered.

Pure: input rows + previous state + forecasts -> anomaly rows (``anomalies.Anomaly``) + new state.
Anomaly ids are UUIDv5 of the sale that opened the episode, so a replayed micro-batch derives the same.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from retail_platform.streaming.anomalies import CLOSED, OPEN, Anomaly, anomaly_id
from retail_platform.streaming.realtime import event_order

VELOCITY_HIGH = "velocity_high"
VELOCITY_LOW = "velocity_low"
# Verdicts besides the two breaches: not judged (no forecast, too few units, too short a window), inside
# the forecast's interval, or between the interval and the breach band (an open episode goes on).
UNJUDGED, INSIDE, MARGIN = "unjudged", "inside", "margin"
BUCKETS = 60
DAY_SECONDS = 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

Key = tuple[str, str]


@dataclass(frozen=True)
class Forecast:
    """A day's forecast of units for one store/product: the point and the 80 % interval."""

    predicted: float
    lower: float
    upper: float

    @property
    def usable(self) -> bool:
        """Finite numbers (a model's NaN or infinity judges nothing, and could not be published)."""
        return all(math.isfinite(v) for v in (self.predicted, self.lower, self.upper))


@dataclass(frozen=True)
class VelocityConfig:
    window_seconds: int = 3600
    factor: float = 3.0
    min_units: int = 20

    def __post_init__(self) -> None:
        if not 10 <= self.window_seconds <= DAY_SECONDS:
            raise ValueError(f"window_seconds must be within 10..{DAY_SECONDS}, got {self.window_seconds}")
        if not self.factor >= 1.0:
            raise ValueError(f"factor must be at least 1, got {self.factor}")
        if self.min_units < 1:
            raise ValueError(f"min_units must be at least 1, got {self.min_units}")

    @property
    def bucket_ms(self) -> int:
        return -(-self.window_seconds * 1000 // BUCKETS)


@dataclass(frozen=True)
class VelocityState:
    """A store/product's recent sales as the velocity detector keeps them after a micro-batch."""

    newest: datetime  # newest sale's event_time
    first: datetime  # first sale the detector saw (the window covers less before first + window)
    bucket_ms: int  # bucket width the buckets were kept with (a changed window starts afresh)
    buckets: tuple[tuple[int, int], ...]  # (bucket number, units), ascending, within newest's window
    kind: str = ""  # VELOCITY_HIGH or VELOCITY_LOW while an episode is open
    episode: str = ""  # the open episode's anomaly id


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def window_units(state: VelocityState) -> int:
    return sum(units for _, units in state.buckets)


def covered_seconds(state: VelocityState) -> float:
    """Seconds of event time the window covers: from its oldest bucket's start (or the first sale, when
    later) to the newest sale."""
    newest = _ms(state.newest)
    start = (newest // state.bucket_ms - BUCKETS + 1) * state.bucket_ms
    return max(0, newest - max(start, _ms(state.first))) / 1000


def rate_per_day(state: VelocityState) -> float:
    seconds = covered_seconds(state)
    return window_units(state) / seconds * DAY_SECONDS if seconds > 0 else 0.0


def add_sale(state: VelocityState | None, sale: Mapping[str, Any], config: VelocityConfig) -> VelocityState:
    """The state with one sale counted (and buckets that left the window dropped)."""
    moment: datetime = sale["event_time"]
    if state is None:
        state = VelocityState(moment, moment, config.bucket_ms, ())
    elif state.bucket_ms != config.bucket_ms:  # the window setting changed: count afresh
        state = replace(state, newest=moment, first=moment, bucket_ms=config.bucket_ms, buckets=())
    newest = max(state.newest, moment)
    width = state.bucket_ms
    oldest = _ms(newest) // width - BUCKETS + 1
    bucket = _ms(moment) // width
    counts = {b: u for b, u in state.buckets if b >= oldest}
    if bucket >= oldest:
        counts[bucket] = counts.get(bucket, 0) + int(sale["quantity"])
    return replace(state, newest=newest, first=min(state.first, moment), buckets=tuple(sorted(counts.items())))


def judge(state: VelocityState, forecast: Forecast | None, config: VelocityConfig) -> str:
    """The verdict on the state as it is: VELOCITY_HIGH, VELOCITY_LOW, INSIDE, MARGIN or UNJUDGED."""
    covered = covered_seconds(state)
    if (
        forecast is None
        or not forecast.usable
        or covered < state.bucket_ms / 1000
        or forecast.predicted * covered / DAY_SECONDS < config.min_units
    ):
        return UNJUDGED
    rate = rate_per_day(state)
    if rate > forecast.upper * config.factor:
        return VELOCITY_HIGH
    if rate < forecast.lower / config.factor:
        return VELOCITY_LOW
    return INSIDE if forecast.lower <= rate <= forecast.upper else MARGIN


def advance_velocity(
    key: Key,
    state: VelocityState | None,
    sales: Iterable[Mapping[str, Any]],
    forecasts: Mapping[date, Forecast],
    config: VelocityConfig,
) -> tuple[VelocityState | None, list[Anomaly]]:
    """Apply one store/product's sales (any order) to its state; the new state and the anomaly rows
    (an episode's end before the next one's opening when a breach turns to the other side)."""
    rows: list[Anomaly] = []
    for sale in sorted(sales, key=event_order):
        state = add_sale(state, sale, config)
        forecast = forecasts.get(state.newest.astimezone(timezone.utc).date())
        verdict = judge(state, forecast, config)
        breach = verdict in (VELOCITY_HIGH, VELOCITY_LOW)
        ends = bool(state.episode) and (verdict in (UNJUDGED, INSIDE) or (breach and verdict != state.kind))
        opens = breach and (not state.episode or ends)
        if not (ends or opens):
            continue
        interval = (forecast.lower, forecast.upper) if forecast is not None else (0.0, 0.0)
        common = {
            "event_time": sale["event_time"],
            "store_id": key[0],
            "product_id": key[1],
            "observed": rate_per_day(state),
            "expected": forecast.predicted if forecast is not None else 0.0,
            "source_event_id": sale["event_id"],
        }
        if ends:
            rows.append(
                Anomaly(
                    anomaly_id=state.episode,
                    kind=state.kind,
                    status=CLOSED,
                    lower=interval[0],
                    upper=interval[1],
                    **common,
                )
            )
            state = replace(state, kind="", episode="")
        if opens:
            episode = anomaly_id(verdict, OPEN, sale["event_id"])
            band = (interval[0] / config.factor, interval[1] * config.factor)
            rows.append(Anomaly(anomaly_id=episode, kind=verdict, status=OPEN, lower=band[0], upper=band[1], **common))
            state = replace(state, kind=verdict, episode=episode)
    return state, rows


def group_sales(sales: Iterable[Mapping[str, Any]]) -> dict[Key, list[Mapping[str, Any]]]:
    grouped: dict[Key, list[Mapping[str, Any]]] = {}
    for sale in sales:
        grouped.setdefault((sale["store_id"], sale["product_id"]), []).append(sale)
    return grouped


def days_needed(sales: Iterable[Mapping[str, Any]]) -> dict[Key, set[date]]:
    """The (store/product, UTC day) pairs whose forecasts a batch of sales may be judged against."""
    needed: dict[Key, set[date]] = {}
    for sale in sales:
        key = (sale["store_id"], sale["product_id"])
        needed.setdefault(key, set()).add(sale["event_time"].astimezone(timezone.utc).date())
    return needed


def run_velocity(
    sales: Iterable[Mapping[str, Any]],
    states: Mapping[Key, VelocityState],
    forecasts: Mapping[tuple[str, str, date], Forecast],
    config: VelocityConfig,
) -> tuple[dict[Key, VelocityState], list[Anomaly]]:
    """One micro-batch: the changed states of the keys that sold and the anomaly rows, in key order."""
    by_key: dict[Key, dict[date, Forecast]] = {}
    for (store, product, day), forecast in forecasts.items():
        by_key.setdefault((store, product), {})[day] = forecast
    changed: dict[Key, VelocityState] = {}
    rows: list[Anomaly] = []
    for key, events in sorted(group_sales(sales).items()):
        before = states.get(key)
        after, found = advance_velocity(key, before, events, by_key.get(key, {}), config)
        if after is not None and after != before:
            changed[key] = after
        rows.extend(found)
    return changed, rows
