"""The little the endpoint must read from statement text itself; the engine parses everything else.

Two facts are needed before the engine sees a statement: where an ``INSERT ... FORMAT x`` statement
ends and its data begins (the data is streamed to the engine, never parsed here), and which output
format a query asked for (for the X-ClickHouse-Format header and how to stream the result).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_INSERT_RE = re.compile(
    rb"\A\s*(INSERT\s+INTO\s.*?)\s+FORMAT\s+([A-Za-z_][A-Za-z0-9_]*)(?=\s|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_TRAILING_FORMAT_RE = re.compile(
    r"\bFORMAT\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:SETTINGS\s[^;]*)?[\s;]*\Z",
    re.IGNORECASE,
)
# The ParserInsertQuery rule: after the format name, skip blanks, then one optional line break.
_DATA_START_RE = re.compile(rb"[ \t\f]*\r?\n?")


@dataclass(frozen=True)
class InsertHead:
    """An ``INSERT ... FORMAT x`` statement split into the part the engine runs and the data offset."""

    statement: str
    format: str
    data_offset: int


def split_insert(text: bytes, complete: bool) -> InsertHead | None:
    """Split ``INSERT ... FORMAT x<data>``; None if the text is not such a statement (or not yet known).

    ``complete`` says whether ``text`` is all there is: if not, a format name touching the end of the
    text could still continue, so the caller must read more before deciding.
    """
    match = _INSERT_RE.match(text)
    if match is None:
        return None
    start = _DATA_START_RE.match(text, match.end())
    offset = start.end() if start else match.end()
    if offset == len(text) and not complete and not text.endswith(b"\n"):
        return None  # the name, or the line break that ends it, may continue in the next chunk
    return InsertHead(match.group(1).decode("utf-8", "replace"), match.group(2).decode(), offset)


def output_format(sql: str) -> str | None:
    """The format named by a trailing FORMAT clause, if any."""
    match = _TRAILING_FORMAT_RE.search(sql)
    return match.group(1) if match else None


_LEADING_WORD_RE = re.compile(rb"\s*([A-Za-z]*)")


def may_be_insert(text: bytes) -> bool:
    """False once the text is known not to start with INSERT (so there is no data to split off)."""
    match = _LEADING_WORD_RE.match(text)
    word = match.group(1) if match else b""
    if match is not None and match.end() < len(text):
        return word.upper() == b"INSERT"
    return b"INSERT".startswith(word.upper())
