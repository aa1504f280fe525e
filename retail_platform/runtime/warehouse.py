"""The local profile's warehouse: the ClickHouse HTTP endpoint over the embedded engine,
with the schema migrations applied every time it starts."""

from __future__ import annotations

import ssl
import sys
import urllib.request
from pathlib import Path

from retail_platform.runtime.process import ProcessSpec
from retail_platform.settings import Settings


class Warehouse:
    name = "warehouse"
    needs: tuple[str, ...] = ()

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def ports(self) -> list[int]:
        return [self.s.clickhouse_port]

    def prepare(self) -> None:
        self.s.clickhouse_data_dir.mkdir(parents=True, exist_ok=True)
        if self.s.clickhouse_url.startswith("https://"):
            from retail_platform import tls

            tls.ensure_local(self.s.tls_dir, "warehouse", self.s.clickhouse_host)

    def processes(self, run_dir: Path) -> list[ProcessSpec]:
        argv = [
            sys.executable,
            "-m",
            "retail_platform.warehouse.endpoint",
            "--host",
            self.s.clickhouse_host,
            "--port",
            str(self.s.clickhouse_port),
            "--data-dir",
            str(self.s.clickhouse_data_dir),
        ]
        # Credentials travel through the environment (settings), never on the command line.
        return [ProcessSpec("warehouse", argv, run_dir, env=dict(self.s.source))]

    def healthy(self) -> bool:
        context = None
        if self.s.clickhouse_url.startswith("https://"):
            context = ssl.create_default_context(cafile=str(self.s.tls_dir / "ca.crt"))
        with urllib.request.urlopen(f"{self.s.clickhouse_url}/ping", timeout=2, context=context) as reply:
            return reply.read().strip() == b"Ok."

    def after_start(self) -> None:
        from retail_platform.warehouse import migrations

        migrations.apply_all()

    def describe(self) -> str:
        return f"ClickHouse HTTP endpoint on {self.s.clickhouse_url} (user {self.s.clickhouse_user})"
