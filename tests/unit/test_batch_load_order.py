"""The order of a day's load (batch/daily.py load_day): facts and aggregates swapped in, checks
recorded, and the watermark row only when every check passed. The warehouse calls are replaced by
recorders here, for the order alone; the behaviour against the real warehouse is in
tests/integration/test_daily_etl.py."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pandas as pd
import pytest

from retail_platform.batch import daily, facts, quality
from retail_platform.batch.daily import TypeResult
from retail_platform.events.contracts import EVENT_TYPES

DAY = date(2026, 11, 20)


@pytest.fixture
def calls(monkeypatch):
    log: list[str] = []
    wl = daily.wl
    monkeypatch.setattr(wl, "dimensions", lambda client, db: type("D", (), {"products": {}})())
    monkeypatch.setattr(wl, "previous_snapshots", lambda client, db, day: pd.DataFrame())
    monkeypatch.setattr(wl, "reorder_policy", lambda client, db: {})
    # Inferred dimension members (batch/inferred.py): none needed here.
    made = SimpleNamespace(stores_created=0, products_created=0, sale_lines=0, summary=lambda: "none")
    monkeypatch.setattr(daily, "create_for_day", lambda *a, **k: made, raising=False)
    monkeypatch.setattr(daily, "attached", lambda *a, **k: made, raising=False)
    monkeypatch.setattr(daily.facts, "sales_rows", lambda *a, **k: pd.DataFrame({"x": [1]}))
    monkeypatch.setattr(daily.facts, "inventory_rows", lambda *a, **k: pd.DataFrame({"x": [1]}))
    monkeypatch.setattr(wl, "replace_day", lambda client, db, table, day, rows: log.append(f"swap {table}") or 1)
    monkeypatch.setattr(daily.aggregates, "refresh", lambda client, db, a, b: log.append("aggregates"))
    monkeypatch.setattr(wl, "record_checks", lambda client, db, run, day, checks: log.append("checks"))
    monkeypatch.setattr(wl, "record_watermark", lambda *a, **k: log.append("watermark"))
    monkeypatch.setattr(wl, "withdraw_watermark", lambda client, db, day: log.append("withdraw") or True)
    return log


def _types() -> dict[str, TypeResult]:
    return {
        t: TypeResult(rows=10, complete=10, distinct_ids=10, accepted=10, silver=pd.DataFrame()) for t in daily.TYPES
    }


def _totals(monkeypatch, speed_units):
    totals = {"rows": 5, "distinct_sale_ids": 5, "units": 10, "revenue": 100.0}
    totals |= {"speed_units": speed_units, "speed_revenue": 100.0 if speed_units is not None else None}
    monkeypatch.setattr(daily.wl, "sales_totals", lambda client, db, day: totals)


def test_watermark_is_written_after_every_check_passed(calls, monkeypatch):
    _totals(monkeypatch, speed_units=10)
    result = daily.load_day(None, "db", DAY, _types(), "run")
    assert calls == ["swap fact_sales", "swap fact_inventory", "aggregates", "checks", "watermark"]
    assert all(c.passed for c in result.checks)


def test_a_failed_post_load_check_writes_no_watermark_and_withdraws_an_old_one(calls, monkeypatch):
    _totals(monkeypatch, speed_units=50)  # the speed layer disagrees: reconciliation fails
    with pytest.raises(quality.DataQualityError, match="reconciliation:units"):
        daily.load_day(None, "db", DAY, _types(), "run")
    assert calls == ["swap fact_sales", "swap fact_inventory", "aggregates", "checks", "withdraw"]


def test_a_failed_input_check_loads_nothing(calls, monkeypatch):
    _totals(monkeypatch, speed_units=10)
    types = _types()
    types["sales_transaction"] = TypeResult(rows=10, complete=5, distinct_ids=10, accepted=10, silver=pd.DataFrame())
    with pytest.raises(quality.DataQualityError, match="completeness:sales_transaction"):
        daily.load_day(None, "db", DAY, types, "run")
    assert calls == ["checks"]


def test_completeness_counts_the_required_fields_that_cannot_be_null():
    assert daily.never_null("purchase_order") == [
        "event_id",
        "event_type",
        "schema_version",
        "event_time",
        "store_id",
        "product_id",
        "order_id",
        "status",
        "quantity",
    ]  # fmt: skip  (expected_delivery is required and null on a receipt)
    assert daily.never_null("sales_transaction") == EVENT_TYPES["sales_transaction"].schema["required"]


def test_a_type_that_never_landed_has_empty_days_with_the_silver_columns():
    frame = daily.empty_silver("purchase_order")
    assert frame.empty and {"order_id", "status", "quantity", "kafka_topic", "year", "category"} <= set(frame.columns)
    assert facts.on_order(None, frame) == {}
