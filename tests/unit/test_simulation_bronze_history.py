"""History for bronze: the generator's events, column for column, with synthetic lineage."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from retail_platform.batch.facts import cents
from retail_platform.events.contracts import validate
from retail_platform.lake import day_predicate
from retail_platform.simulation.bronze_history import (
    HISTORY_TOPIC,
    HistoryConfig,
    generate_days,
    parser,
    sales_totals,
)

CONFIG = HistoryConfig(end_date=date(2026, 3, 3), days=2, stores=2, products=5, seed=11, lines_per_store_hour=10)


@pytest.fixture(scope="module")
def days():
    return list(generate_days(CONFIG))


def _iso(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_one_entry_per_day_of_the_range_in_order(days):
    assert [d for d, _ in days] == [date(2026, 3, 2), date(2026, 3, 3)]
    for day, tables in days:
        for table in tables.values():
            assert all(t.date() == day for t in table.column("event_time").to_pylist())


def test_rows_are_the_generator_events_field_for_field(days):
    events = list(CONFIG.generator(CONFIG.catalog()).events())
    rows = {r["event_id"]: r for _, tables in days for table in tables.values() for r in table.to_pylist()}
    assert len(rows) == len(events) > 0
    for event in events:
        row = rows[event["event_id"]]
        for name, value in event.items():
            got = _iso(row[name]) if name == "event_time" else row[name]
            assert got == value, (name, event)
        assert validate(event) is None


def test_lineage_is_synthetic_and_offsets_run_on_across_days(days):
    for event_type in ("sales_transaction", "inventory_update"):
        offsets = [o for _, tables in days for o in tables[event_type].column("kafka_offset").to_pylist()]
        assert offsets == list(range(len(offsets)))
        topics = {t for _, tables in days for t in tables[event_type].column("kafka_topic").to_pylist()}
        assert topics <= {HISTORY_TOPIC}


def test_same_config_gives_identical_rows(days):
    again = list(generate_days(CONFIG))
    assert [(d, {k: v.to_pylist() for k, v in t.items()}) for d, t in again] == [
        (d, {k: v.to_pylist() for k, v in t.items()}) for d, t in days
    ]


def test_day_predicate_names_each_partition():
    assert day_predicate(date(2026, 1, 5)) == "(year = '2026' AND month = '01' AND day = '05')"
    assert day_predicate(date(2026, 1, 31), date(2026, 2, 1)) == (
        "(year = '2026' AND month = '01' AND day = '31') OR (year = '2026' AND month = '02' AND day = '01')"
    )


def test_cli_requires_an_end_date():
    with pytest.raises(SystemExit):
        parser().parse_args(["--days", "3"])
    args = parser().parse_args(["--days", "3", "--end-date", "2026-01-02", "--stores", "2"])
    assert args.end_date == date(2026, 1, 2) and args.stores == 2


def test_sales_totals_are_what_the_facts_of_the_day_must_hold(days):
    for _, tables in days:
        rows = tables["sales_transaction"].to_pylist()
        revenue = sum((r["quantity"] * cents(r["unit_price"]) for r in rows), Decimal(0))  # fact_sales' revenue
        totals = sales_totals(tables["sales_transaction"])
        assert totals == {
            "lines": len(rows),
            "units": sum(r["quantity"] for r in rows),
            "revenue_cents": int(revenue * 100),
        }
        assert totals["lines"] > 0
