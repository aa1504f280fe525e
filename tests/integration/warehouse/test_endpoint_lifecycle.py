"""Starting and stopping: SIGTERM lets an in-flight insert finish, acknowledged rows survive a restart
(even after SIGKILL), and a locked data directory, a busy port or bad credentials fail clearly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from retail_platform.warehouse.endpoint import EndpointProcess, EndpointStartError
from retail_platform.warehouse.endpoint.execution import SPOOL_DIR, spool_prefix
from retail_platform.warehouse.endpoint.process import EXIT_CONFIG, EXIT_DATA_DIR_LOCKED, EXIT_PORT_BUSY
from tests.integration.warehouse.conftest import HeldInsert

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def test_sigterm_during_insert_stream_stops_cleanly_and_keeps_acknowledged_rows(
    tmp_path: Path, start_endpoint: Callable[..., EndpointProcess], client_factory: Callable[..., Client]
) -> None:
    data_dir = tmp_path / "data"
    server = start_endpoint(data_dir)
    client = client_factory(server)
    client.command("CREATE TABLE kept (id UInt64, store UInt16) ENGINE = MergeTree ORDER BY id")
    assert client.insert("kept", [[i, i % 50] for i in range(1000)], column_names=["id", "store"]).written_rows == 1000

    with HeldInsert(server, "kept", batches=5, rows_per_batch=20_000) as insert:
        wait_until(
            lambda: bool(list(Path(SPOOL_DIR).glob(f"{spool_prefix(server.pid)}*"))),
            "the held insert's body is being received",
        )
        server.popen.send_signal(signal.SIGTERM)
    # released only after the signal: the endpoint waited for the insert instead of cutting it
    assert insert.status == 200, insert.reply
    assert server.popen.wait(60) == 0

    restarted = start_endpoint(data_dir)
    assert client_factory(restarted).command("SELECT count() FROM kept") == 1000 + 100_000


def test_acknowledged_inserts_survive_sigkill(
    tmp_path: Path, start_endpoint: Callable[..., EndpointProcess], client_factory: Callable[..., Client]
) -> None:
    """No clean shutdown to rely on: the reply to an insert is sent only once its part is on disk."""
    data_dir = tmp_path / "data"
    server = start_endpoint(data_dir)
    client = client_factory(server)
    client.command("CREATE TABLE durable (id UInt64) ENGINE = MergeTree ORDER BY id")
    # synchronous inserts whose parts are fsynced before the reply: safe against a machine crash too
    assert client.command("SELECT toUInt8(getSetting('async_insert'))") == 0
    fsync = "SELECT name, value FROM system.merge_tree_settings WHERE name LIKE 'fsync_%' ORDER BY name"
    assert ("fsync_after_insert", "1") in client.query(fsync).result_rows
    assert ("fsync_part_directory", "1") in client.query(fsync).result_rows
    for batch in range(5):
        client.insert("durable", [[batch * 100 + i] for i in range(100)], column_names=["id"])
    server.popen.kill()
    server.popen.wait(30)

    restarted = start_endpoint(data_dir)
    assert client_factory(restarted).command("SELECT count(), sum(id) FROM durable") == ["500", str(sum(range(500)))]


def test_locked_data_directory_is_reported(tmp_path: Path, start_endpoint: Callable[..., EndpointProcess]) -> None:
    data_dir = tmp_path / "data"
    first = start_endpoint(data_dir)
    with pytest.raises(EndpointStartError) as error:
        start_endpoint(data_dir)
    assert error.value.returncode == EXIT_DATA_DIR_LOCKED
    assert "locked by another process" in str(error.value) and f"pid {first.pid}" in str(error.value)


def test_busy_port_is_reported(start_endpoint: Callable[..., EndpointProcess]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EndpointStartError) as error:
            start_endpoint(port=port)
    assert error.value.returncode == EXIT_PORT_BUSY
    assert f"port {port}" in str(error.value) and "already in use" in str(error.value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"user": ""}, "user is empty"),
        ({"user": "bad:name"}, "may not contain"),
        ({"host": "192.0.2.10"}, "not a loopback address"),
        ({"pool_size": 0}, "--pool-size"),
    ],
)
def test_bad_configuration_is_reported(
    start_endpoint: Callable[..., EndpointProcess], overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(EndpointStartError) as error:
        start_endpoint(**overrides)
    assert error.value.returncode == EXIT_CONFIG
    assert "configuration error" in str(error.value) and message in str(error.value)


IN_PROCESS = """
import sys, urllib.request
from pathlib import Path
from retail_platform.warehouse.endpoint import Endpoint, EndpointConfig

endpoint = Endpoint(EndpointConfig("127.0.0.1", 0, Path(sys.argv[1]), "u", "p")).start()
auth = {"X-ClickHouse-User": "u", "X-ClickHouse-Key": "p"}
request = urllib.request.Request(endpoint.url + "/?query=SELECT%20version()", headers=auth)
with urllib.request.urlopen(request) as reply:
    print(reply.read().decode().strip() == endpoint.engine.version)
print(endpoint.stop())
"""


def test_in_process_endpoint(tmp_path: Path) -> None:
    """The API a process manager can use in its own process (here, a child, to keep the engine out of pytest)."""
    done = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, str(tmp_path / "data")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
