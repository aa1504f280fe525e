"""Store and product identifiers as the API accepts them in paths and query strings.

The contracts decide which identifiers exist (retailers' keys are opaque strings); the API only
checks that an identifier is safe to carry: short, printable ASCII without separators, quotes or
control characters. Queries always pass identifiers as bound parameters; this check keeps logs,
audit rows and error messages clean and rejects junk before the warehouse is asked."""

from __future__ import annotations

import re

MAX_LENGTH = 64
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]*\Z")


class BadIdentifier(ValueError):
    """An identifier the API will not look up; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_identifier(field: str, value: object) -> str:
    """The identifier unchanged when it is safe, else BadIdentifier naming ``field``."""
    if not isinstance(value, str):
        raise BadIdentifier(field, "must be a string")
    if not value:
        raise BadIdentifier(field, "must not be empty")
    if len(value) > MAX_LENGTH:
        raise BadIdentifier(field, f"longer than {MAX_LENGTH} characters")
    if not _SAFE.match(value):
        raise BadIdentifier(field, "may hold only letters, digits and . _ : @ + - (starting with a letter or digit)")
    return value
