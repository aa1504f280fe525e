"""Every test process uses the test overlay of the settings: its own ports and state folder
(.state/test), so tests never touch a stack started with `make up`. The cluster tests
(``make test-cluster``, RETAIL_PROFILE=cluster) use the cluster profile's own ports and state instead."""

import os

import pytest

if os.environ.get("RETAIL_PROFILE") != "cluster":
    os.environ["RETAIL_SETTINGS"] = "test"


# A test's markers say which services it needs, so `-m "not spark"` and the like select honestly:
# a test whose fixtures (directly or through other fixtures) start a service must carry its marker.
SERVICE_FIXTURES = {
    "test_stack": "integration",
    "warehouse": "warehouse",
    "kafka": "kafka",
    "airflow": "airflow",
    "spark": "spark",
    "bi": "superset",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = []
    for item in items:
        needed = {SERVICE_FIXTURES[name] for name in getattr(item, "fixturenames", ()) if name in SERVICE_FIXTURES}
        marked = {mark.name for mark in item.iter_markers()}
        if needed - marked:
            missing.append(f"{item.nodeid}: add the marker(s) {', '.join(sorted(needed - marked))}")
    if missing:
        raise pytest.UsageError("tests using a service fixture without its marker:\n  " + "\n  ".join(missing))
