"""The warehouse endpoint: ClickHouse's HTTP interface served over the embedded chdb engine.

On the local profile there is no ClickHouse server; this process owns the engine's data directory
(one process at a time) and speaks the HTTP protocol so clickhouse-connect, curl and BI tools work
against it as against a server. The engine does all SQL; this package only carries requests.

- ``run(config)``: serve in this process until SIGTERM/SIGINT (the CLI, ``python -m ...``).
- ``Endpoint(config).start()``: serve from a background thread of this process.
- ``spawn(config)``: start it as a child process and wait until it is ready.
"""

from retail_platform.warehouse.endpoint.config import ConfigError, EndpointConfig
from retail_platform.warehouse.endpoint.engine import DataDirLocked, EngineStartError
from retail_platform.warehouse.endpoint.process import EndpointProcess, EndpointStartError, run, spawn
from retail_platform.warehouse.endpoint.server import Endpoint, PortBusy

__all__ = [
    "ConfigError",
    "DataDirLocked",
    "Endpoint",
    "EndpointConfig",
    "EndpointProcess",
    "EndpointStartError",
    "EngineStartError",
    "PortBusy",
    "run",
    "spawn",
]
