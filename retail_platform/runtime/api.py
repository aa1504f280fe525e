"""The inventory API as a managed process of the local stack (uvicorn, one process)."""

from __future__ import annotations

import ssl
import sys
import urllib.request
from pathlib import Path

from retail_platform.runtime.process import ProcessSpec
from retail_platform.settings import REPO_ROOT, Settings


class InventoryApi:
    name = "api"
    needs: tuple[str, ...] = ("warehouse", "kafka")

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def ports(self) -> list[int]:
        return [self.s.api_port]

    def prepare(self) -> None:
        from retail_platform import tls
        from retail_platform.api import auth

        auth.load_secret(self.s.api_secret_file, create=True)
        if self.s.api_tls:
            tls.ensure_local(self.s.tls_dir, "api", self.s.api_host)

    def processes(self, run_dir: Path) -> list[ProcessSpec]:
        argv = [sys.executable, "-m", "retail_platform.api", "serve"]
        return [ProcessSpec("api", argv, run_dir, env=dict(self.s.source), cwd=REPO_ROOT)]

    def healthy(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.s.tls_dir / "ca.crt")) if self.s.api_tls else None
        with urllib.request.urlopen(f"{self.s.api_url}/health", timeout=2, context=context) as reply:
            return reply.status == 200

    def after_start(self) -> None:
        pass

    def describe(self) -> str:
        return f"inventory API on {self.s.api_url} (docs at /docs)"
