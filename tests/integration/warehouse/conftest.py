"""Warehouse endpoint fixtures: the real server in a child process, on a free port and a fresh data
directory, reached through clickhouse-connect's own client (and plain HTTP where that matters)."""

from __future__ import annotations

import base64
import http.client
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from retail_platform.warehouse.endpoint import EndpointConfig, EndpointProcess, spawn

USER = "tester"
PASSWORD = "s3cret:with:colons"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
# The read-only BI account every test endpoint also serves.
BI_USER = "reader"
BI_PASSWORD = "r3ad:only"


def endpoint_config(data_dir: Path, **overrides: object) -> EndpointConfig:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "data_dir": data_dir,
        "user": USER,
        "password": PASSWORD,
        "bi_user": BI_USER,
        "bi_password": BI_PASSWORD,
        "pool_size": 4,
    }
    values.update(overrides)
    return EndpointConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def start_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., EndpointProcess]]:
    """``start_endpoint(data_dir=None, **config)`` starts a server; all are stopped at the end."""
    started: list[EndpointProcess] = []

    def start(data_dir: Path | None = None, **overrides: object) -> EndpointProcess:
        directory = data_dir or tmp_path_factory.mktemp("warehouse") / "data"
        process = spawn(endpoint_config(directory, **overrides), log_path=directory.parent / "endpoint.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def endpoint(start_endpoint: Callable[..., EndpointProcess]) -> EndpointProcess:
    """The server most tests share."""
    return start_endpoint()


def address(process: EndpointProcess) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(process.url)
    return str(parsed.hostname), int(parsed.port or 0)


@pytest.fixture
def client_factory(endpoint: EndpointProcess) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(process: EndpointProcess | None = None, **kwargs: object) -> Client:
        host, port = address(process or endpoint)
        options: dict[str, object] = {"username": USER, "password": PASSWORD}
        options.update(kwargs)
        client = clickhouse_connect.get_client(host=host, port=port, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(client_factory: Callable[..., Client]) -> Client:
    return client_factory()


@pytest.fixture
def database(client: Client) -> Iterator[str]:
    """A fresh database for one test, selected as the client's database."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE DATABASE {name}")
    client.database = name
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name}")


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(
    process: EndpointProcess,
    params: dict[str, str] | None = None,
    *,
    data: bytes | None = None,
    method: str | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = (USER, PASSWORD),
    path: str = "/",
) -> RawReply:
    """A plain HTTP request, as curl would send it."""
    url = process.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return RawReply(reply.status, dict(reply.headers.items()), reply.read())
    except urllib.error.HTTPError as error:
        return RawReply(error.code, dict(error.headers.items()), error.read())


class HeldInsert:
    """An INSERT whose chunked body is sent piece by piece and stalls until released."""

    def __init__(self, endpoint: EndpointProcess, table: str, batches: int, rows_per_batch: int) -> None:
        self.released = threading.Event()
        self.first_batch_sent = threading.Event()
        self.status: int | None = None
        self.reply = b""
        self._endpoint, self._table = endpoint, table
        self._batches, self._rows = batches, rows_per_batch
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _body(self) -> Iterator[bytes]:
        for batch in range(self._batches):
            start = batch * self._rows
            yield "".join(f"{i},{i % 50}\n" for i in range(start, start + self._rows)).encode()
            if batch == 0:
                self.first_batch_sent.set()
                self.released.wait(120)

    def _run(self) -> None:
        host, port = address(self._endpoint)
        connection = http.client.HTTPConnection(host, port, timeout=180)
        path = "/?query=" + f"INSERT INTO {self._table} FORMAT CSV".replace(" ", "%20")
        connection.request("POST", path, body=self._body(), headers=AUTH, encode_chunked=True)
        response = connection.getresponse()
        self.status, self.reply = response.status, response.read()
        connection.close()

    def __enter__(self) -> HeldInsert:
        self._thread.start()
        assert self.first_batch_sent.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._thread.join(180)
