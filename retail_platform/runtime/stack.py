"""`up`, `down` and `status` for the local and cluster profiles.

All state (data, logs, pids) lives under the settings' state folder. Services are prepared, then
all started at once (so their start-up overlaps on two cores), then awaited and finished
(topics created, migrations applied)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from retail_platform import lake, lake_store
from retail_platform.runtime import process
from retail_platform.runtime.airflow import Airflow
from retail_platform.runtime.api import InventoryApi
from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.runtime.kafka_broker import KafkaBroker
from retail_platform.runtime.object_store import ObjectStore
from retail_platform.runtime.postgres import Postgres
from retail_platform.runtime.process import ProcessSpec
from retail_platform.runtime.spark_cluster import SparkCluster
from retail_platform.runtime.stream import StreamJob
from retail_platform.runtime.superset import Superset
from retail_platform.runtime.warehouse import Warehouse
from retail_platform.settings import Settings

STATE_MARKER = "retail-platform-state"
START_TIMEOUT = {
    "warehouse": 60.0,
    "kafka": 120.0,
    "spark": 120.0,
    "postgres": 60.0,
    "s3": 60.0,
    "airflow": 240.0,
    "stream": 180.0,
    "api": 60.0,
    "superset": 180.0,
}
# Every service `up` knows; "s3" runs only for an S3 lake on a loopback endpoint, "spark" only for a
# spark://127.0.0.1 master and "postgres" only for Airflow's metadata database on loopback (the
# cluster profile's).
SERVICE_NAMES = ("warehouse", "kafka", "s3", "spark", "postgres", "airflow", "stream", "api", "superset")


class Service(Protocol):
    name: str
    needs: tuple[str, ...]

    def ports(self) -> list[int]: ...
    def prepare(self) -> None: ...
    def processes(self, run_dir: Path) -> list[ProcessSpec]: ...
    def healthy(self) -> bool: ...
    def after_start(self) -> None: ...
    def describe(self) -> str: ...


def services(settings: Settings, only: tuple[str, ...] = SERVICE_NAMES, with_needs: bool = True) -> list[Service]:
    known: dict[str, Service] = {"warehouse": Warehouse(settings), "kafka": KafkaBroker(settings)}
    if settings.s3_local is not None:
        known["s3"] = ObjectStore(settings)
    if settings.spark_standalone is not None:
        known["spark"] = SparkCluster(settings)
    if settings.airflow_postgres is not None:
        known["postgres"] = Postgres(settings)
    known.update(
        {
            "airflow": Airflow(settings),
            "stream": StreamJob(settings),
            "api": InventoryApi(settings),
            "superset": Superset(settings),
        }
    )
    unknown = set(only) - set(SERVICE_NAMES)
    if unknown:
        raise RuntimeStartError(
            f"unknown service(s) {', '.join(sorted(unknown))}; choose from {', '.join(SERVICE_NAMES)}"
        )
    # Services the settings do not call for are left out (of up, down and status alike): spark with a
    # local[*] master, postgres with SQLite, s3 with a file:// lake.
    only = tuple(name for name in only if name in known)
    # A service brings what it needs along (`up --only stream` also starts Kafka and the warehouse).
    wanted: list[str] = []

    def add(name: str) -> None:
        for need in known[name].needs:
            add(need)
        if name not in wanted:
            wanted.append(name)

    if not with_needs:
        return [known[name] for name in known if name in only]
    for name in only:
        add(name)
    return [known[name] for name in wanted]


def _check_state_folder(settings: Settings) -> None:
    state = settings.state_dir
    marker = state / STATE_MARKER
    if state.exists() and any(p.name != "test" for p in state.iterdir()) and not marker.exists():
        raise RuntimeStartError(
            f"the state folder {state} has files but no {STATE_MARKER} marker: it was not written by this "
            "platform or is half-written; move it away or run `make reset`"
        )
    state.mkdir(parents=True, exist_ok=True)
    marker.write_text("1\n")


def run_dir(settings: Settings) -> Path:
    return settings.state_dir / "run"


def up(settings: Settings, only: tuple[str, ...] = SERVICE_NAMES, log: Callable[[str], None] = print) -> None:
    if settings.profile not in ("local", "cluster"):
        raise RuntimeStartError(
            f"RETAIL_PROFILE={settings.profile}: `up` manages the local and cluster profiles; "
            "use `docker compose up -d` for the compose profile"
        )
    _check_state_folder(settings)
    if settings.lake_is_local:
        lake.ensure_local_layout(settings)
    elif settings.s3_local is None:
        # A lake on an object store `up` does not run: it must answer, with the bucket, before anything
        # starts writing there.
        try:
            lake_store.check_bucket(settings)
        except lake_store.LakeStoreError as exc:
            raise RuntimeStartError(str(exc)) from exc
    chosen = services(settings, only)
    runs = run_dir(settings)

    # A port answered by something that is not our process is someone else's program.
    for svc in chosen:
        for port in _ports_to_claim(svc, runs):
            if process.port_open("127.0.0.1", port):
                raise RuntimeStartError(
                    f"port {port} needed by {svc.name} is in use by another program; stop it, "
                    "or choose other ports through the RETAIL_* settings (see README)"
                )

    # Waves: every service whose dependencies are ready starts at once (their start-up overlaps
    # on two cores); a service that needs others (the stream needs Kafka and the warehouse's
    # tables) starts once they are healthy and finished.
    ready: set[str] = set()
    remaining = list(chosen)
    while remaining:
        wave = [svc for svc in remaining if set(svc.needs) <= ready]
        if not wave:
            raise RuntimeStartError(f"cannot order services {[svc.name for svc in remaining]}: circular needs")
        started: list[tuple[Service, list[ProcessSpec]]] = []
        for svc in wave:
            svc.prepare()
            specs = svc.processes(runs)
            for spec in specs:
                process.start(spec)
            started.append((svc, specs))
        for svc, specs in started:
            t0 = time.monotonic()
            process.wait_until(specs[0], svc.healthy, timeout=START_TIMEOUT[svc.name], what="healthy")
            for spec in specs[1:]:
                if process.running_pid(spec) is None:
                    raise RuntimeStartError(f"{spec.name} exited; see {spec.log_file}:\n{process.log_tail(spec)}")
            svc.after_start()
            ready.add(svc.name)
            remaining.remove(svc)
            log(f"  up  {svc.name:<10} {svc.describe()}  ({time.monotonic() - t0:.1f}s)")


def _ports_to_claim(svc: Service, runs: Path) -> set[int]:
    """The ports `up` is about to listen on: those of the service's processes that are not running
    (every port of the service but those its running processes declare, when a stopped one declares none)."""
    specs = svc.processes(runs)
    stopped = [spec for spec in specs if process.running_pid(spec) is None]
    if not stopped:
        return set()
    if all(spec.ports for spec in stopped):
        return {port for spec in stopped for port in spec.ports}
    running = {port for spec in specs if spec not in stopped for port in spec.ports}
    return set(svc.ports()) - running


def down(settings: Settings, only: tuple[str, ...] = SERVICE_NAMES, log: Callable[[str], None] = print) -> None:
    runs = run_dir(settings)
    # Reverse order: Airflow first (its tasks use the others), the warehouse last.
    for svc in reversed(services(settings, only, with_needs=False)):
        for spec in reversed(_specs(svc, runs)):
            if process.stop(spec):
                log(f"  stopped {spec.name}")


def _specs(svc: Service, runs: Path) -> list[ProcessSpec]:
    try:
        return svc.processes(runs)
    except RuntimeStartError:
        return []


@dataclass
class ServiceStatus:
    name: str
    processes: dict[str, int | None]
    healthy: bool
    detail: str


def status(settings: Settings) -> list[ServiceStatus]:
    runs = run_dir(settings)
    report = []
    for svc in services(settings):
        specs = _specs(svc, runs)
        pids = {spec.name: process.running_pid(spec) for spec in specs}
        try:
            healthy = bool(svc.healthy())
        except Exception:  # any failure to answer is "unhealthy"
            healthy = False
        report.append(ServiceStatus(svc.name, pids, healthy, svc.describe()))
    return report
