"""Anomalies injected into the simulated chain (faults.StockCount and faults.DemandBurst, applied by
the generator): a count is an inventory_update with reason adjustment at its moment that moves the
stock by the units it found missing, the rest of the run continues from the counted level (so the
ground truth stays consistent); a burst multiplies one store/product's sales for its span. The
stream's detectors, run on the generated events, find exactly those episodes and nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from retail_platform.simulation import batch as b
from retail_platform.simulation.__main__ import parser
from retail_platform.simulation.calendar import HOUR_MS, to_ms
from retail_platform.simulation.catalog import CatalogConfig, generate_catalog
from retail_platform.simulation.demand import pace_per_day
from retail_platform.simulation.faults import DemandBurst, StockCount
from retail_platform.simulation.generator import EventGenerator, GeneratorConfig
from retail_platform.streaming.anomalies import CLOSED, OPEN, AnomalyConfig, run_stock
from retail_platform.streaming.velocity import VELOCITY_HIGH, Forecast, VelocityConfig, run_velocity

START = datetime(2025, 6, 3, 12, 0, tzinfo=timezone.utc)  # a Tuesday noon UTC: most stores open
CATALOG = CatalogConfig(seed=2, stores=3, products=8, lines_per_store_hour=400)


def generate(
    counts: tuple[StockCount, ...], minutes: int = 20, seed: int = 0, bursts: tuple[DemandBurst, ...] = ()
) -> list[dict]:
    catalog = generate_catalog(CATALOG)
    config = GeneratorConfig(
        start=START,
        end=START + timedelta(minutes=minutes),
        seed=seed,
        step_seconds=60,
        shrinkage_per_day=0.0,  # only the injected movement is unexplained
        adjustments_per_day=0.0,
        stock_counts=counts,
        demand_bursts=bursts,
    )
    generator = EventGenerator(catalog, config)
    rows = b.EventBatch.concat(list(generator.batches()))
    return generator.encoder.encode(rows).events()


def inventory(events: list[dict], event_type: str = "inventory_update") -> list[dict]:
    out = []
    for e in events:
        if e["event_type"] == event_type:
            moment = datetime.fromisoformat(e["event_time"].replace("Z", "+00:00"))
            out.append({**e, "event_time": moment})
    return out


def test_a_stock_count_is_an_adjustment_the_detector_flags_once_and_nothing_else():
    catalog = generate_catalog(CATALOG)
    store, product = catalog.store_ids[1], catalog.product_ids[5]
    events = generate((StockCount(1, 5, 25, 300.0),))
    counted = [
        e
        for e in events
        if e["event_type"] == "inventory_update" and e["reason"] == "adjustment" and e["store_id"] == store
    ]
    assert len(counted) == 1 and counted[0]["product_id"] == product
    assert counted[0]["quantity_change"] == -25
    assert counted[0]["event_time"].startswith((START + timedelta(seconds=300)).strftime("%Y-%m-%dT%H:%M:%S"))

    # The levels stay a consistent sequence: each is the one before plus the recorded change.
    levels: dict[tuple[str, str], int] = {}
    for e in inventory(events):
        key = (e["store_id"], e["product_id"])
        if key in levels:
            assert e["new_quantity"] == max(levels[key] + e["quantity_change"], 0)
        levels[key] = e["new_quantity"]

    _, rows = run_stock(inventory(events), {}, AnomalyConfig(stock_tolerance=5))
    assert [(r.store_id, r.product_id, r.status) for r in rows] == [(store, product, OPEN), (store, product, CLOSED)]
    assert rows[0].source_event_id == counted[0]["event_id"]
    assert rows[0].expected - rows[0].observed == 25


def test_without_injections_the_run_is_unchanged_and_has_no_anomaly():
    plain = generate(())
    assert run_stock(inventory(plain), {}, AnomalyConfig(stock_tolerance=5))[1] == []
    # Before the count's moment the run is the one without it (same seed, same random stream).
    moment = (START + timedelta(seconds=600)).strftime("%Y-%m-%dT%H:%M:%S")
    injected = generate((StockCount(0, 0, 3, 600.0),))
    before = [e["event_id"] for e in plain if e["event_time"] < moment]
    assert len(before) > 100 and [e["event_id"] for e in injected[: len(before)]] == before


def test_a_demand_burst_is_one_velocity_episode_of_its_store_product_and_nothing_else():
    catalog = generate_catalog(CATALOG)
    burst = DemandBurst(1, 3, 10.0, 1200.0, 1800.0)
    events = generate((), minutes=60, bursts=(burst,))
    sales = inventory(events, "sales_transaction")
    store, product = catalog.store_ids[1], catalog.product_ids[3]
    in_burst = [
        s for s in sales if START + timedelta(seconds=1200) <= s["event_time"] < START + timedelta(seconds=1800)
    ]
    before = [s for s in sales if START + timedelta(seconds=600) <= s["event_time"] < START + timedelta(seconds=1200)]

    def units(rows: list[dict]) -> int:
        return sum(s["quantity"] for s in rows if (s["store_id"], s["product_id"]) == (store, product))

    assert units(in_burst) > 5 * units(before) > 0

    # Forecasts at the hour's pace, with an interval of +-30 %: the burst breaches, nothing else does.
    pace = pace_per_day(catalog, to_ms(START) // HOUR_MS)
    forecasts = {
        (s, p, START.date()): Forecast(pace[i, j], 0.7 * pace[i, j], 1.3 * pace[i, j])
        for i, s in enumerate(catalog.store_ids)
        for j, p in enumerate(catalog.product_ids)
    }
    config = VelocityConfig(window_seconds=600, factor=3.0, min_units=20)
    _, rows = run_velocity(sales, {}, forecasts, config)
    assert [(r.store_id, r.product_id, r.kind, r.status) for r in rows if r.status == OPEN] == [
        (store, product, VELOCITY_HIGH, OPEN)
    ]
    opened = next(r for r in rows if r.status == OPEN)
    assert START + timedelta(seconds=1200) <= opened.event_time < START + timedelta(seconds=1800)
    assert run_velocity(inventory(generate((), minutes=60), "sales_transaction"), {}, forecasts, config)[1] == []


def test_a_stock_count_outside_the_catalogue_is_refused():
    catalog = generate_catalog(CATALOG)
    with pytest.raises(ValueError, match=r"stock count 3:0:5@1: the catalogue has stores 0..2"):
        EventGenerator(catalog, GeneratorConfig(start=START, stock_counts=(StockCount(3, 0, 5, 1.0),)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1:2:3", "expected STORE:PRODUCT:UNITS@SECONDS"),
        ("1:x:3@5", "are integers"),
        ("1:2:0@5", "units must not be 0"),
        ("-1:2:3@5", "indices from 0"),
        ("1:2:3@-5", "at or after the start"),
    ],
)
def test_bad_stock_counts_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        StockCount.parse(text)


def test_the_command_line_takes_repeated_injections():
    args = parser().parse_args(["--stock-count", "0:3:25@30", "--stock-count", "1:0:-4@90.5"])
    assert args.stock_count == [StockCount(0, 3, 25, 30.0), StockCount(1, 0, -4, 90.5)]
    args = parser().parse_args(["--demand-burst", "0:2:8@40-60"])
    assert args.demand_burst == [DemandBurst(0, 2, 8.0, 40.0, 60.0)]
    for bad in (["--stock-count", "0:3"], ["--demand-burst", "0:2:8@60"]):
        with pytest.raises(SystemExit):
            parser().parse_args(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1:2:3", "expected STORE:PRODUCT:FACTOR@FROM-TO"),
        ("1:2:x@1-2", "are integers"),
        ("1:2:0@1-2", "factor must be positive"),
        ("1:2:3@5-5", "end after it"),
        ("1:-2:3@1-5", "indices from 0"),
    ],
)
def test_bad_demand_bursts_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        DemandBurst.parse(text)


def test_a_demand_burst_outside_the_catalogue_is_refused():
    catalog = generate_catalog(CATALOG)
    with pytest.raises(ValueError, match=r"demand burst 0:8:2@0-5: the catalogue has stores 0..2 and products 0..7"):
        EventGenerator(catalog, GeneratorConfig(start=START, demand_bursts=(DemandBurst(0, 8, 2.0, 0.0, 5.0),)))
