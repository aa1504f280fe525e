"""Errors as ClickHouse reports them over HTTP: code, symbolic name, status and body text."""

from __future__ import annotations

import re

# Codes of the errors the endpoint raises itself; everything else comes from the engine's own text.
CODES: dict[str, int] = {
    "BAD_ARGUMENTS": 36,
    "NOT_IMPLEMENTED": 48,
    "SYNTAX_ERROR": 62,
    "UNKNOWN_SETTING": 115,
    "READONLY": 164,
    "UNKNOWN_USER": 192,
    "QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING": 216,
    "CANNOT_DECOMPRESS": 271,
    "SESSION_NOT_FOUND": 372,
    "SESSION_IS_LOCKED": 373,
    "HTTP_LENGTH_REQUIRED": 381,
    "TIMEOUT_EXCEEDED": 159,
    "AUTHENTICATION_FAILED": 516,
    "ACCESS_DENIED": 497,
    "NETWORK_ERROR": 210,
    "STD_EXCEPTION": 1001,
}

# ClickHouse's exceptionCodeToHTTPStatus, keyed by name because the engine's messages carry names.
_STATUS_BY_NAME: dict[str, int] = {"REQUIRED_PASSWORD": 401, "USER_EXPIRED": 401}
for _name in ("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE", "ACCESS_DENIED"):
    _STATUS_BY_NAME[_name] = 403
for _name in (
    "BAD_ARGUMENTS CANNOT_COMPILE_REGEXP CANNOT_PARSE_TEXT CANNOT_PARSE_ESCAPE_SEQUENCE CANNOT_PARSE_QUOTED_STRING "
    "CANNOT_PARSE_DATE CANNOT_PARSE_DATETIME CANNOT_PARSE_NUMBER CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING "
    "CANNOT_PARSE_IPV4 CANNOT_PARSE_IPV6 CANNOT_PARSE_INPUT_ASSERTION_FAILED CANNOT_PARSE_UUID DUPLICATE_COLUMN "
    "ILLEGAL_COLUMN UNKNOWN_ELEMENT_IN_AST UNKNOWN_TYPE_OF_AST_NODE THERE_IS_NO_COLUMN TOO_DEEP_AST TOO_BIG_AST "
    "UNEXPECTED_AST_STRUCTURE SYNTAX_ERROR INCORRECT_DATA TYPE_MISMATCH VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"
).split():
    _STATUS_BY_NAME[_name] = 400
for _name in (
    "UNKNOWN_TABLE UNKNOWN_FUNCTION UNKNOWN_IDENTIFIER UNKNOWN_TYPE UNKNOWN_STORAGE UNKNOWN_DATABASE UNKNOWN_SETTING "
    "UNKNOWN_DIRECTION_OF_SORTING UNKNOWN_AGGREGATE_FUNCTION UNKNOWN_FORMAT UNKNOWN_DATABASE_ENGINE "
    "UNKNOWN_TYPE_OF_QUERY UNKNOWN_ROLE"
).split():
    _STATUS_BY_NAME[_name] = 404
_STATUS_BY_NAME.update(
    {
        "QUERY_IS_TOO_LARGE": 413,
        "NOT_IMPLEMENTED": 501,
        "SOCKET_TIMEOUT": 503,
        "CANNOT_OPEN_FILE": 503,
        "CANNOT_SCHEDULE_TASK": 503,
        "HTTP_LENGTH_REQUIRED": 411,
        "TIMEOUT_EXCEEDED": 408,
        "UNSUPPORTED_MEDIA_TYPE": 415,
    }
)

_CODE_RE = re.compile(r"Code: (\d+)\. ")
_VERSION_TRAILER_RE = re.compile(r"\s*\(version [^()]*(?:\([^()]*\))?[^()]*\)\s*$")
_NAME_RE = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*$")


class EndpointError(Exception):
    """An error the client must receive in ClickHouse's shape (status, exception code header, body)."""

    def __init__(self, code: int, name: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.name = name
        self.text = text  # "Code: N. DB::Exception: ... (NAME)", without the version trailer

    @classmethod
    def of(cls, name: str, message: str) -> EndpointError:
        code = CODES[name]
        return cls(code, name, f"Code: {code}. DB::Exception: {message}. ({name})")

    @classmethod
    def from_engine(cls, exc: BaseException) -> EndpointError:
        """Parse the engine's exception text; chdb wraps it in prefixes such as 'Streaming query failed: '."""
        raw = str(exc)
        match = _CODE_RE.search(raw)
        if match is None:
            return cls.of("STD_EXCEPTION", raw.strip() or type(exc).__name__)
        text = _VERSION_TRAILER_RE.sub("", raw[match.start() :].rstrip())
        name_match = _NAME_RE.search(text)
        return cls(int(match.group(1)), name_match.group(1) if name_match else "UNKNOWN_EXCEPTION", text)

    @property
    def http_status(self) -> int:
        return _STATUS_BY_NAME.get(self.name, 500)

    def body(self, version: str) -> bytes:
        return f"{self.text} (version {version})\n".encode()


def authentication_failed(user: str) -> EndpointError:
    return EndpointError.of(
        "AUTHENTICATION_FAILED",
        f"{user}: Authentication failed: password is incorrect, or there is no user with such name",
    )
