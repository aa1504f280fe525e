"""Request bodies: HTTP framing (Content-Length or chunked), decoding, and the query/data split.

ClickHouse reads a POST as one text: the ``query`` parameter, a line break, then the (decoded) body.
An ``INSERT ... FORMAT x`` statement in that text is followed by its data, which is streamed to the
engine chunk by chunk; any other statement is read whole and run as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from io import BufferedIOBase

from retail_platform.warehouse.endpoint.compression import decode_frames
from retail_platform.warehouse.endpoint.errors import EndpointError
from retail_platform.warehouse.endpoint.statements import may_be_insert, split_insert

READ_SIZE = 4 << 20
# ClickHouse's max_query_size: an INSERT statement must end within this many bytes of the text.
MAX_STATEMENT_BYTES = 262144


class RequestBody:
    """The raw body of one request; it must be read (or drained) before the connection is reused."""

    def __init__(self, rfile: BufferedIOBase, content_length: str | None, transfer_encoding: str | None) -> None:
        self._rfile = rfile
        self.chunked = (transfer_encoding or "").strip().lower() == "chunked"
        if not self.chunked and content_length is not None:
            try:
                self._remaining = int(content_length)
            except ValueError:
                raise EndpointError.of("BAD_ARGUMENTS", f"Invalid Content-Length: {content_length!r}") from None
        else:
            self._remaining = 0
        self.finished = not self.chunked and self._remaining == 0
        self.received = 0
        self._chunks: Iterator[bytes] | None = None

    @property
    def empty(self) -> bool:
        return self.finished and self.received == 0

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes as they arrive (still content-encoded); can be iterated only once."""
        if self._chunks is None:
            self._chunks = self._read_chunked() if self.chunked else self._read_sized()
        return self._chunks

    def _read(self, size: int) -> bytes:
        data = self._rfile.read(size)
        if len(data) < size:
            raise EndpointError.of("NETWORK_ERROR", "The client closed the connection before the request body ended")
        self.received += len(data)
        return data

    def _read_sized(self) -> Iterator[bytes]:
        while self._remaining > 0:
            data = self._read(min(self._remaining, READ_SIZE))
            self._remaining -= len(data)
            yield data
        self.finished = True

    def _read_chunked(self) -> Iterator[bytes]:
        while True:
            line = self._rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise EndpointError.of("NETWORK_ERROR", "Malformed chunked request body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise EndpointError.of("BAD_ARGUMENTS", "Malformed chunk size in chunked request body") from None
            if size == 0:
                while self._rfile.readline(65537).strip():  # trailers
                    pass
                self.finished = True
                return
            while size > 0:
                data = self._read(min(size, READ_SIZE))
                size -= len(data)
                yield data
            self._rfile.readline(3)

    def drain(self, limit: int) -> bool:
        """Read and drop what is left, so the connection can serve its next request; False if too much."""
        try:
            for _ in self.chunks():
                if self.received > limit:
                    return False
        except EndpointError:
            return False
        return self.finished


@dataclass
class Statement:
    """What a request runs: a whole SQL statement, or an INSERT head with the data to stream into it."""

    sql: str
    insert_format: str | None = None
    data: Iterator[bytes] | None = None


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def read_statement(query_param: str, body: RequestBody | None, content_encoding: str) -> Statement:
    """Split the request's text into the statement and, for ``INSERT ... FORMAT x``, its streamed data."""
    if body is None or body.empty:
        head = split_insert(query_param.encode(), complete=True)
        if head is not None:
            return Statement(head.statement, head.format, iter([query_param.encode()[head.data_offset :]]))
        return Statement(query_param)
    decoded = decode_frames(body.chunks(), content_encoding)
    text = bytearray((query_param + "\n").encode() if query_param else b"")
    head = split_insert(bytes(text), complete=False) if text else None
    while head is None and may_be_insert(bytes(text)) and len(text) <= MAX_STATEMENT_BYTES:
        chunk = next(decoded, None)
        if chunk is None:
            head = split_insert(bytes(text), complete=True)
            break
        text += chunk
        head = split_insert(bytes(text), complete=False)
    if head is not None:
        return Statement(head.statement, head.format, _prepend(bytes(text[head.data_offset :]), decoded))
    for chunk in decoded:
        text += chunk
    return Statement(bytes(text).decode("utf-8", "replace"))
