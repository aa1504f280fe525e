"""Anomalies injected into the simulated chain (faults.StockCount, applied by the generator): the
count is an inventory_update with reason adjustment at its moment that moves the stock by the units
it found missing, the rest of the run continues from the counted level (so the ground truth stays
consistent), and the stream's detector, run on the generated events, finds exactly that episode."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from retail_platform.simulation import batch as b
from retail_platform.simulation.__main__ import parser
from retail_platform.simulation.catalog import CatalogConfig, generate_catalog
from retail_platform.simulation.faults import StockCount
from retail_platform.simulation.generator import EventGenerator, GeneratorConfig
from retail_platform.streaming.anomalies import CLOSED, OPEN, AnomalyConfig, run_stock

START = datetime(2025, 6, 3, 12, 0, tzinfo=timezone.utc)  # a Tuesday noon UTC: most stores open
CATALOG = CatalogConfig(seed=2, stores=3, products=8, lines_per_store_hour=400)


def generate(counts: tuple[StockCount, ...], minutes: int = 20, seed: int = 0) -> list[dict]:
    catalog = generate_catalog(CATALOG)
    config = GeneratorConfig(
        start=START,
        end=START + timedelta(minutes=minutes),
        seed=seed,
        step_seconds=60,
        shrinkage_per_day=0.0,  # only the injected movement is unexplained
        adjustments_per_day=0.0,
        stock_counts=counts,
    )
    generator = EventGenerator(catalog, config)
    rows = b.EventBatch.concat(list(generator.batches()))
    return generator.encoder.encode(rows).events()


def inventory(events: list[dict]) -> list[dict]:
    out = []
    for e in events:
        if e["event_type"] == "inventory_update":
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


def test_the_command_line_takes_repeated_stock_counts():
    args = parser().parse_args(["--stock-count", "0:3:25@30", "--stock-count", "1:0:-4@90.5"])
    assert args.stock_count == [StockCount(0, 3, 25, 30.0), StockCount(1, 0, -4, 90.5)]
    with pytest.raises(SystemExit):
        parser().parse_args(["--stock-count", "0:3"])
