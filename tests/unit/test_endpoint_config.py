"""Endpoint configuration: defaults from the settings, and the checks made before starting."""

from __future__ import annotations

from pathlib import Path

import pytest

from retail_platform.settings import load_settings
from retail_platform.warehouse.endpoint.__main__ import parse_args
from retail_platform.warehouse.endpoint.config import ConfigError, EndpointConfig
from retail_platform.warehouse.endpoint.process import command_line


def config(**overrides: object) -> EndpointConfig:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 8123,
        "data_dir": Path("/d"),
        "user": "u",
        "password": "p",
    }
    values.update(overrides)
    return EndpointConfig(**values)  # type: ignore[arg-type]


def test_defaults_come_from_settings() -> None:
    settings = load_settings({"RETAIL_CLICKHOUSE_URL": "http://127.0.0.1:9123", "RETAIL_CLICKHOUSE_POOL_SIZE": "6"})
    cfg = EndpointConfig.from_settings(settings, port=None, user="other")
    assert (cfg.host, cfg.port, cfg.pool_size, cfg.user) == ("127.0.0.1", 9123, 6, "other")
    assert cfg.data_dir == settings.clickhouse_data_dir and cfg.password == settings.clickhouse_password


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"user": ""}, "user is empty"),
        ({"user": "a:b"}, "may not contain"),
        ({"password": "a\nb"}, "line break"),
        ({"pool_size": 0}, "--pool-size"),
        ({"port": 70000}, "--port"),
        ({"host": "203.0.113.5"}, "--listen-any"),
    ],
)
def test_invalid(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(**overrides).validate()


def test_valid() -> None:
    config().validate()
    config(host="::1").validate()
    config(host="203.0.113.5", listen_any=True).validate()
    assert config(listen_any=True).bind_host == "0.0.0.0"


def test_command_line_round_trip_keeps_the_password_out() -> None:
    cfg = config(pool_size=3, listen_any=True)
    argv = command_line(cfg, python="python")
    assert "p" not in argv[argv.index("--user") + 2 :] and "--password" not in argv
    args = parse_args(argv[3:])
    assert (args.host, args.port, args.data_dir, args.user, args.pool_size, args.listen_any) == (
        "127.0.0.1",
        8123,
        Path("/d"),
        "u",
        3,
        True,
    )
