"""HTTPS is chosen by the URL settings: certificate paths follow RETAIL_TLS_DIR, and a missing file
stops the endpoint with a message saying what to do."""

from __future__ import annotations

import pytest

from retail_platform import tls
from retail_platform.settings import load_settings
from retail_platform.warehouse.endpoint.config import ConfigError, EndpointConfig


def test_an_https_warehouse_url_serves_tls_from_the_tls_folder(tmp_path):
    settings = load_settings({"RETAIL_CLICKHOUSE_URL": "https://127.0.0.1:8443", "RETAIL_TLS_DIR": str(tmp_path)})
    config = EndpointConfig.from_settings(settings)
    assert (config.tls_cert, config.tls_key) == (tmp_path / "warehouse.crt", tmp_path / "warehouse.key")
    assert config.url == "https://127.0.0.1:8443"
    with pytest.raises(ConfigError, match="warehouse.crt is missing"):
        config.validate()
    tls.ensure_local(tmp_path, "warehouse", "127.0.0.1")
    config.validate()


def test_a_plain_url_serves_plain_http():
    config = EndpointConfig.from_settings(load_settings({}))
    assert config.tls_cert is None and config.url.startswith("http://")


def test_https_api_url_is_recognised():
    settings = load_settings({"RETAIL_API_URL": "https://api.example:9443"})
    assert settings.api_tls and settings.api_port == 9443 and settings.api_host == "api.example"


def test_the_api_service_prepares_its_secret_and_certificate(tmp_path):
    from retail_platform.runtime.api import InventoryApi

    env = {"RETAIL_STATE_DIR": str(tmp_path), "RETAIL_API_URL": "https://127.0.0.1:9443"}
    InventoryApi(load_settings({**env, "RETAIL_TLS_DIR": str(tmp_path / "tls")})).prepare()
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == ["api.crt", "api.key", "ca.crt", "ca.key"]
    assert (tmp_path / "api" / "token-secret").stat().st_mode & 0o777 == 0o600


def test_an_https_airflow_url_serves_the_ui_and_apis_with_the_local_ca(tmp_path):
    """Airflow's api-server reads [api] ssl_cert/ssl_key; the task processes' execution-API client
    verifies with [api] ssl_ca_file and no public CAs. A plain URL sets none of them."""
    from retail_platform.runtime.airflow import Airflow

    env = {"RETAIL_STATE_DIR": str(tmp_path), "RETAIL_TLS_DIR": str(tmp_path / "tls")}
    secure = load_settings({**env, "RETAIL_AIRFLOW_URL": "https://127.0.0.1:9080"})
    assert secure.airflow_tls and secure.airflow_port == 9080
    assert load_settings({**env, "RETAIL_AIRFLOW_URL": "https://airflow.example"}).airflow_port == 443
    airflow = Airflow(secure).environment()
    assert airflow["AIRFLOW__API__SSL_CERT"] == str(tmp_path / "tls" / "airflow.crt")
    assert airflow["AIRFLOW__API__SSL_KEY"] == str(tmp_path / "tls" / "airflow.key")
    assert airflow["AIRFLOW__API__SSL_CA_FILE"] == str(tmp_path / "tls" / "ca.crt")
    assert airflow["AIRFLOW__API__CLIENT_USE_PUBLIC_CERTS"] == "False"
    assert airflow["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "https://127.0.0.1:9080/execution/"
    plain = Airflow(load_settings({**env, "RETAIL_AIRFLOW_URL": "http://127.0.0.1:9080"})).environment()
    assert not [name for name in plain if name.startswith("AIRFLOW__API__SSL")]
    # The context every client of the platform's services verifies with trusts the local CA only.
    tls.ensure_local(tmp_path / "tls", "airflow", "127.0.0.1")
    context = tls.client_context(tmp_path / "tls")
    assert context.verify_mode.name == "CERT_REQUIRED" and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "Retail platform local CA"),),)]
