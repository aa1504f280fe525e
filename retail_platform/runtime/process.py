"""Managed background processes: a pid file and a log file per process under the state folder.

A process is only ever signalled when its pid file names it *and* its start time still matches
the one recorded, so a reused pid or a foreign program on the same port is never touched.
(Airflow rewrites its process title, which clobbers /proc/<pid>/environ and cmdline, so those
cannot identify it.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from retail_platform.retry import poll
from retail_platform.runtime.errors import RuntimeStartError


@dataclass
class ProcessSpec:
    name: str
    argv: Sequence[str]
    run_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    stop_timeout: float = 30.0
    # The ports this very process listens on, where a service runs several (one Kafka node of three):
    # `up` then restarts a lost node while the others keep theirs.
    ports: tuple[int, ...] = ()
    # What stop() sends first (to the process group); SIGKILL follows after stop_timeout.
    stop_signal: signal.Signals = signal.SIGTERM

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir.parent / "logs" / f"{self.name}.log"


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if fields[0] == "Z":  # a zombie has exited already
        return None
    return fields[19]


def running_pid(spec: ProcessSpec) -> int | None:
    """The pid from the pid file if that very process (same pid and start time) still runs."""
    try:
        pid_text, ticks = spec.pid_file.read_text().split()
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):
        return None
    return pid if _start_ticks(pid) == ticks else None


def start(spec: ProcessSpec) -> int:
    """Start the process detached in its own session, unless it already runs; return its pid."""
    pid = running_pid(spec)
    if pid is not None:
        return pid
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    spec.log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env}
    with open(spec.log_file, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {' '.join(spec.argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(spec.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=spec.cwd,
                start_new_session=True,  # own process group: stop() reaches the children too
            )
        except FileNotFoundError as exc:
            raise RuntimeStartError(f"{spec.name}: cannot run {spec.argv[0]!r} ({exc}); run `make setup`") from exc
    spec.pid_file.write_text(f"{proc.pid} {_start_ticks(proc.pid)}")
    return proc.pid


def stop(spec: ProcessSpec) -> bool:
    """The spec's stop signal (SIGTERM unless set) to the process group, wait, then SIGKILL; True
    when something was stopped."""
    pid = running_pid(spec)
    if pid is None:
        spec.pid_file.unlink(missing_ok=True)
        return False
    _signal_group(pid, spec.stop_signal)
    if poll(lambda: running_pid(spec), lambda running: running != pid, timeout=spec.stop_timeout, interval=0.2) == pid:
        _signal_group(pid, signal.SIGKILL)
        time.sleep(0.5)
    # Children the leader left behind in its group (e.g. executor workers) go too.
    _signal_group(pid, signal.SIGKILL)
    spec.pid_file.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(spec: ProcessSpec, lines: int = 20) -> str:
    try:
        text = spec.log_file.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text[-lines:])


def wait_until(
    spec: ProcessSpec,
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
) -> None:
    """Poll ``check`` until it holds; fail early with the log tail if the process died."""

    def ready() -> bool:
        try:
            if check():
                return True
        except Exception:  # a failing probe just means "not yet"
            pass
        if running_pid(spec) is None:
            raise RuntimeStartError(
                f"{spec.name} exited while starting; last lines of {spec.log_file}:\n{log_tail(spec)}"
            )
        return False

    if not poll(ready, bool, timeout=timeout, interval=0.5):
        raise RuntimeStartError(
            f"{spec.name} did not become {what} within {timeout:.0f}s; see {spec.log_file}:\n{log_tail(spec)}"
        )
