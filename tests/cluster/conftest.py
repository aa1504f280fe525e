"""The cluster tests' record: `make test-cluster` writes each test's outcome, duration, the facts it
measured (``record`` fixture) and the run (commit, time, load) to bench/results/cluster_tests.json,
which is committed: these tests take longer than CI's budget leaves, so each test's latest result is
kept beside the code it ran on."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from retail_platform.settings import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results" / "cluster_tests.json"
_facts: dict[str, dict[str, Any]] = {}
_outcomes: dict[str, dict[str, Any]] = {}


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Facts a test measured (messages, seconds to rejoin, ...), written with its outcome."""
    facts: dict[str, Any] = {}
    yield facts
    _facts[request.node.nodeid] = facts


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    entry = _outcomes.setdefault(item.nodeid, {"outcome": "passed", "seconds": 0.0})
    entry["seconds"] = round(entry["seconds"] + report.duration, 1)
    if report.failed:
        entry["outcome"] = "failed"
        entry["failure"] = str(report.longrepr)[-4000:]
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Each test run updates its own entry (with the commit and time of that run); the entries of tests
    not run this time are kept, so a partial run (``-k``) does not lose the others' latest result."""
    if not _outcomes:
        return
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT
    ).stdout.strip()
    dirty = bool(
        subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=REPO_ROOT).stdout.strip()
    )
    run = {
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit + ("+changes" if dirty else ""),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
    }
    previous = json.loads(RESULTS.read_text())["tests"] if RESULTS.exists() else {}
    tests = {
        **previous,
        **{nodeid: {**entry, "facts": _facts.get(nodeid, {}), "run": run} for nodeid, entry in _outcomes.items()},
    }
    RESULTS.write_text(json.dumps({"tests": tests}, indent=2) + "\n")
