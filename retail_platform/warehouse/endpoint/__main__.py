"""``python -m retail_platform.warehouse.endpoint``: serve ClickHouse's HTTP interface over the embedded engine."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from retail_platform.settings import SettingsError, get_settings
from retail_platform.warehouse.endpoint.config import EndpointConfig
from retail_platform.warehouse.endpoint.process import EXIT_CONFIG, run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m retail_platform.warehouse.endpoint",
        description="ClickHouse's HTTP interface over the embedded chdb engine (defaults from the platform settings).",
    )
    parser.add_argument("--host", help="address to listen on (loopback unless --listen-any)")
    parser.add_argument("--port", type=int, help="TCP port (0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, help="engine data directory (one process at a time)")
    parser.add_argument("--user", help="the user clients must authenticate as")
    parser.add_argument("--password", help="that user's password (default: RETAIL_CLICKHOUSE_PASSWORD)")
    parser.add_argument(
        "--bi-user",
        help="the read-only BI account (default: RETAIL_CLICKHOUSE_BI_USER, password RETAIL_CLICKHOUSE_BI_PASSWORD; "
        "'' serves none)",
    )
    parser.add_argument("--pool-size", type=int, help="engine handles kept ready")
    parser.add_argument("--listen-any", action="store_true", default=None, help="listen on all interfaces")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = EndpointConfig.from_settings(
            get_settings(),
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            user=args.user,
            password=args.password,
            bi_user=args.bi_user,
            pool_size=args.pool_size,
            listen_any=args.listen_any,
        )
    except SettingsError as exc:
        print(f"warehouse endpoint: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
