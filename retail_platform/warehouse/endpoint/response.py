"""Writing responses the way ClickHouse does: headers, chunked bodies, compression, late errors."""

from __future__ import annotations

import base64
import json
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from io import BufferedIOBase

from retail_platform.warehouse.endpoint.compression import Encoder
from retail_platform.warehouse.endpoint.errors import EndpointError

# Small pieces are gathered into one send: with TCP_NODELAY each write would otherwise be a packet.
_COALESCE_BYTES = 64 * 1024
SERVER_DISPLAY_NAME = socket.gethostname()


def exception_tag() -> str:
    """A fresh marker for errors written into a stream: 16 lowercase letters and digits."""
    return base64.b32encode(secrets.token_bytes(10)).decode().lower()


@dataclass
class Summary:
    """The X-ClickHouse-Summary counters."""

    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    elapsed_ns: int = 0

    def header(self) -> str:
        values = {
            "read_rows": self.read_rows,
            "read_bytes": self.read_bytes,
            "written_rows": self.written_rows,
            "written_bytes": self.written_bytes,
            "total_rows_to_read": self.read_rows,
            "result_rows": self.result_rows,
            "result_bytes": self.result_bytes,
            "elapsed_ns": self.elapsed_ns,
        }
        # ClickHouse sends every counter as a JSON string, and clients rely on that.
        return json.dumps({k: str(v) for k, v in values.items()}, separators=(",", ":"))


@dataclass
class Response:
    """One HTTP response on a keep-alive connection."""

    wfile: BufferedIOBase
    keep_alive: bool
    keep_alive_timeout: int
    chunked: bool = True  # False for HTTP/1.0 clients: the body then ends when the connection closes
    tag: str = field(default_factory=exception_tag)
    started: bool = False
    broken: bool = False  # the body was cut short: the connection must close
    _encoder: Encoder | None = None
    _pending: list[bytes] = field(default_factory=list)
    _pending_size: int = 0

    def _head(self, status: int, headers: Mapping[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Date: {formatdate(usegmt=True)}"]
        if self.keep_alive:
            lines += ["Connection: Keep-Alive", f"Keep-Alive: timeout={self.keep_alive_timeout}"]
        else:
            lines.append("Connection: Close")
        lines += [f"X-ClickHouse-Server-Display-Name: {SERVER_DISPLAY_NAME}", f"X-ClickHouse-Exception-Tag: {self.tag}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def send_whole(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        """A complete response with a known length (pings, errors, insert acknowledgements)."""
        head = self._head(status, {**headers, "Content-Length": str(len(body))})
        self.started = True
        self.wfile.write(head + body)

    def send_error(self, error: EndpointError, version: str, headers: Mapping[str, str]) -> None:
        extra = {"Content-Type": "text/plain; charset=UTF-8", "X-ClickHouse-Exception-Code": str(error.code)}
        self.send_whole(error.http_status, {**headers, **extra}, error.body(version))

    def start(self, headers: Mapping[str, str], encoder: Encoder | None) -> None:
        """Begin a 200 response whose (chunked) body follows through ``write``."""
        if not self.chunked:
            self.keep_alive = False
        extra = {"Transfer-Encoding": "chunked"} if self.chunked else {}
        if encoder is not None:
            extra["Content-Encoding"] = encoder.name
        self._encoder = encoder
        self._pending = [self._head(200, {**headers, **extra})]
        self._pending_size = 0
        self.started = True

    def write(self, data: bytes | memoryview) -> None:
        if self._encoder is not None:
            data = self._encoder.compress(bytes(data)) + self._encoder.flush_block()
        if not data:
            return
        self._frame(data if isinstance(data, bytes) else bytes(data))
        self._pending_size += len(data)
        if self._pending_size >= _COALESCE_BYTES:
            self.flush()

    def _frame(self, data: bytes) -> None:
        if self.chunked:
            self._pending += [b"%x\r\n" % len(data), data, b"\r\n"]
        else:
            self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            payload = b"".join(self._pending)
            self._pending, self._pending_size = [], 0
            self.wfile.write(payload)

    def finish(self) -> None:
        if self._encoder is not None:
            tail = self._encoder.finish()
            if tail:
                self._frame(tail)
        if self.chunked:
            self._pending.append(b"0\r\n\r\n")
        self.flush()

    def fail(self, error: EndpointError, version: str) -> None:
        """An error after the body began: write it into the stream, then break the chunked encoding.

        The tagged block is what clickhouse-connect (and ClickHouse's other drivers) look for; the
        missing final chunk makes every other HTTP client report an incomplete transfer instead of
        taking a truncated result for a whole one.
        """
        text = f"{error.text} (version {version})"
        block = f"__exception__\r\n{self.tag}\r\n{text}\n{len(text) + 1} {self.tag}\r\n__exception__\r\n".encode()
        self.broken = True
        if self._encoder is not None:
            block = self._encoder.compress(block) + self._encoder.finish()
            self._encoder = None
        self._frame(block)
        self.flush()
