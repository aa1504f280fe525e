"""What an HTTP request asks for, read the way ClickHouse's HTTP handler reads its parameters."""

from __future__ import annotations

import base64
import binascii
import hmac
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Protocol, overload

from retail_platform.warehouse.endpoint.config import Account
from retail_platform.warehouse.endpoint.errors import EndpointError, authentication_failed

# URL parameters that are not settings (ClickHouse's reserved_param_names, plus those read below).
RESERVED_PARAMS = frozenset(
    "query database default_format session_id session_timeout session_check query_id compress decompress user "
    "password quota_key buffer_size wait_end_of_query stacktrace role client_protocol_version close_session".split()
)
DEFAULT_BUFFER_SIZE = 1 << 20


class Headers(Protocol):
    """Request headers as read here: http.server's message (names case-insensitive) or a plain dict."""

    @overload
    def get(self, name: str, /) -> str | None: ...
    @overload
    def get(self, name: str, default: str, /) -> str: ...
    def __contains__(self, name: str, /) -> bool: ...


@dataclass
class Credentials:
    user: str
    password: str

    def matches(self, user: str, password: str) -> bool:
        # Both compared in constant time, so timing reveals neither which part was wrong nor how much.
        same_user = hmac.compare_digest(self.user.encode(), user.encode())
        same_password = hmac.compare_digest(self.password.encode(), password.encode())
        return same_user and same_password


def authenticate(accounts: Sequence[Account], given: Credentials) -> Account:
    """The account ``given`` names, or AUTHENTICATION_FAILED. Every account is compared, in constant
    time, so the time taken tells neither which accounts exist nor which part was wrong."""
    found: Account | None = None
    for account in accounts:
        if Credentials(account.user, account.password).matches(given.user, given.password):
            found = account
    if found is None:
        raise authentication_failed(given.user)
    return found


@dataclass
class QueryRequest:
    method: str
    query: str = ""
    database: str | None = None
    default_format: str | None = None
    session_id: str | None = None
    session_timeout: float | None = None
    session_check: bool = False
    query_id: str = ""
    params: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    wait_end_of_query: bool = False
    buffer_size: int = DEFAULT_BUFFER_SIZE
    credentials: Credentials = field(default_factory=lambda: Credentials("default", ""))
    # Set once the credentials matched an account; None means not authenticated yet.
    account: Account | None = None


def credentials(headers: Headers, params: Mapping[str, str]) -> Credentials:
    """HTTP basic auth, the X-ClickHouse-User/Key headers, or user/password parameters; else 'default'."""
    auth = headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise EndpointError.of("AUTHENTICATION_FAILED", "Invalid Basic authorization header") from None
        user, _, password = decoded.partition(":")
        return Credentials(user, password)
    if "X-ClickHouse-User" in headers or "X-ClickHouse-Key" in headers:
        return Credentials(headers.get("X-ClickHouse-User", "default"), headers.get("X-ClickHouse-Key", ""))
    if "user" in params or "password" in params:
        return Credentials(params.get("user", "default"), params.get("password", ""))
    return Credentials("default", "")


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


def parse_request(method: str, pairs: Iterable[tuple[str, str]], headers: Headers) -> QueryRequest:
    params: dict[str, str] = {}
    for key, value in pairs:
        params[key] = value  # the last occurrence wins, as in ClickHouse
    request = QueryRequest(method=method, credentials=credentials(headers, params))
    for key, value in params.items():
        if not key:
            continue
        if key.startswith("param_"):
            request.params[key[len("param_") :]] = value
        elif key not in RESERVED_PARAMS:
            request.settings[key] = value
    if _flag(params.get("compress")) or _flag(params.get("decompress")):
        raise EndpointError.of(
            "NOT_IMPLEMENTED",
            "ClickHouse's native HTTP compression (compress/decompress) is not supported; use Content-Encoding",
        )
    request.query = params.get("query", "")
    request.database = params.get("database") or headers.get("X-ClickHouse-Database") or None
    request.default_format = params.get("default_format") or headers.get("X-ClickHouse-Format") or None
    request.session_id = params.get("session_id") or None
    request.session_check = _flag(params.get("session_check"))
    request.query_id = params.get("query_id") or str(uuid.uuid4())
    request.wait_end_of_query = _flag(params.get("wait_end_of_query"))
    try:
        if params.get("session_timeout"):
            request.session_timeout = float(params["session_timeout"])
        if params.get("buffer_size"):
            request.buffer_size = max(0, int(params["buffer_size"]))
    except ValueError as exc:
        raise EndpointError.of("BAD_ARGUMENTS", f"Invalid parameter value: {exc}") from None
    return request


def parse_form(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """Plain fields of a multipart/form-data body (clickhouse-connect sends long bind parameters this way)."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is not None:
            raise EndpointError.of("NOT_IMPLEMENTED", "External data (files in multipart/form-data) is not supported")
        if name:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""  # decode=True gives bytes or None here
            fields.append((str(name), data.decode("utf-8", "replace")))
    return fields
