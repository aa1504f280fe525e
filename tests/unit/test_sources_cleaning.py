"""Value cleaning: separators, currency signs, dates in a zone; ambiguous input refused."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def _check_digit(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


gtins = st.sampled_from(cleaning.GTIN_LENGTHS).flatmap(
    lambda n: st.text("0123456789", min_size=n - 1, max_size=n - 1).map(lambda body: body + _check_digit(body))
)


@given(gtins)
def test_every_gtin_is_a_barcode_kept_as_written(code):
    assert cleaning.barcode(code) == code
    assert cleaning.barcode(f"  {code} ") == code


@given(gtins, st.data())
def test_a_single_mistyped_digit_is_refused(code, data):
    at = data.draw(st.integers(0, len(code) - 1))
    other = data.draw(st.sampled_from([d for d in "0123456789" if d != code[at]]))
    with pytest.raises(cleaning.BadValue) as refused:
        cleaning.barcode(code[:at] + other + code[at + 1 :])
    assert refused.value.code == "bad_check_digit"


@given(st.one_of(st.text(), st.integers(), st.floats(), st.none(), st.booleans()))
def test_anything_else_is_a_barcode_none_or_a_reason(value):
    try:
        result = cleaning.barcode(value)
    except cleaning.BadValue as exc:
        assert exc.code in ("bad_format", "bad_check_digit")
    else:
        assert result is None or (result.isdigit() and len(result) in cleaning.GTIN_LENGTHS)


@pytest.mark.parametrize(
    "value", ["4.006381333931E12", "4006381333931.0", "40063813339311", "ABC", "4006 3813 3393 1", "٤006381333931"]
)
def test_hostile_barcodes_are_refused(value):
    with pytest.raises(cleaning.BadValue):
        cleaning.barcode(value)
