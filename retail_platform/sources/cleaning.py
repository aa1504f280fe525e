"""Cleaning of single values from landing files: numbers with thousands separators or currency
signs, timestamps in a declared format and zone, trimmed text.

Each parser returns the clean value or raises ``BadValue`` with a reason code; the caller turns it
into the row's quarantine reason ``<code>:<field>`` (``bad_number:quantity``, ``bad_date:timestamp``),
the same ``<code>:<field>`` shape as the event contracts' reasons. Ambiguous input is refused rather
than guessed: "1,5" (a decimal comma or a thousands separator?) is a bad number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from retail_platform.events.identifiers import key_problem

# Thousands separators only in their proper places: 1,234 / 12,345,678.90 (not 1,5 or 12,34).
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_PLAIN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_CURRENCY = "$€£¥"


class BadValue(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def text(value: Any) -> str | None:
    """Trimmed text with inner runs of whitespace collapsed; None when empty."""
    if value is None:
        return None
    cleaned = " ".join(str(value).split())
    return cleaned or None


def key(value: Any) -> str:
    """A store or product key as the source wrote it: trimmed, case and inner spaces kept; an integer
    (a barcode typed as a number by JSON or Parquet) as its digits. Raises BadValue("missing_field")
    when empty, BadValue("bad_format") when it breaks the key rule (``events/identifiers.py``)."""
    if isinstance(value, bool) or isinstance(value, float):
        # 4006381333931.0 is a barcode a spreadsheet turned into a float: its digits are not certain.
        raise BadValue("bad_format", f"{value!r} is a number, not a key (export the column as text)")
    text_value = str(value).strip() if value is not None else ""
    if not text_value:
        raise BadValue("missing_field", "empty")
    problem = key_problem(text_value)
    if problem:
        raise BadValue("bad_format", f"{text_value[:80]!r}: {problem}")
    return text_value


_GROUPED_COMMA = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$")
_PLAIN_COMMA = re.compile(r"^[+-]?(\d+(,\d*)?|,\d+)$")


def decimal(value: Any, decimal_comma: bool = False) -> Decimal:
    """A decimal number: 1234.5, "1,234.50", " $12.00 ", "-3"; raises BadValue("bad_number").
    With ``decimal_comma`` (European exports): "1.234,50", "12,5", "€ 3,99"; then "1.5" is
    ambiguous (a thousands dot?) and a bad number."""
    if isinstance(value, bool):
        raise BadValue("bad_number", repr(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise BadValue("bad_number", repr(value))
        return Decimal(repr(value))  # repr: the shortest text that round-trips, "29.99" not 29.98999...
    if isinstance(value, Decimal):
        return value
    raw = str(value)
    cleaned = raw.strip().strip(_CURRENCY).replace(" ", "").replace("\u00a0", "")
    if decimal_comma:
        if _GROUPED_COMMA.match(cleaned):
            cleaned = cleaned.replace(".", "")
        if not _PLAIN_COMMA.match(cleaned):
            raise BadValue("bad_number", raw)
        cleaned = cleaned.replace(",", ".")
    elif _GROUPED.match(cleaned):
        cleaned = cleaned.replace(",", "")
    if not _PLAIN.match(cleaned):
        raise BadValue("bad_number", raw)
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        raise BadValue("bad_number", raw) from None


def integer(value: Any, decimal_comma: bool = False) -> int:
    """A whole number ("1,200", 3, "3.0"); a fraction is a bad number, not rounded."""
    number = decimal(value, decimal_comma)
    if number != number.to_integral_value():
        raise BadValue("bad_number", str(value))
    return int(number)


def money(value: Any, decimal_comma: bool = False) -> Decimal:
    """A decimal amount rounded to cents (the warehouse's Decimal(18, 2))."""
    return decimal(value, decimal_comma).quantize(Decimal("0.01"))


def timestamp(value: Any, formats: tuple[str, ...] = (), zone: str = "UTC") -> datetime:
    """An aware UTC datetime from text in one of ``formats`` (strptime) or ISO-8601 when none is
    given. A time without an offset is in ``zone``; a date alone is its midnight there.

    Clock changes (PEP 495's ``fold=0``, the rule documented in the README): a wall time that does
    not exist (spring forward: 02:43 on 2019-03-10 in America/New_York) is read with the offset in
    force before the change, so it lands in the gap's length after it (07:43 UTC = 03:43 EDT); a wall
    time that happens twice (fall back: 01:30 on 2019-11-03) is its first occurrence, still summer
    time (05:30 UTC). Deterministic, and no sale is lost or moved to another day."""
    if isinstance(value, datetime):
        parsed = value
    else:
        raw = text(value)
        if raw is None:
            raise BadValue("bad_date", "empty")
        parsed = _parse(raw, formats)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(timezone.utc)


def _parse(raw: str, formats: tuple[str, ...]) -> datetime:
    for fmt in formats:
        try:
            return datetime.strptime(raw, fmt)
        except ValueError:
            continue
    if not formats:
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            pass
    expected = " or ".join(formats) if formats else "ISO-8601"
    raise BadValue("bad_date", f"{raw!r} is not {expected}")


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def boolean(value: Any) -> bool:
    """true/false, yes/no, y/n, 1/0 (any case); raises BadValue("bad_boolean")."""
    if isinstance(value, bool):
        return value
    word = (text(value) or "").lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise BadValue("bad_boolean", str(value))


# A field of a record: (name, parser, required, default when empty and not required).
Field = tuple[str, Callable[[Any], Any], bool, Any]


def parse_fields(values: Mapping[str, Any], spec: Sequence[Field]) -> dict[str, Any]:
    """Clean every field of a record; raises BadValue whose code is '<code>:<field>' for the first bad one."""
    out: dict[str, Any] = {}
    for name, parser, required, default in spec:
        value = values.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise BadValue(f"missing_field:{name}", "empty")
            out[name] = default
            continue
        try:
            out[name] = parser(value)
        except BadValue as exc:
            raise BadValue(f"{exc.code}:{name}", exc.detail) from None
    return out


def optional_key(value: Any) -> str | None:
    """A record's other key (a barcode, a supplier's article code): ``key``'s rule, or None when empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return key(value)


GTIN_LENGTHS = (8, 12, 13, 14)  # EAN-8, UPC-A, EAN-13, GTIN-14


def barcode(value: Any) -> str | None:
    """A printed barcode (GTIN: EAN-8, UPC-A, EAN-13, GTIN-14) as its digits, leading zeros kept, or
    None when empty. Its last digit is the GS1 check digit of the others, so a barcode a spreadsheet
    rounded, or a typo, is refused instead of matching nothing (or the wrong product) later."""
    code = optional_key(value)
    if code is None:
        return None
    if not (code.isascii() and code.isdigit()) or len(code) not in GTIN_LENGTHS:
        raise BadValue("bad_format", f"{code[:80]!r}: a barcode is 8, 12, 13 or 14 digits")
    digits = [int(d) for d in code]
    # Weights 3, 1, 3, ... from the digit left of the check digit (GS1 General Specifications, 7.9).
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits[:-1])))
    if (10 - total % 10) % 10 != digits[-1]:
        raise BadValue("bad_check_digit", f"{code!r}: the last digit is not the check digit of the others")
    return code


def required_text(value: Any) -> str:
    cleaned = text(value)
    if cleaned is None:
        raise BadValue("missing_field", "empty")
    return cleaned
