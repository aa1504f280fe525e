"""Reading a request's parameters and credentials the way ClickHouse's HTTP handler does."""

from __future__ import annotations

import base64

import pytest

from retail_platform.warehouse.endpoint.errors import EndpointError
from retail_platform.warehouse.endpoint.request import Credentials, credentials, parse_form, parse_request


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_parameters_settings_and_reserved_names() -> None:
    request = parse_request(
        "POST",
        [
            ("query", "SELECT {x:UInt8}"),
            ("database", "retail"),
            ("session_id", "s1"),
            ("session_timeout", "120"),
            ("query_id", "q1"),
            ("param_x", "5"),
            ("max_threads", "2"),
            ("wait_end_of_query", "1"),
            ("client_protocol_version", "54405"),
            ("default_format", "JSON"),
            ("", "ignored"),
            ("max_threads", "3"),
        ],
        {},
    )
    assert request.query == "SELECT {x:UInt8}"
    assert (request.database, request.session_id, request.session_timeout, request.query_id) == (
        "retail",
        "s1",
        120,
        "q1",
    )
    assert request.params == {"x": "5"}
    assert request.settings == {"max_threads": "3"}  # the last occurrence wins; transport names are not settings
    assert request.wait_end_of_query and request.default_format == "JSON"


def test_query_id_is_generated() -> None:
    first, second = parse_request("GET", [], {}), parse_request("GET", [("query_id", "")], {})
    assert first.query_id and second.query_id and first.query_id != second.query_id


def test_native_compression_is_refused() -> None:
    with pytest.raises(EndpointError) as error:
        parse_request("POST", [("compress", "1")], {})
    assert error.value.name == "NOT_IMPLEMENTED"


def test_bad_number_is_bad_arguments() -> None:
    with pytest.raises(EndpointError) as error:
        parse_request("POST", [("buffer_size", "lots")], {})
    assert error.value.code == 36


@pytest.mark.parametrize(
    "headers, params, expected",
    [
        (basic("ann", "pa:ss"), {}, Credentials("ann", "pa:ss")),
        ({"X-ClickHouse-User": "bob", "X-ClickHouse-Key": "k"}, {}, Credentials("bob", "k")),
        ({}, {"user": "cy", "password": "p"}, Credentials("cy", "p")),
        ({}, {}, Credentials("default", "")),
    ],
)
def test_credentials(headers: dict[str, str], params: dict[str, str], expected: Credentials) -> None:
    assert credentials(headers, params) == expected


def test_malformed_basic_auth() -> None:
    with pytest.raises(EndpointError) as error:
        credentials({"Authorization": "Basic !!!"}, {})
    assert error.value.code == 516


def test_credentials_match() -> None:
    assert Credentials("u", "p").matches("u", "p")
    assert not Credentials("u", "p").matches("u", "q")
    assert not Credentials("v", "p").matches("u", "p")


def test_form_fields() -> None:
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="query"\r\n\r\nSELECT {x:String}\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="param_x"\r\n\r\nvalue \xc3\xa9\r\n--XX--\r\n'
    )
    assert parse_form("multipart/form-data; boundary=XX", body) == [
        ("query", "SELECT {x:String}"),
        ("param_x", "value é"),
    ]


def test_form_files_are_refused() -> None:
    body = b'--XX\r\nContent-Disposition: form-data; name="t"; filename="t.tsv"\r\n\r\n1\r\n--XX--\r\n'
    with pytest.raises(EndpointError) as error:
        parse_form("multipart/form-data; boundary=XX", body)
    assert error.value.name == "NOT_IMPLEMENTED"


def test_database_and_format_headers() -> None:
    request = parse_request("GET", [], {"X-ClickHouse-Database": "retail", "X-ClickHouse-Format": "JSONEachRow"})
    assert (request.database, request.default_format) == ("retail", "JSONEachRow")
    assert parse_request("GET", [("database", "other")], {"X-ClickHouse-Database": "retail"}).database == "other"
