"""Process management against real child processes (no services involved)."""

import signal
import sys
import time

from retail_platform.runtime import process
from retail_platform.runtime.process import ProcessSpec


def _sleeper(tmp_path, name="sleeper"):
    code = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(60)"
    return ProcessSpec(name, [sys.executable, "-c", code], tmp_path / "run", stop_timeout=5)


def test_start_is_idempotent_and_stop_stops(tmp_path):
    spec = _sleeper(tmp_path)
    pid = process.start(spec)
    try:
        assert process.start(spec) == pid
        assert process.running_pid(spec) == pid
    finally:
        assert process.stop(spec)
    assert process.running_pid(spec) is None
    assert not spec.pid_file.exists()
    assert process.stop(spec) is False


def test_a_reused_pid_is_not_ours(tmp_path):
    spec = _sleeper(tmp_path)
    pid = process.start(spec)
    try:
        # Same pid, different start time: as if the pid had been reused by another program.
        spec.pid_file.write_text(f"{pid} 1")
        assert process.running_pid(spec) is None
    finally:
        spec.pid_file.write_text(f"{pid} {process._start_ticks(pid)}")
        process.stop(spec)


def test_wait_until_reports_an_early_exit_with_the_log(tmp_path):
    spec = ProcessSpec("crasher", [sys.executable, "-c", "print('boom: bad config'); raise SystemExit(3)"], tmp_path)
    process.start(spec)
    time.sleep(0.5)
    try:
        process.wait_until(spec, lambda: False, timeout=10, what="healthy")
    except process.RuntimeStartError as exc:
        assert "exited while starting" in str(exc) and "boom: bad config" in str(exc)
    else:
        raise AssertionError("wait_until should have failed")


def test_stop_sends_the_specs_own_signal(tmp_path):
    # A server whose clean shutdown is SIGINT (PostgreSQL's "fast" shutdown) and which ignores SIGTERM.
    started, done = tmp_path / "started", tmp_path / "clean-exit"
    code = (
        "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"signal.signal(signal.SIGINT, lambda *a: (pathlib.Path({str(done)!r}).write_text('1'), sys.exit(0))); "
        f"pathlib.Path({str(started)!r}).write_text('1'); time.sleep(60)"
    )
    spec = ProcessSpec("int-stopper", [sys.executable, "-c", code], tmp_path / "run", stop_timeout=20)
    spec.stop_signal = signal.SIGINT
    process.start(spec)
    process.wait_until(spec, started.exists, timeout=20, what="ready")
    assert process.stop(spec)
    assert done.read_text() == "1"
    assert process.running_pid(spec) is None
