"""The Superset service's configuration (no process is started here)."""

from __future__ import annotations

import dataclasses
from urllib.parse import unquote, urlparse

import pytest

from retail_platform.runtime import stack
from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.runtime.superset import Superset
from retail_platform.settings import load_settings


def test_database_uri_uses_the_read_only_account_and_quotes_it():
    s = load_settings({"RETAIL_CLICKHOUSE_BI_PASSWORD": "p@ss:w/rd#1 %", "RETAIL_CLICKHOUSE_BI_USER": "bi.user-1"})
    uri = urlparse(Superset(s).database_uri())
    assert uri.scheme == "clickhousedb"
    assert (unquote(uri.username), unquote(uri.password)) == ("bi.user-1", "p@ss:w/rd#1 %")
    assert (uri.hostname, uri.port, uri.path) == ("127.0.0.1", 8123, "/retail")


def test_gunicorn_runs_from_supersets_own_environment_on_the_settings_port(tmp_path):
    s = load_settings({"RETAIL_SETTINGS": "test", "RETAIL_STATE_DIR": str(tmp_path)})
    [spec] = Superset(s).processes(tmp_path / "run")
    assert spec.argv[0] == str(s.deps_dir / "superset-venv" / "bin" / "gunicorn")
    assert f"127.0.0.1:{s.superset_port}" in spec.argv and "--no-control-socket" in spec.argv
    assert spec.env["SUPERSET_CONFIG_PATH"] == str(tmp_path / "superset" / "superset_config.py")


def test_superset_needs_the_warehouse_and_starts_after_it():
    names = [svc.name for svc in stack.services(load_settings({}), ("superset",))]
    assert names == ["warehouse", "superset"]


def test_a_missing_superset_environment_says_to_run_setup(tmp_path):
    s = dataclasses.replace(load_settings({"RETAIL_STATE_DIR": str(tmp_path)}), deps_dir=tmp_path / "nodeps")
    with pytest.raises(RuntimeStartError, match="make setup"):
        Superset(s).prepare()


def test_the_provisioning_spec_is_written_for_superset_alone_with_its_bundle(tmp_path):
    import json
    import zipfile

    from retail_platform.bi import provisioning

    s = load_settings({"RETAIL_CLICKHOUSE_URL": "http://clickhouse:8123"})
    path = provisioning.write(s, tmp_path / "p", init=True)
    assert path.stat().st_mode & 0o777 == 0o600  # it holds passwords
    spec = json.loads(path.read_text())
    assert spec["init"] is True and spec["database_uri"] == provisioning.database_uri(s)
    assert urlparse(spec["database_uri"]).hostname == "clickhouse"
    assert any(n.endswith("dashboards/executive.yaml") for n in zipfile.ZipFile(spec["bundle"]).namelist())
    assert {"roles", "users", "rls", "admin"} <= set(spec)
