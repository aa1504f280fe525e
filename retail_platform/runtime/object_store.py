"""An S3 object store for a lake on S3 whose endpoint is on this machine (the cluster profile's):
Versity's S3 gateway (versitygw, Apache-2.0) serving a folder of the state directory, built from its Go
module by `make setup-cluster`. Spark reaches it through S3A, the package's Python side through the
minio client (``retail_platform/lake_store.py``); the lake's bucket is created on start.

The gateway keeps one object per file and a bucket per folder (its ``posix`` backend), so what Spark
writes is also visible under ``{state}/s3``; objects' metadata is kept in extended attributes."""

from __future__ import annotations

from pathlib import Path

from retail_platform import lake_store
from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.runtime.process import ProcessSpec
from retail_platform.settings import Settings


class ObjectStore:
    name = "s3"
    needs: tuple[str, ...] = ()

    def __init__(self, settings: Settings) -> None:
        local = settings.s3_local
        if local is None:
            raise RuntimeStartError(
                f"RETAIL_S3_ENDPOINT={settings.s3_endpoint or '(empty)'} with RETAIL_LAKE_URI={settings.lake_uri}: "
                "`up` runs an object store only for an S3 lake on a loopback endpoint"
            )
        self.s = settings
        self.host, self.port = local
        self.root = settings.state_dir / "s3"

    def ports(self) -> list[int]:
        return [self.port]

    def prepare(self) -> None:
        if not self.s.versitygw_bin.exists():
            raise RuntimeStartError(
                f"the S3 gateway {self.s.versitygw_bin} is missing; run `make setup-cluster` (it builds versitygw "
                "with Go)"
            )
        self.root.mkdir(parents=True, exist_ok=True)

    def processes(self, run_dir: Path) -> list[ProcessSpec]:
        argv = [
            str(self.s.versitygw_bin),
            "--port",
            f"{self.host}:{self.port}",
            "--region",
            self.s.s3_region,
            "--keep-alive",  # S3A keeps a pool of connections
            "--quiet",  # no line per request in the log
            "posix",
            str(self.root),
        ]
        # The credentials through the environment, not the command line (which `ps` shows).
        env = {"ROOT_ACCESS_KEY_ID": self.s.s3_access_key, "ROOT_SECRET_ACCESS_KEY": self.s.s3_secret_key}
        return [ProcessSpec("s3", argv, run_dir, env=env, ports=(self.port,))]

    def healthy(self) -> bool:
        lake_store.client(self.s).list_buckets()
        return True

    def after_start(self) -> None:
        lake_store.ensure_bucket(self.s)

    def describe(self) -> str:
        return f"S3 gateway {self.s.s3_endpoint} (lake {self.s.lake_uri}, data in {self.root})"
