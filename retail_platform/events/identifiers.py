"""Store and product keys: opaque strings, as the retailer's own systems write them.

Chains key products by their SKU (``SKU123``, ``PROD-ABC123``), by EAN-13/UPC-A barcodes
(``4006381333931``, ``036000291452``: digits, leading zeros kept) or by supplier codes
(``AB/1234.5``), and stores by codes (``STORE-001``, ``store_001``, ``Berlin 03``). The platform takes
them as they are, case preserved, and checks only what keeps them safe to carry everywhere a key goes
(Kafka keys, SQL literals, file names of exports, URLs of the API and the dashboards' filters):

* 1 to ``MAX_KEY_LENGTH`` (64) characters;
* ASCII letters and digits, and inside the key ``-``, ``_``, ``.``, ``/`` and the space;
* it starts and ends with a letter or a digit (no leading or trailing space or punctuation, so a key
  cannot be confused with its trimmed copy, nor start a path like ``../``).

No quote, backslash, control character, comma, semicolon or non-ASCII letter can be part of a key.
The rule is the ``pattern`` of ``store_id`` and ``product_id`` in every event schema
(``schemas/*.json``); ``KEY_PATTERN`` is that pattern, and a unit test keeps the two equal. Loosening
the pattern kept schema version 1: every event valid before is valid now.

The simulator keeps its own format (``store_001``, ``SKU0001``), which is one of the accepted ones.
"""

from __future__ import annotations

import re

MAX_KEY_LENGTH = 64
KEY_PATTERN = "^[A-Za-z0-9](?:[A-Za-z0-9._/ -]{0,62}[A-Za-z0-9])?$"
_KEY = re.compile(KEY_PATTERN[:-1] + r"\Z")  # JSON Schema's ``$`` ends the string; Python's ``\Z`` does
_ALLOWED_INSIDE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/ -")


def is_key(value: object) -> bool:
    return isinstance(value, str) and bool(_KEY.match(value))


def key_problem(value: object) -> str | None:
    """Why ``value`` is not a usable key, in words for a person, or None when it is one."""
    if not isinstance(value, str):
        return f"a key is text, got {type(value).__name__}"
    if not value:
        return "a key cannot be empty"
    if len(value) > MAX_KEY_LENGTH:
        return f"a key has at most {MAX_KEY_LENGTH} characters, this one {len(value)}"
    bad = sorted({c for c in value if c not in _ALLOWED_INSIDE})
    if bad:
        return f"character(s) {''.join(bad)!r} cannot be part of a key (letters, digits, - _ . / and space only)"
    if not (value[0].isalnum() and value[-1].isalnum()):
        return "a key starts and ends with a letter or a digit"
    return None
