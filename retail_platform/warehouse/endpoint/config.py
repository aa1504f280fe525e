"""The endpoint's configuration: defaults from the platform settings, checked before anything starts."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, replace
from pathlib import Path

from retail_platform.settings import Settings, get_settings


class ConfigError(ValueError):
    """The configuration cannot work; the message says which option and why."""


@dataclass(frozen=True)
class Account:
    """A user clients authenticate as. ``read_only`` accounts run every query with the engine's
    readonly=1 fixed before the query starts and may not call functions that read files or the network."""

    user: str
    password: str
    read_only: bool = False


@dataclass(frozen=True)
class EndpointConfig:
    host: str
    port: int
    data_dir: Path
    user: str
    password: str
    pool_size: int = 4
    listen_any: bool = False
    database: str = "default"
    keep_alive_timeout: int = 30
    receive_timeout: float = 300.0
    shutdown_grace: float = 25.0  # the platform's process manager waits 30 s before SIGKILL
    # HTTPS when both are set (RETAIL_CLICKHOUSE_URL=https://...: RETAIL_TLS_DIR/warehouse.crt and .key).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # The read-only BI account (none when empty): RETAIL_CLICKHOUSE_BI_USER / _PASSWORD.
    bi_user: str = ""
    bi_password: str = ""

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: object) -> EndpointConfig:
        s = settings or get_settings()
        base = cls(
            host=s.clickhouse_host,
            port=s.clickhouse_port,
            data_dir=s.clickhouse_data_dir,
            user=s.clickhouse_user,
            password=s.clickhouse_password,
            pool_size=s.clickhouse_pool_size,
            bi_user=s.clickhouse_bi_user,
            bi_password=s.clickhouse_bi_password,
        )
        if s.clickhouse_url.startswith("https://"):
            base = replace(base, tls_cert=s.tls_dir / "warehouse.crt", tls_key=s.tls_dir / "warehouse.key")
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]

    @property
    def bind_host(self) -> str:
        return "0.0.0.0" if self.listen_any else self.host

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.listen_any else self.host
        return f"{'https' if self.tls_cert else 'http'}://{host}:{self.port}"

    @property
    def accounts(self) -> tuple[Account, ...]:
        etl = Account(self.user, self.password)
        return (etl, Account(self.bi_user, self.bi_password, read_only=True)) if self.bi_user else (etl,)

    def validate(self) -> None:
        if not self.user:
            raise ConfigError("the warehouse user is empty: pass --user or set RETAIL_CLICKHOUSE_USER")
        for account in self.accounts:
            if any(ch in account.user for ch in ":\r\n\t ") or any(ch in account.password for ch in "\r\n"):
                raise ConfigError(
                    f"warehouse user {account.user!r}: a user may not contain ':' or whitespace, nor a password a "
                    "line break (they travel in HTTP headers)"
                )
        if self.bi_user == self.user:
            raise ConfigError(
                f"the BI user {self.bi_user!r} is also the ETL user: give the read-only account its own name"
            )
        if self.bi_user and not self.bi_password:
            raise ConfigError("the read-only BI account has no password: set RETAIL_CLICKHOUSE_BI_PASSWORD")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("TLS needs both a certificate and its key")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not path.is_file():
                raise ConfigError(
                    f"TLS file {path} is missing: run `make up` (it makes local certificates) or set RETAIL_TLS_DIR"
                )
        if not 1 <= self.pool_size <= 256:
            raise ConfigError(f"--pool-size {self.pool_size}: expected 1 to 256 engine handles")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port}: expected 0 to 65535")
        if not self.listen_any and not _is_loopback(self.host):
            raise ConfigError(
                f"--host {self.host} is not a loopback address; "
                "pass --listen-any to accept connections from other machines"
            )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)
