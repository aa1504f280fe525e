"""The endpoint's two accounts: the ETL account writes, the BI account only reads, with readonly=1
fixed by the engine (a SETTINGS clause or SET cannot lift it) and no functions that read files or the
network. Runs against the shared test endpoint (no stack of its own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from retail_platform.warehouse.endpoint import EndpointProcess
from tests.integration.warehouse.conftest import BI_PASSWORD, BI_USER, PASSWORD, USER, raw_request

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outside") / "secret.txt"
    path.write_text("not for the BI account\n")
    return path


@pytest.fixture
def shared_table(client: Client) -> Iterator[str]:
    """A table the ETL account creates and fills; the BI account reads it."""
    client.command("CREATE DATABASE IF NOT EXISTS accounts")
    client.command(
        "CREATE TABLE IF NOT EXISTS accounts.sales (store String, units Int32) ENGINE = MergeTree ORDER BY store"
    )
    client.command("TRUNCATE TABLE accounts.sales")
    client.insert("accounts.sales", [["S1", 3], ["S2", 4]], column_names=["store", "units"])
    yield "accounts.sales"
    client.command("DROP DATABASE IF EXISTS accounts")


@pytest.fixture
def bi_client(client_factory: Callable[..., Client]) -> Client:
    return client_factory(username=BI_USER, password=BI_PASSWORD)


def refusal(endpoint: EndpointProcess, sql: str, **params: str) -> tuple[int, str]:
    reply = raw_request(endpoint, {"query": sql, **params}, data=b"", auth=(BI_USER, BI_PASSWORD))
    return reply.status, reply.body.decode()


def test_bi_reads_what_etl_wrote(bi_client: Client, shared_table: str) -> None:
    assert bi_client.query(
        f"SELECT sum(units) FROM {shared_table} WHERE store = {{s:String}}", {"s": "S2"}
    ).result_rows == [(4,)]
    assert bi_client.command("SELECT getSetting('readonly')") == 1


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO accounts.sales VALUES ('S3', 1)",
        "DROP TABLE accounts.sales",
        "CREATE TABLE accounts.x (a Int8) ENGINE = Memory",
        "ALTER TABLE accounts.sales DELETE WHERE 1",
        "SELECT * FROM accounts.sales INTO OUTFILE '/tmp/retail-bi-outfile.tsv'",
        "KILL QUERY WHERE 1",
        "INSERT INTO FUNCTION file('/tmp/retail-bi-insert.tsv', 'TSV') SELECT 1",
    ],
)
def test_bi_cannot_write(endpoint: EndpointProcess, shared_table: str, sql: str) -> None:
    status, body = refusal(endpoint, sql)
    assert status == 500 and "(READONLY)" in body, body


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT count() FROM accounts.sales SETTINGS readonly = 0", {}),
        ("SELECT count() FROM accounts.sales SETTINGS readonly = 2", {}),
        ("SELECT count() FROM accounts.sales SETTINGS max_threads = 1", {}),
        ("SET readonly = 0", {"session_id": "bi-lift"}),
        ("SELECT 1", {"readonly": "0"}),
        ("SELECT 1", {"readonly": "2"}),
    ],
)
def test_bi_cannot_lift_readonly(endpoint: EndpointProcess, shared_table: str, sql: str, params: dict) -> None:
    status, body = refusal(endpoint, sql, **params)
    assert status == 500 and "(READONLY)" in body and "Cannot modify" in body, body


def test_bi_session_stays_readonly(endpoint: EndpointProcess, shared_table: str) -> None:
    session = {"session_id": "bi-session"}
    assert refusal(endpoint, "SET readonly = 0", **session)[0] == 500
    status, body = refusal(endpoint, "SELECT getSetting('readonly')", **session)
    assert (status, body.strip()) == (200, "1")


@pytest.mark.parametrize(
    "call",
    [
        "file('{secret}', 'LineAsString')",
        "url('http://127.0.0.1:9/x.csv', 'CSV', 'a String')",
        "s3('http://127.0.0.1:9/bucket/x.csv', 'CSV', 'a String')",
        "remote('127.0.0.1:9', system.one)",
        "remoteSecure('127.0.0.1:9', system.one)",
        "hdfs('hdfs://127.0.0.1:9/x', 'CSV', 'a String')",
        "mysql('127.0.0.1:9', 'db', 't', 'u', 'p')",
        "postgresql('127.0.0.1:9', 'db', 't', 'u', 'p')",
        "jdbc('jdbc:x', 'db', 't')",
        "odbc('DSN=x', 'db', 't')",
        "executable('x.sh', 'TSV', 'a String')",
        "cluster('default', system.one)",
        "clusterAllReplicas('default', system.one)",
        "input('a String')",
        "sqlite('/tmp/x.db', 't')",
        "python(x)",
        "URL/* comment */ ('http://127.0.0.1:9/x', 'CSV', 'a String')",
        "`file`('{secret}', 'LineAsString')",
    ],
)
def test_bi_cannot_call_table_functions_that_reach_outside(
    endpoint: EndpointProcess, secret_file: Path, call: str
) -> None:
    status, body = refusal(endpoint, "SELECT * FROM " + call.format(secret=secret_file))
    assert status in (403, 500), body
    assert "(ACCESS_DENIED)" in body or "(READONLY)" in body, body
    assert "not for the BI account" not in body


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT file('{secret}')",
        "SELECT length(file('{secret}'))",
        "SELECT * FROM view(SELECT file('{secret}') AS f)",
        "SELECT (SELECT file('{secret}'))",
        "WITH file('{secret}') AS f SELECT f",
    ],
)
def test_bi_cannot_read_files_with_the_scalar_function(endpoint: EndpointProcess, secret_file: Path, sql: str) -> None:
    status, body = refusal(endpoint, sql.format(secret=secret_file))
    assert status == 403 and "(ACCESS_DENIED)" in body and "file" in body, body
    assert "not for the BI account" not in body


def test_bi_keeps_harmless_functions(bi_client: Client) -> None:
    assert bi_client.command("SELECT sum(number) FROM numbers(5)") == 10
    assert bi_client.command("SELECT format('{}-{}', 'file(', 'x')") == "file(-x"
    assert bi_client.query("SELECT 'file(\\'/etc/hostname\\')'").result_rows == [("file('/etc/hostname')",)]


def test_etl_account_is_unchanged(client: Client, shared_table: str, secret_file: Path) -> None:
    client.command(f"INSERT INTO {shared_table} VALUES ('S3', 5)")
    assert client.command(f"SELECT sum(units) FROM {shared_table}") == 12
    assert client.query(f"SELECT file('{secret_file}')").result_rows == [("not for the BI account\n",)]


@pytest.mark.parametrize(
    "auth",
    [(BI_USER, PASSWORD), (USER, BI_PASSWORD), (BI_USER, ""), ("default", ""), (BI_USER.upper(), BI_PASSWORD)],
)
def test_wrong_credentials_are_refused(endpoint: EndpointProcess, auth: tuple[str, str]) -> None:
    reply = raw_request(endpoint, {"query": "SELECT 1"}, auth=auth)
    assert reply.status == 403
    assert reply.headers.get("X-ClickHouse-Exception-Code") == "516"
    assert b"Authentication failed: password is incorrect, or there is no user with such name" in reply.body


def test_bi_client_cannot_connect_with_the_etl_password(client_factory: Callable[..., Client]) -> None:
    with pytest.raises(DatabaseError, match="516"):
        client_factory(username=BI_USER, password=PASSWORD)
