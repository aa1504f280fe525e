"""ClickHouse's HTTP protocol as clients rely on it: errors, settings and sessions, read-only GET,
parameters, raw HTTP with compressed bodies, response compression, and errors after streaming began."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import socket
from collections.abc import Callable

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, StreamFailureError

from retail_platform.warehouse.endpoint import EndpointProcess
from tests.integration.warehouse.conftest import PASSWORD, USER, address, raw_request

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]

FAILS_LATE = "SELECT number, throwIf(number = 3000000, 'late failure') FROM numbers(5000000)"


# --- errors -------------------------------------------------------------------------------------


def test_unknown_table(client: Client) -> None:
    with pytest.raises(DatabaseError) as error:
        client.query("SELECT * FROM no_such_table")
    assert error.value.code == 60 and error.value.name == "UNKNOWN_TABLE"


def test_syntax_error(client: Client) -> None:
    with pytest.raises(DatabaseError) as error:
        client.command("SELEC 1")
    assert error.value.code == 62 and error.value.name == "SYNTAX_ERROR"


def test_wrong_password(endpoint: EndpointProcess) -> None:
    host, port = address(endpoint)
    with pytest.raises(DatabaseError) as error:
        clickhouse_connect.get_client(host=host, port=port, username=USER, password="wrong")
    assert error.value.code == 516
    with pytest.raises(DatabaseError) as unknown_user:
        clickhouse_connect.get_client(host=host, port=port, username="nobody", password=PASSWORD)
    assert unknown_user.value.code == 516


def test_error_reply_has_clickhouse_shape(endpoint: EndpointProcess) -> None:
    reply = raw_request(endpoint, {"query": "SELECT * FROM no_such_table"})
    assert reply.status == 404
    assert reply.headers["X-ClickHouse-Exception-Code"] == "60"
    text = reply.body.decode()
    assert text.startswith("Code: 60. DB::Exception: ") and "(UNKNOWN_TABLE) (version " in text

    denied = raw_request(endpoint, {"query": "SELECT 1"}, auth=None)
    assert denied.status == 403 and denied.headers["X-ClickHouse-Exception-Code"] == "516"
    assert "(AUTHENTICATION_FAILED)" in denied.body.decode()


def test_other_ways_to_authenticate(endpoint: EndpointProcess) -> None:
    by_headers = raw_request(
        endpoint, {"query": "SELECT 7"}, auth=None, headers={"X-ClickHouse-User": USER, "X-ClickHouse-Key": PASSWORD}
    )
    assert (by_headers.status, by_headers.body) == (200, b"7\n")
    by_params = raw_request(endpoint, {"query": "SELECT 8", "user": USER, "password": PASSWORD}, auth=None)
    assert (by_params.status, by_params.body) == (200, b"8\n")


# --- settings and sessions ----------------------------------------------------------------------


def test_query_settings_do_not_leak(client: Client, client_factory: Callable[..., Client]) -> None:
    default = client.command("SELECT getSetting('max_threads')")
    assert client.command("SELECT getSetting('max_threads')", settings={"max_threads": 1}) == 1
    assert client.query("SELECT getSetting('max_block_size')", settings={"max_block_size": 777}).result_rows == [(777,)]
    # not in this client's session, not in any other client, on whichever engine handle serves them
    other = client_factory()
    for _ in range(8):
        assert client.command("SELECT getSetting('max_threads')") == default
        assert other.command("SELECT getSetting('max_block_size')") != 777


def test_session_set_persists(client: Client, client_factory: Callable[..., Client]) -> None:
    client.command("SET max_threads = 3")
    client.command("SET date_time_output_format = 'iso'")
    other = client_factory()
    for _ in range(8):  # several handles serve the session in turn
        assert client.command("SELECT getSetting('max_threads')") == 3
        assert client.command("SELECT toDateTime('2024-01-02 03:04:05', 'UTC')") == "2024-01-02T03:04:05Z"
        assert other.command("SELECT getSetting('max_threads')") != 3
    # a per-query setting overrides the session's value for that query only
    assert client.command("SELECT getSetting('max_threads')", settings={"max_threads": 2}) == 2
    assert client.command("SELECT getSetting('max_threads')") == 3


def test_session_use_database(client_factory: Callable[..., Client]) -> None:
    client = client_factory(database="")
    client.command("CREATE DATABASE IF NOT EXISTS session_db")
    client.command("CREATE TABLE IF NOT EXISTS session_db.marker (x UInt8) ENGINE = Memory")
    client.command("USE session_db")
    assert client.command("SELECT currentDatabase()") == "session_db"
    assert client.query("SHOW TABLES").result_rows == [("marker",)]


def test_unknown_setting_is_refused(client: Client) -> None:
    with pytest.raises(DatabaseError) as error:
        client.command("SELECT 1", settings={"no_such_setting_x": 1})
    assert error.value.code == 115


def test_session_is_locked_while_in_use(endpoint: EndpointProcess) -> None:
    host, port = address(endpoint)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    busy = http.client.HTTPConnection(host, port, timeout=30)
    busy.request("GET", "/?session_id=locked-one&query=SELECT%20number%20FROM%20numbers(100000000)", headers=auth)
    first = busy.getresponse()
    assert first.status == 200 and first.read(100)
    try:
        second = raw_request(endpoint, {"session_id": "locked-one", "query": "SELECT 1"})
        assert second.status == 500 and second.headers["X-ClickHouse-Exception-Code"] == "373"
    finally:
        busy.close()


# --- read-only GET, parameters, formats ---------------------------------------------------------


def test_get_is_read_only(endpoint: EndpointProcess, client: Client) -> None:
    refused = raw_request(endpoint, {"query": "CREATE TABLE get_made (x UInt8) ENGINE = Memory"})
    assert refused.status == 500 and refused.headers["X-ClickHouse-Exception-Code"] == "164"
    assert "(READONLY)" in refused.body.decode()
    insert = raw_request(endpoint, {"query": "INSERT INTO FUNCTION null('x UInt8') VALUES (1)"})
    assert insert.headers["X-ClickHouse-Exception-Code"] == "164"
    assert raw_request(endpoint, {"query": "SELECT 1"}).body == b"1\n"
    assert raw_request(endpoint, {"query": "SELECT getSetting('max_threads')", "max_threads": "1"}).body == b"1\n"
    assert client.command("EXISTS TABLE get_made") == 0
    made = raw_request(endpoint, {"query": "CREATE TABLE get_made (x UInt8) ENGINE = Memory"}, data=b"")
    assert made.status == 200
    assert client.command("EXISTS TABLE get_made") == 1


def test_readonly_setting_on_post(endpoint: EndpointProcess) -> None:
    reply = raw_request(endpoint, {"readonly": "1"}, data=b"CREATE TABLE ro_made (x UInt8) ENGINE = Memory")
    assert reply.headers["X-ClickHouse-Exception-Code"] == "164"


def test_server_side_parameters(endpoint: EndpointProcess, client: Client) -> None:
    assert client.query("SELECT {x:UInt32} + 1", parameters={"x": 41}).result_rows == [(42,)]
    tags = ["a'b", "c\\d", "e"]
    assert client.query("SELECT {tags:Array(String)}", parameters={"tags": tags}).result_rows == [(tags,)]
    query = {"query": "SELECT {name:String}, {n:UInt8} * 2", "param_name": "it's", "param_n": "21"}
    reply = raw_request(endpoint, query)
    assert reply.body == b"it\\'s\t42\n"


def test_parameters_in_a_form(endpoint: EndpointProcess, client_factory: Callable[..., Client]) -> None:
    client = client_factory(form_encode_query_params=True)
    assert client.query("SELECT {x:String}", parameters={"x": "form value"}).result_rows == [("form value",)]


def test_headers_and_default_format(endpoint: EndpointProcess) -> None:
    reply = raw_request(endpoint, {"query": "SELECT number AS n FROM numbers(3)", "default_format": "JSONEachRow"})
    assert reply.body == b'{"n":0}\n{"n":1}\n{"n":2}\n'
    assert reply.headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert reply.headers["X-ClickHouse-Timezone"]
    assert reply.headers["X-ClickHouse-Server-Display-Name"]
    assert reply.headers["X-ClickHouse-Query-Id"]
    summary = json.loads(reply.headers["X-ClickHouse-Summary"])
    assert summary["result_rows"] == "3" and summary["read_rows"] == "3"
    assert set(summary) >= {"read_bytes", "written_rows", "written_bytes", "total_rows_to_read", "elapsed_ns"}

    named = raw_request(endpoint, {"query": "SELECT 1 AS one FORMAT JSON", "query_id": "my-query-1"})
    assert named.headers["X-ClickHouse-Format"] == "JSON" and named.headers["X-ClickHouse-Query-Id"] == "my-query-1"
    assert json.loads(named.body)["data"] == [{"one": 1}]


def test_whole_formats_are_complete(endpoint: EndpointProcess) -> None:
    """Formats with a header or footer come out as one document, not one per engine chunk."""
    reply = raw_request(endpoint, {"query": "SELECT number FROM numbers(300000) FORMAT CSVWithNames"})
    lines = reply.body.decode().splitlines()
    assert lines[0] == '"number"' and len(lines) == 300001
    document = json.loads(raw_request(endpoint, {"query": "SELECT number FROM numbers(200000) FORMAT JSON"}).body)
    assert document["rows"] == 200000


# --- raw HTTP, as curl sends it -----------------------------------------------------------------


def test_raw_http_get_post_and_gzip_csv_insert(endpoint: EndpointProcess, client: Client) -> None:
    assert raw_request(endpoint, path="/ping", auth=None).body == b"Ok.\n"
    assert raw_request(endpoint, auth=None).body == b"Ok.\n"
    assert raw_request(endpoint, {"query": "SELECT 1 + 1"}).body == b"2\n"
    assert raw_request(endpoint, data=b"SELECT 'posted'").body == b"posted\n"
    assert raw_request(endpoint, {"query": "SELECT"}, data=b"3 * 3").body == b"9\n"  # query param + body

    raw_request(endpoint, data=b"CREATE TABLE raw_csv (id UInt32, name String) ENGINE = MergeTree ORDER BY id")
    rows = "".join(f"{i},name {i}\n" for i in range(10000)).encode()
    body = gzip.compress(rows[:50000]) + gzip.compress(rows[50000:])  # two gzip members
    reply = raw_request(
        endpoint, {"query": "INSERT INTO raw_csv FORMAT CSV"}, data=body, headers={"Content-Encoding": "gzip"}
    )
    assert reply.status == 200
    assert json.loads(reply.headers["X-ClickHouse-Summary"])["written_rows"] == "10000"
    # the statement and its data in one body, as `curl --data-binary @file` sends it
    inline = raw_request(endpoint, data=b"INSERT INTO raw_csv FORMAT TSV\n10000\tinline\n10001\tinline\n")
    assert inline.status == 200
    values = raw_request(endpoint, {"query": "INSERT INTO raw_csv VALUES"}, data=b"(10002, 'v')")
    assert values.status == 200
    assert client.command("SELECT count(), sum(id) FROM raw_csv") == ["10003", str(sum(range(10003)))]


def test_response_compression(endpoint: EndpointProcess, client_factory: Callable[..., Client]) -> None:
    query = {"query": "SELECT number FROM numbers(100000)", "enable_http_compression": "1"}
    plain = raw_request(endpoint, {"query": query["query"]}).body
    gzipped = raw_request(endpoint, query, headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(gzipped.body) == plain
    assert "Content-Encoding" not in raw_request(endpoint, query).headers  # nothing accepted, nothing applied
    for method in ("lz4", "zstd", "gzip"):
        client = client_factory(compress=method)
        assert client.query("SELECT sum(number) FROM numbers(100000)").result_rows == [(4999950000,)]
        assert len(client.query("SELECT number FROM numbers(300000)").result_rows) == 300000


# --- errors after the result began --------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, "lz4"])
def test_error_after_streaming_began_is_reported(client_factory: Callable[..., Client], compress: str | bool) -> None:
    client = client_factory(compress=compress)
    received = 0
    with pytest.raises(StreamFailureError) as error:
        with client.query_row_block_stream(FAILS_LATE) as blocks:
            for block in blocks:
                received += len(block)
    assert error.value.code == 395 and "late failure" in str(error.value)
    assert 0 < received < 5000000
    assert client.command("SELECT 1") == 1  # the client recovers on a new connection


def test_error_after_streaming_began_breaks_raw_http(endpoint: EndpointProcess) -> None:
    host, port = address(endpoint)
    connection = http.client.HTTPConnection(host, port, timeout=60)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    connection.request("GET", "/?query=" + FAILS_LATE.replace(" ", "%20"), headers=auth)
    response = connection.getresponse()
    assert response.status == 200
    tag = response.headers["X-ClickHouse-Exception-Tag"]
    with pytest.raises(http.client.IncompleteRead) as truncated:
        response.read()
    tail = truncated.value.partial[-2000:]
    assert f"__exception__\r\n{tag}\r\nCode: 395.".encode() in tail and b"late failure" in tail
    connection.close()


def test_error_within_buffer_is_a_proper_http_error(client: Client, endpoint: EndpointProcess) -> None:
    """With wait_end_of_query (clickhouse-connect's query()) the whole result is held back first."""
    with pytest.raises(DatabaseError) as error:
        client.query(FAILS_LATE)
    assert error.value.code == 395 and not isinstance(error.value, StreamFailureError)
    early = raw_request(endpoint, {"query": "SELECT throwIf(number = 5) FROM numbers(10)"})
    assert early.status == 500 and early.headers["X-ClickHouse-Exception-Code"] == "395"


def test_http_10_client(endpoint: EndpointProcess) -> None:
    """`echo -ne 'GET /?query=... HTTP/1.0\\r\\n\\r\\n' | nc host port`: no chunked encoding for HTTP/1.0."""
    host, port = address(endpoint)
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(f"GET /?query=SELECT%2042 HTTP/1.0\r\nAuthorization: Basic {auth}\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Transfer-Encoding" not in head
    assert body == b"42\n"
