"""The serving aggregates' range arithmetic (the SQL itself runs in tests/integration/test_serving_views.py)."""

from __future__ import annotations

from datetime import date

import pytest

from retail_platform.batch import aggregates


def test_month_spans_split_a_range_at_month_ends():
    spans = list(aggregates.month_spans(date(2026, 1, 30), date(2026, 3, 2)))
    assert spans == [
        (202601, date(2026, 1, 30), date(2026, 1, 31)),
        (202602, date(2026, 2, 1), date(2026, 2, 28)),
        (202603, date(2026, 3, 1), date(2026, 3, 2)),
    ]


def test_month_spans_of_one_day_and_across_a_year_end():
    assert list(aggregates.month_spans(date(2026, 11, 21), date(2026, 11, 21))) == [
        (202611, date(2026, 11, 21), date(2026, 11, 21))
    ]
    assert [p for p, _, _ in aggregates.month_spans(date(2025, 12, 31), date(2026, 1, 1))] == [202512, 202601]


def test_an_empty_range_is_refused_before_touching_the_warehouse():
    with pytest.raises(ValueError, match="empty"):
        aggregates.refresh(None, "retail", date(2026, 2, 2), date(2026, 2, 1))  # type: ignore[arg-type]


def test_cli_refuses_a_reversed_range(capsys):
    assert aggregates.main(["--from", "2026-02-02", "--to", "2026-02-01"]) == 2
    assert "before --from" in capsys.readouterr().err
