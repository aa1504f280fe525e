"""Response framing: chunked bodies, summary header, and the in-stream error clients detect."""

from __future__ import annotations

import gzip
import io
import json

from clickhouse_connect.driver.transform import extract_exception_with_tag

from retail_platform.warehouse.endpoint.compression import choose_encoder
from retail_platform.warehouse.endpoint.errors import EndpointError
from retail_platform.warehouse.endpoint.response import Response, Summary, exception_tag


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], headers, body


def dechunk(body: bytes) -> tuple[bytes, bool]:
    """The payload, and whether the final zero-length chunk was there."""
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out, True
        out, rest = out + rest[:size], rest[size + 2 :]
    return out, False


def test_summary_values_are_strings() -> None:
    summary = json.loads(Summary(read_rows=3, written_rows=2, elapsed_ns=10).header())
    assert summary == {
        "read_rows": "3",
        "read_bytes": "0",
        "written_rows": "2",
        "written_bytes": "0",
        "total_rows_to_read": "3",
        "result_rows": "0",
        "result_bytes": "0",
        "elapsed_ns": "10",
    }


def test_exception_tag() -> None:
    tags = {exception_tag() for _ in range(100)}
    assert len(tags) == 100 and all(len(t) == 16 and t.isalnum() and t == t.lower() for t in tags)


def test_chunked_stream() -> None:
    wfile = io.BytesIO()
    response = Response(wfile, keep_alive=True, keep_alive_timeout=10)
    response.start({"X-ClickHouse-Format": "TSV"}, None)
    for i in range(3):
        response.write(b"row %d\n" % i)
    response.finish()
    status, headers, body = split_response(wfile.getvalue())
    assert status == "HTTP/1.1 200 OK"
    assert headers["Transfer-Encoding"] == "chunked" and headers["Connection"] == "Keep-Alive"
    assert dechunk(body) == (b"row 0\nrow 1\nrow 2\n", True)


def test_error_in_the_stream_is_tagged_and_breaks_the_encoding() -> None:
    wfile = io.BytesIO()
    response = Response(wfile, keep_alive=True, keep_alive_timeout=10)
    response.start({}, None)
    response.write(b"partial rows\n")
    error = EndpointError.from_engine(
        RuntimeError("Code: 395. DB::Exception: boom. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)")
    )
    response.fail(error, "26.9")
    _, headers, body = split_response(wfile.getvalue())
    payload, complete = dechunk(body)
    assert not complete and response.broken
    message = extract_exception_with_tag(payload, headers["X-ClickHouse-Exception-Tag"])
    assert message == "Code: 395. DB::Exception: boom. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 26.9)"


def test_compressed_stream_with_a_late_error() -> None:
    wfile = io.BytesIO()
    response = Response(wfile, keep_alive=True, keep_alive_timeout=10)
    response.start({}, choose_encoder("gzip"))
    response.write(b"abc" * 1000)
    response.fail(EndpointError.of("TIMEOUT_EXCEEDED", "too slow"), "1")
    _, headers, body = split_response(wfile.getvalue())
    assert headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(dechunk(body)[0])
    assert text.startswith(b"abc" * 1000) and b"Code: 159. DB::Exception: too slow. (TIMEOUT_EXCEEDED)" in text


def test_whole_response_and_error() -> None:
    wfile = io.BytesIO()
    response = Response(wfile, keep_alive=False, keep_alive_timeout=10)
    response.send_error(EndpointError.of("SYNTAX_ERROR", "Empty query"), "26.9", {"X-ClickHouse-Query-Id": "q"})
    status, headers, body = split_response(wfile.getvalue())
    assert status == "HTTP/1.1 400 Bad Request" and headers["Connection"] == "Close"
    assert headers["X-ClickHouse-Exception-Code"] == "62" and headers["X-ClickHouse-Query-Id"] == "q"
    assert body == b"Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR) (version 26.9)\n"
    assert headers["Content-Length"] == str(len(body))


def test_http_10_gets_a_plain_body_and_a_closed_connection() -> None:
    wfile = io.BytesIO()
    response = Response(wfile, keep_alive=True, keep_alive_timeout=10, chunked=False)
    response.start({}, None)
    response.write(b"1\n")
    response.write(b"2\n")
    response.finish()
    _, headers, body = split_response(wfile.getvalue())
    assert "Transfer-Encoding" not in headers and headers["Connection"] == "Close" and not response.keep_alive
    assert body == b"1\n2\n"
