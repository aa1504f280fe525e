"""What keeps a read-only account inside the warehouse: no functions that read files or the network.

The engine's ``readonly=1`` already refuses every table function it marks as not allowed in read-only
mode (``system.table_functions.allow_readonly = 0``: file, url, s3, remote, hdfs, mysql, postgresql,
jdbc, odbc, executable, python, ...; measured on chdb 4.4 / engine 26.9). It lets through the scalar
``file()`` function (reads any file the process can read), ``cluster``/``clusterAllReplicas``
(network) and ``input``, so the endpoint refuses those itself, and refuses the whole list too, so a
refusal names the function and the reason instead of a bare READONLY.

Names are found in the engine's own canonical form of the statement (``formatQuerySingleLine``):
comments are gone, identifiers are unquoted where they can be, and a call is always ``name(``; a
small lexer skips string literals so text inside them is not mistaken for a call. A doubtful match
only refuses a query, never lets one through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from retail_platform.warehouse.endpoint.errors import EndpointError

# Allowed in read-only mode by the engine, but they read files or the network (or an insert's body).
NOT_REFUSED_BY_READONLY = frozenset({"file", "cluster", "clusterallreplicas", "input"})

_TOKEN_RE = re.compile(
    r"""'(?:[^'\\]|\\.)*'"""  # string literal: skipped
    r"""|`((?:[^`\\]|\\.)*)`"""  # quoted identifier
    r'''|"((?:[^"\\]|\\.)*)"'''  # quoted identifier
    r"""|([A-Za-z_][A-Za-z0-9_]*)"""  # bare word
    r"""|(\()"""
    r"""|\s+|.""",
    re.DOTALL,
)


def outside_functions(refused_by_readonly: Iterable[str], scalar_functions: Iterable[str]) -> frozenset[str]:
    """Lower-cased names a read-only account may not call.

    ``refused_by_readonly`` are the engine's table functions with ``allow_readonly = 0``. Those that are
    also ordinary scalar functions (``format``) stay callable as scalars: in a FROM clause the engine's
    readonly refuses them anyway.
    """
    scalars = {name.lower() for name in scalar_functions} - {"file"}
    return frozenset({name.lower() for name in refused_by_readonly} - scalars) | NOT_REFUSED_BY_READONLY


def called_names(canonical_sql: str) -> set[str]:
    """Lower-cased names directly followed by '(' in a statement's canonical text, literals skipped."""
    names: set[str] = set()
    previous: str | None = None
    for match in _TOKEN_RE.finditer(canonical_sql):
        backquoted, double_quoted, word, paren = match.groups()
        if paren is not None:
            if previous is not None:
                names.add(previous.lower())
            previous = None
        elif match.group(0).isspace():
            continue  # the canonical form has none before '(' but a blank changes nothing
        else:
            name = backquoted if backquoted is not None else double_quoted if double_quoted is not None else word
            previous = name
    return names


def refuse_outside_calls(canonical_sql: str, denied: frozenset[str], user: str) -> None:
    found = sorted(called_names(canonical_sql) & denied)
    if found:
        raise EndpointError.of(
            "ACCESS_DENIED",
            f"{user}: Not enough privileges. The read-only account may not call {', '.join(found)}: "
            "functions that read files or the network are reserved to the ETL account",
        )
