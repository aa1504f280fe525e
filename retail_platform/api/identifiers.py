"""Store and product identifiers as the API accepts them in paths and query strings.

The contracts' key rule (``retail_platform.events.identifiers``) is the only rule: a key the API
accepts is a key an event can carry, and the reverse, so every store and product the platform holds
can be looked up (``Berlin Mitte 03`` URL-encoded as ``Berlin%20Mitte%2003``; a product key with a
``/`` is routed whole). Queries always pass identifiers as bound parameters; the check keeps logs,
audit rows and error messages clean and rejects junk before the warehouse is asked."""

from __future__ import annotations

from retail_platform.events.identifiers import MAX_KEY_LENGTH, key_problem

MAX_LENGTH = MAX_KEY_LENGTH


class BadIdentifier(ValueError):
    """An identifier the API will not look up; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_identifier(field: str, value: object) -> str:
    """The identifier unchanged when it is a key the contracts accept, else BadIdentifier naming ``field``."""
    problem = key_problem(value)
    if problem is not None:
        raise BadIdentifier(field, problem)
    assert isinstance(value, str)
    return value
