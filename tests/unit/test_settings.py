from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_platform.settings import DEFAULTS, REPO_ROOT, SettingsError, load_settings, setting_names


def test_local_defaults():
    s = load_settings({})
    assert s.profile == "local"
    assert s.state_dir == REPO_ROOT / ".state"
    assert s.clickhouse_port == 8123 and s.clickhouse_host == "127.0.0.1"
    assert (s.kafka_host, s.kafka_port) == ("127.0.0.1", 9092)
    assert s.lake_path == REPO_ROOT / ".state" / "lake"
    assert s.clickhouse_data_dir == REPO_ROOT / ".state" / "warehouse"


def test_test_overlay_moves_ports_and_state():
    s = load_settings({"RETAIL_SETTINGS": "test"})
    assert s.state_dir == REPO_ROOT / ".state" / "test"
    assert s.clickhouse_data_dir == REPO_ROOT / ".state" / "test" / "warehouse"
    assert {s.kafka_port, s.clickhouse_port, s.airflow_port}.isdisjoint({9092, 8123, 8080})


def test_environment_overrides_overlay_and_derived_paths_follow_state():
    s = load_settings({"RETAIL_SETTINGS": "test", "RETAIL_STATE_DIR": "/tmp/x", "RETAIL_CLICKHOUSE_URL": "http://h:1"})
    assert s.state_dir == Path("/tmp/x")
    assert s.lake_uri == "file:///tmp/x/lake"
    assert (s.clickhouse_host, s.clickhouse_port) == ("h", 1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RETAIL_PROFILE": "prod"}, "RETAIL_PROFILE"),
        ({"RETAIL_KAFKA_BOOTSTRAP": "localhost"}, "host:port"),
        ({"RETAIL_CLICKHOUSE_URL": "clickhouse:8123"}, "RETAIL_CLICKHOUSE_URL"),
        ({"RETAIL_CLICKHOUSE_POOL_SIZE": "four"}, "RETAIL_CLICKHOUSE_POOL_SIZE"),
        ({"RETAIL_CLICKHOUSE_USER": ""}, "RETAIL_CLICKHOUSE_USER"),
        ({"RETAIL_LAKE_URI": "/data/lake"}, "RETAIL_LAKE_URI"),
        ({"RETAIL_LAKE_URI": "s3a://lake"}, "RETAIL_S3_ENDPOINT"),
        ({"RETAIL_SETTINGS": "prod"}, "RETAIL_SETTINGS"),
        ({"RETAIL_API_STOCK_MAX_AGE_MS": "-1"}, "RETAIL_API_STOCK_MAX_AGE_MS=-1 is out of range"),
        ({"RETAIL_API_STOCK_MAX_AGE_MS": "60001"}, "RETAIL_API_STOCK_MAX_AGE_MS=60001 is out of range"),
        ({"RETAIL_API_STOCK_MAX_AGE_MS": "1s"}, "RETAIL_API_STOCK_MAX_AGE_MS"),
        ({"RETAIL_API_WORKERS": "0"}, "RETAIL_API_WORKERS=0 is out of range"),
        ({"RETAIL_API_WORKERS": "two"}, "RETAIL_API_WORKERS"),
    ],
)
def test_bad_configuration_names_the_setting(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


@given(st.text(max_size=12))
def test_api_stock_max_age_is_a_bounded_integer_or_a_named_error(raw):
    try:
        value = load_settings({"RETAIL_API_STOCK_MAX_AGE_MS": raw}).api_stock_max_age_ms
    except SettingsError as exc:
        assert "RETAIL_API_STOCK_MAX_AGE_MS" in str(exc)
    else:
        assert value == int(raw) and 0 <= value <= 60_000


def test_unrelated_environment_is_ignored():
    assert load_settings({"HOME": "/nowhere"}).source == load_settings({}).source


def test_setting_names_cover_defaults():
    assert set(DEFAULTS) < set(setting_names())


def test_superset_settings_and_overlay():
    s = load_settings({})
    assert (s.superset_host, s.superset_port) == ("127.0.0.1", 8088)
    t = load_settings({"RETAIL_SETTINGS": "test"})
    assert t.superset_port != 8088
    with pytest.raises(SettingsError, match="RETAIL_SUPERSET_URL"):
        load_settings({"RETAIL_SUPERSET_URL": "superset:8088"})
    with pytest.raises(SettingsError, match="RETAIL_SUPERSET_PASSWORD"):
        load_settings({"RETAIL_SUPERSET_PASSWORD": ""})


@given(st.text(max_size=8))
def test_api_workers_is_a_bounded_integer_or_a_named_error(raw):
    try:
        value = load_settings({"RETAIL_API_WORKERS": raw}).api_workers
    except SettingsError as exc:
        assert "RETAIL_API_WORKERS" in str(exc)
    else:
        assert value == int(raw) and 1 <= value <= 64
