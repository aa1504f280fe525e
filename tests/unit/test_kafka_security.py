"""RETAIL_KAFKA_SECURITY_PROTOCOL: the broker's listener lines and every client's options agree."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_platform.kafka_security import broker_listener_properties, client_options, spark_options
from retail_platform.runtime import kafka_broker
from retail_platform.runtime.kafka_broker import KafkaBroker
from retail_platform.settings import SettingsError, load_settings


def test_plaintext_is_the_default_and_changes_nothing() -> None:
    s = load_settings({})
    assert not s.kafka_ssl and client_options(s) == {} and spark_options(s) == {}
    props = KafkaBroker(s).server_properties()
    assert "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093" in props
    assert "ssl." not in props


def test_ssl_listener_uses_the_pem_keystore_and_the_ca(tmp_path: Path) -> None:
    s = load_settings({"RETAIL_KAFKA_SECURITY_PROTOCOL": "SSL", "RETAIL_TLS_DIR": str(tmp_path)})
    props = KafkaBroker(s).server_properties().splitlines()
    assert "listeners=SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093" in props
    assert "inter.broker.listener.name=SSL" in props
    assert "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SSL:SSL" in props
    assert "ssl.keystore.type=PEM" in props and f"ssl.keystore.location={tmp_path}/kafka-keystore.pem" in props
    assert f"ssl.truststore.location={tmp_path}/ca.crt" in props
    assert client_options(s) == {
        "security_protocol": "SSL",
        "ssl_cafile": f"{tmp_path}/ca.crt",
        "ssl_check_hostname": True,
    }
    assert spark_options(s)["kafka.ssl.truststore.location"] == f"{tmp_path}/ca.crt"
    assert spark_options(s)["kafka.security.protocol"] == "SSL"


@given(st.text(max_size=12))
def test_only_known_protocols_are_accepted(value: str) -> None:
    try:
        s = load_settings({"RETAIL_KAFKA_SECURITY_PROTOCOL": value})
    except SettingsError as exc:
        assert "RETAIL_KAFKA_SECURITY_PROTOCOL" in str(exc) and "PLAINTEXT or SSL" in str(exc)
        return
    assert value in ("PLAINTEXT", "SSL") and s.kafka_security_protocol == value


@pytest.mark.parametrize("value", ["ssl", "SASL_SSL", " SSL", "TLS"])
def test_hostile_protocol_values(value: str) -> None:
    with pytest.raises(SettingsError, match="expected PLAINTEXT or SSL"):
        load_settings({"RETAIL_KAFKA_SECURITY_PROTOCOL": value})


def test_broker_lines_for_both_modes_name_one_listener() -> None:
    for protocol in ("PLAINTEXT", "SSL"):
        lines = broker_listener_properties(
            load_settings({"RETAIL_KAFKA_SECURITY_PROTOCOL": protocol}), Path("/k"), "127.0.0.1", 9092, 9093
        )
        assert sum(line.startswith("listeners=") for line in lines) == 1


def test_kraft_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xF8 encodes to "-" first in base64url: the storage tool would read such an id as an option.
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(kafka_broker.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka_broker.kraft_cluster_id()
    assert cluster_id == "AQEBAQEBAQEBAQEBAQEBAQ"
    assert len(cluster_id) == 22
