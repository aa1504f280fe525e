"""Running the endpoint: in this process until SIGTERM/SIGINT, or as a child process of a manager."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

from retail_platform.settings import REPO_ROOT, SettingsError
from retail_platform.warehouse.endpoint.config import ConfigError, EndpointConfig
from retail_platform.warehouse.endpoint.engine import DataDirLocked, EngineStartError
from retail_platform.warehouse.endpoint.server import Endpoint, PortBusy

READY_PREFIX = "warehouse endpoint ready on "

# Exit statuses, so a process manager can tell the failures apart without parsing messages.
EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_PORT_BUSY = 3
EXIT_DATA_DIR_LOCKED = 4
EXIT_ENGINE = 5


def run(config: EndpointConfig, announce: Callable[[str], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, then finish in-flight requests and stop; returns the exit status.

    Installs signal handlers, so it runs in the main thread (the CLI); elsewhere use ``Endpoint``.
    """
    say = announce or (lambda line: print(line, flush=True))
    try:
        endpoint = Endpoint(config)
    except (ConfigError, SettingsError) as exc:
        print(f"warehouse endpoint: configuration error: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    except PortBusy as exc:
        print(f"warehouse endpoint: {exc}", file=sys.stderr, flush=True)
        return EXIT_PORT_BUSY
    except DataDirLocked as exc:
        print(f"warehouse endpoint: {exc}", file=sys.stderr, flush=True)
        return EXIT_DATA_DIR_LOCKED
    except EngineStartError as exc:
        print(f"warehouse endpoint: {exc}", file=sys.stderr, flush=True)
        return EXIT_ENGINE

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        endpoint.start()
        say(
            f"{READY_PREFIX}{endpoint.url} (data {config.data_dir}, pool {config.pool_size}, "
            f"engine {endpoint.engine.version}, pid {os.getpid()})"
        )
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        endpoint.stop()
    return EXIT_OK


def command_line(config: EndpointConfig, *, python: str | None = None) -> list[str]:
    """The argv that runs ``config`` in a child process (the passwords travel in the environment)."""
    argv = [python or sys.executable, "-m", "retail_platform.warehouse.endpoint"]
    argv += ["--host", config.host, "--port", str(config.port), "--data-dir", str(config.data_dir)]
    argv += ["--user", config.user, "--bi-user", config.bi_user, "--pool-size", str(config.pool_size)]
    if config.listen_any:
        argv.append("--listen-any")
    return argv


class EndpointProcess:
    """A child process running the endpoint; ``url`` is known once it printed its ready line."""

    def __init__(self, popen: subprocess.Popen[str], url: str) -> None:
        self.popen = popen
        self.url = url

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 90.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()


class EndpointStartError(RuntimeError):
    def __init__(self, message: str, returncode: int | None) -> None:
        super().__init__(message)
        self.returncode = returncode


def spawn(
    config: EndpointConfig,
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 60.0,
) -> EndpointProcess:
    """Start the endpoint as a child process and wait for its ready line (or its failure).

    The child's output is read for its whole life (a full pipe would block it); stderr goes to
    ``log_path`` when given, and its last lines explain a failed start.
    """
    child_env = dict(env if env is not None else os.environ)
    child_env["RETAIL_CLICKHOUSE_PASSWORD"] = config.password
    child_env["RETAIL_CLICKHOUSE_BI_PASSWORD"] = config.bi_password
    child_env.pop("RETAIL_CLICKHOUSE_BI_PASSWORD_FILE", None)  # the password above is the one to use
    popen = subprocess.Popen(
        command_line(config),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env,
        cwd=REPO_ROOT,
        text=True,
    )
    ready: list[str] = []
    seen_ready = threading.Event()
    tail: collections.deque[str] = collections.deque(maxlen=50)

    def read_stdout() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            if not seen_ready.is_set() and line.startswith(READY_PREFIX):
                ready.append(line)
                seen_ready.set()
        seen_ready.set()

    def read_stderr() -> None:
        assert popen.stderr is not None
        log = open(log_path, "a") if log_path else None
        try:
            for line in popen.stderr:
                tail.append(line)
                if log:
                    log.write(line)
                    log.flush()
        finally:
            if log:
                log.close()

    threading.Thread(target=read_stdout, daemon=True).start()
    stderr_reader = threading.Thread(target=read_stderr, daemon=True)
    stderr_reader.start()
    if not seen_ready.wait(ready_timeout):
        popen.kill()
        popen.wait()
        raise EndpointStartError(f"warehouse endpoint not ready after {ready_timeout:g}s", None)
    if not ready:
        code = popen.wait()
        stderr_reader.join(5)
        raise EndpointStartError(f"warehouse endpoint exited with status {code}: {''.join(tail).strip()}", code)
    return EndpointProcess(popen, ready[0][len(READY_PREFIX) :].split()[0])
