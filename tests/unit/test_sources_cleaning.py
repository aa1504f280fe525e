"""Value cleaning: separators, currency signs, dates in a zone; ambiguous input refused."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from retail_platform.sources import cleaning
from retail_platform.sources.cleaning import BadValue


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234.50", "1234.50"),
        (" $12.00 ", "12.00"),
        ("-3", "-3"),
        (29.99, "29.99"),
        (7, "7"),
        ("12,345,678", "12345678"),
    ],
)
def test_decimal_accepts_real_world_numbers(raw, expected):
    assert cleaning.decimal(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["1,5", "12,34", "abc", "1.2.3", "", "nan", True, float("nan")])
def test_decimal_refuses_ambiguous_or_bad_numbers(raw):
    with pytest.raises(BadValue) as error:
        cleaning.decimal(raw)
    assert error.value.code == "bad_number"


def test_integer_refuses_fractions_and_money_rounds_to_cents():
    assert cleaning.integer("1,200") == 1200
    assert cleaning.integer("3.0") == 3
    with pytest.raises(BadValue):
        cleaning.integer("2.5")
    assert cleaning.money("4.555") == Decimal("4.56")


def test_timestamps_in_a_format_and_zone_become_utc():
    assert cleaning.timestamp("04/10/2026 00:30", ("%d/%m/%Y %H:%M",), "Europe/Berlin") == datetime(
        2026, 10, 3, 22, 30, tzinfo=timezone.utc
    )
    assert cleaning.timestamp("2026-10-03T10:00:00+02:00") == datetime(2026, 10, 3, 8, tzinfo=timezone.utc)
    assert cleaning.timestamp("2026-10-03") == datetime(2026, 10, 3, tzinfo=timezone.utc)


@pytest.mark.parametrize("raw", ["31/09/2026 10:00", "yesterday", " "])
def test_bad_dates_are_refused(raw):
    with pytest.raises(BadValue) as error:
        cleaning.timestamp(raw, ("%d/%m/%Y %H:%M",))
    assert error.value.code == "bad_date"


def test_parse_fields_names_the_field():
    spec = (("qty", cleaning.integer, True, None), ("note", cleaning.text, False, ""))
    assert cleaning.parse_fields({"qty": "2", "note": "  a   b "}, spec) == {"qty": 2, "note": "a b"}
    with pytest.raises(BadValue) as error:
        cleaning.parse_fields({"qty": "x"}, spec)
    assert error.value.code == "bad_number:qty"
    with pytest.raises(BadValue) as error:
        cleaning.parse_fields({"qty": " "}, spec)
    assert error.value.code == "missing_field:qty"


def test_boolean_words():
    assert cleaning.boolean("Yes") is True and cleaning.boolean("0") is False
    with pytest.raises(BadValue):
        cleaning.boolean("maybe")
