"""The cluster tests' record: `make test-cluster` writes each test's outcome, duration and the facts
it measured (``record`` fixture) to bench/results/cluster_tests.json, which is committed: these tests
take longer than CI's budget leaves, so the latest run's result is kept beside the code it ran on."""

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
    if not _outcomes:
        return
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT
    ).stdout.strip()
    dirty = bool(
        subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=REPO_ROOT).stdout.strip()
    )
    result = {
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit + ("+changes" if dirty else ""),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "tests": {nodeid: {**entry, "facts": _facts.get(nodeid, {})} for nodeid, entry in _outcomes.items()},
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
