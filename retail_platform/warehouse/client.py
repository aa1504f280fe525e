"""clickhouse-connect clients built from settings: the one way the platform reaches the warehouse."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from retail_platform.settings import Settings, get_settings


def connect(
    settings: Settings | None = None, *, database: str | None = None, read_only: bool = False, **kwargs: Any
) -> Client:
    """A client for the configured warehouse; ``database=""`` connects without selecting one.

    ``read_only`` logs in as the BI account (RETAIL_CLICKHOUSE_BI_USER): the warehouse fixes readonly=1
    for it and refuses functions that read files or the network. Everything that writes uses the ETL
    account (RETAIL_CLICKHOUSE_USER).
    """
    s = settings or get_settings()
    if s.clickhouse_url.startswith("https://"):
        # Verified against the platform's CA (RETAIL_TLS_DIR/ca.crt); never verify=False.
        kwargs.setdefault("ca_cert", str(s.tls_dir / "ca.crt"))
    return clickhouse_connect.get_client(
        host=s.clickhouse_host,
        port=s.clickhouse_port,
        interface="https" if s.clickhouse_url.startswith("https") else "http",
        username=s.clickhouse_bi_user if read_only else s.clickhouse_user,
        password=s.clickhouse_bi_password if read_only else s.clickhouse_password,
        database=s.clickhouse_database if database is None else database,
        **kwargs,
    )


def count(client: Client, sql: str, parameters: Mapping[str, Any] | None = None) -> int:
    """The one number a ``SELECT count() ...`` returns (``Client.command`` is typed for any statement)."""
    value = client.command(sql, parameters=dict(parameters) if parameters is not None else None)
    if isinstance(value, int | str):
        return int(value)
    raise TypeError(f"expected one number from {sql!r}, got {value!r}")
