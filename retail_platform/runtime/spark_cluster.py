"""A Spark standalone cluster on this machine: the master of a ``spark://127.0.0.1:PORT``
RETAIL_SPARK_MASTER and RETAIL_SPARK_WORKERS workers, run with the pyspark distribution's own
``spark-class`` (the wheel ships the master and worker classes, not the ``sbin`` scripts).

Every Spark job of the platform (the stream, the DAGs' jobs) then runs its driver here and its
executors on the workers; only the master URL differs from the local profile. The executors import the
platform's package from the repository (``PYTHONPATH``) and run the virtual environment's Python; on
several hosts the package is installed there instead. The master's web UI is on the master port + 1,
worker i's on the master port + 2 + i."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.runtime.process import ProcessSpec
from retail_platform.settings import REPO_ROOT, Settings

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


class SparkCluster:
    name = "spark"
    needs: tuple[str, ...] = ()

    def __init__(self, settings: Settings) -> None:
        standalone = settings.spark_standalone
        if standalone is None:
            raise RuntimeStartError(
                f"RETAIL_SPARK_MASTER={settings.spark_master} is not a spark:// master on this machine; "
                "`up` runs a standalone cluster only for spark://127.0.0.1:PORT"
            )
        self.s = settings
        self.host, self.port = standalone
        self.home = settings.state_dir / "spark"

    @property
    def ui_port(self) -> int:
        return self.port + 1

    def worker_ui_port(self, index: int) -> int:
        return self.port + 2 + index

    def ports(self) -> list[int]:
        return [self.port, self.ui_port, *(self.worker_ui_port(i) for i in range(self.s.spark_workers))]

    def environment(self) -> dict[str, str]:
        python = str(self.s.venv_bin / "python")
        return {
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": self.host,
            "SPARK_LOG_DIR": str(self.home / "logs"),
            # Executors run Python UDFs (mapInArrow) with the virtual environment's interpreter and import
            # the platform's package from the repository.
            "PYSPARK_PYTHON": python,
            "PYTHONPATH": str(REPO_ROOT),
        }

    def prepare(self) -> None:
        spark_class = spark_home() / "bin" / "spark-class"
        if not spark_class.exists():
            raise RuntimeStartError(f"{spark_class} is missing; run `make setup` (pyspark provides it)")
        for i in range(self.s.spark_workers):
            (self.home / f"worker-{i + 1}").mkdir(parents=True, exist_ok=True)

    def processes(self, run_dir: Path) -> list[ProcessSpec]:
        spark_class = str(spark_home() / "bin" / "spark-class")
        env = self.environment()
        master = ProcessSpec(
            "spark-master",
            [
                spark_class,
                MASTER_CLASS,
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--webui-port",
                str(self.ui_port),
            ],
            run_dir,
            env=env,
            ports=(self.port, self.ui_port),
        )
        workers = [
            ProcessSpec(
                f"spark-worker-{i + 1}",
                [
                    spark_class,
                    WORKER_CLASS,
                    self.s.spark_master,
                    "--host",
                    self.host,
                    "--cores",
                    str(self.s.spark_worker_cores),
                    "--memory",
                    self.s.spark_worker_memory,
                    "--work-dir",
                    str(self.home / f"worker-{i + 1}"),
                    "--webui-port",
                    str(self.worker_ui_port(i)),
                ],
                run_dir,
                env=env,
                ports=(self.worker_ui_port(i),),
            )
            for i in range(self.s.spark_workers)
        ]
        return [master, *workers]

    def master_state(self) -> dict[str, Any]:
        """The master's JSON status (its workers, applications, cores in use)."""
        with urllib.request.urlopen(f"http://{self.host}:{self.ui_port}/json/", timeout=3) as reply:
            state: dict[str, Any] = json.load(reply)
        return state

    def healthy(self) -> bool:
        state = self.master_state()
        alive = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
        return state.get("status") == "ALIVE" and len(alive) >= self.s.spark_workers

    def after_start(self) -> None:
        pass

    def describe(self) -> str:
        return (
            f"Spark master {self.s.spark_master} (UI http://{self.host}:{self.ui_port}) with "
            f"{self.s.spark_workers} worker(s) of {self.s.spark_worker_cores} core(s), {self.s.spark_worker_memory}"
        )
