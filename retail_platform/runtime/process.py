"""Managed background processes: a pid file and a log file per process under the state folder.

A process is only ever signalled when its pid file names it *and* its command line still carries
our marker, so a reused pid or a foreign program on the same port is never touched.
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

from retail_platform.runtime.errors import RuntimeStartError


@dataclass
class ProcessSpec:
    name: str
    argv: Sequence[str]
    run_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    stop_timeout: float = 30.0

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir.parent / "logs" / f"{self.name}.log"

    @property
    def marker(self) -> str:
        # Put into the environment of the child; /proc/<pid>/environ proves the pid is ours.
        return f"RETAIL_MANAGED={self.run_dir}/{self.name}"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _is_ours(pid: int, marker: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (FileNotFoundError, IndexError):
        return False
    return marker.encode() in environ.split(b"\0")


def running_pid(spec: ProcessSpec) -> int | None:
    pid = _read_pid(spec.pid_file)
    if pid is not None and _is_ours(pid, spec.marker):
        return pid
    return None


def start(spec: ProcessSpec) -> int:
    """Start the process detached in its own session, unless it already runs; return its pid."""
    pid = running_pid(spec)
    if pid is not None:
        return pid
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    spec.log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env}
    name, _, value = spec.marker.partition("=")
    env[name] = value
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
    spec.pid_file.write_text(str(proc.pid))
    return proc.pid


def stop(spec: ProcessSpec) -> bool:
    """SIGTERM the process group, wait, then SIGKILL; True when something was stopped."""
    pid = running_pid(spec)
    if pid is None:
        spec.pid_file.unlink(missing_ok=True)
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + spec.stop_timeout
    while time.monotonic() < deadline and _is_ours(pid, spec.marker):
        time.sleep(0.2)
    if _is_ours(pid, spec.marker):
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
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # a failing probe just means "not yet"
            pass
        if running_pid(spec) is None:
            raise RuntimeStartError(
                f"{spec.name} exited while starting; last lines of {spec.log_file}:\n{log_tail(spec)}"
            )
        if time.monotonic() > deadline:
            raise RuntimeStartError(
                f"{spec.name} did not become {what} within {timeout:.0f}s; see {spec.log_file}:\n{log_tail(spec)}"
            )
        time.sleep(0.5)
