"""Every DAG imports, reads no configuration at import time, has an owner, tags, retries and
timeouts, and its structure matches the reviewed snapshot (regenerate with
`python -m tests.unit.test_dag_integrity` after an intended change)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from retail_platform.settings import REPO_ROOT

SNAPSHOT = Path(__file__).parent / "snapshots" / "dag_structure.json"


def load_structure(airflow_home: Path) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO_ROOT),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # As the runtime sets it: Airflow puts this folder on sys.path, which is how DAGs import it.
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        # Poisoned configuration: reading platform settings at import time raises.
        "RETAIL_PROFILE": "not-a-profile",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.unit.dag_structure", str(REPO_ROOT / "dags")],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout[result.stdout.index("{") :])


@pytest.fixture(scope="module")
def structure(tmp_path_factory) -> dict:
    return load_structure(tmp_path_factory.mktemp("airflow_home"))


def test_every_dag_imports_without_reading_configuration(structure):
    assert structure["import_errors"] == {}
    dag_files = {p.name for p in (REPO_ROOT / "dags").glob("*.py") if not p.name.startswith("_")}
    assert {d["file"] for d in structure["dags"].values()} == dag_files


def test_every_dag_has_owner_tags_retries_and_timeouts(structure):
    for dag_id, dag in structure["dags"].items():
        assert dag["owner"] not in ("", "airflow"), f"{dag_id} needs an owner"
        assert dag["tags"], f"{dag_id} needs tags"
        for task_id, task in dag["tasks"].items():
            assert task["retries"] >= 1, f"{dag_id}.{task_id} needs retries"
            assert task["execution_timeout_s"], f"{dag_id}.{task_id} needs an execution_timeout"


def test_structure_matches_snapshot(structure):
    assert structure["dags"] == json.loads(SNAPSHOT.read_text())


# What a DAG file must not reach for itself: clients built from settings (tasks use the hooks and
# connection ids of plugins/retail_hooks.py) and asset URIs or application paths (plugins/retail_assets.py).
FORBIDDEN_IMPORTS = {"retail_platform.warehouse.client", "kafka", "kafka.admin", "clickhouse_connect"}


def test_dags_reach_systems_through_hooks_and_declare_no_asset_or_application():
    for path in sorted((REPO_ROOT / "dags").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module not in FORBIDDEN_IMPORTS, f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not {a.name for a in node.names} & FORBIDDEN_IMPORTS, f"{path.name}: {ast.unparse(node)}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("Asset", "Path"), f"{path.name}:{node.lineno} {ast.unparse(node)}"
            if isinstance(node, ast.keyword) and node.arg == "conn_id":
                raise AssertionError(f"{path.name}:{node.value.lineno} names a connection id; the hooks own them")


def test_asset_uris_are_distinct():
    from airflow.sdk import Asset

    import retail_assets

    assets = [v for v in vars(retail_assets).values() if isinstance(v, Asset)]
    assert len({a.uri for a in assets}) == len(assets) >= 10


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        SNAPSHOT.write_text(json.dumps(load_structure(Path(home))["dags"], indent=2, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}")
