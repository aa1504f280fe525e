"""How the platform's Kafka clients and the local broker secure the connection, from the settings.

RETAIL_KAFKA_SECURITY_PROTOCOL=SSL turns the broker's client listener (RETAIL_KAFKA_BOOTSTRAP) into
an SSL listener with a PEM key store (ssl.keystore.type=PEM, Kafka 2.7+) whose certificate the
platform's local CA signs (retail_platform/tls.py, RETAIL_TLS_DIR), and makes every client verify the
broker against that CA (``ca.crt``), host name included. PLAINTEXT (the default) changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retail_platform.settings import Settings

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL")


def ca_file(settings: Settings) -> Path:
    return settings.tls_dir / "ca.crt"


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's producers, consumers and admin clients."""
    if not settings.kafka_ssl:
        return {}
    return {"security_protocol": "SSL", "ssl_cafile": str(ca_file(settings)), "ssl_check_hostname": True}


def spark_options(settings: Settings) -> dict[str, str]:
    """Options for Spark's Kafka source and sink (the ``kafka.`` prefix passes them to the client)."""
    if not settings.kafka_ssl:
        return {}
    return {
        "kafka.security.protocol": "SSL",
        "kafka.ssl.truststore.type": "PEM",
        "kafka.ssl.truststore.location": str(ca_file(settings)),
        "kafka.ssl.endpoint.identification.algorithm": "https",
    }


def broker_listener_properties(settings: Settings, keystore: Path, host: str, port: int, ctrl: int) -> list[str]:
    """One broker's listener lines (client listener ``host:port``, controller listener ``host:ctrl``):
    PLAINTEXT, or SSL with the PEM key store (key + chain in one file) and the CA as trust store (the
    brokers talk to each other over the same listener)."""
    name = "SSL" if settings.kafka_ssl else "PLAINTEXT"
    lines = [
        f"listeners={name}://{host}:{port},CONTROLLER://{host}:{ctrl}",
        f"advertised.listeners={name}://{host}:{port}",
        f"inter.broker.listener.name={name}",
        f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,{name}:{name}",
    ]
    if settings.kafka_ssl:
        lines += [
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={keystore}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={ca_file(settings)}",
            "ssl.endpoint.identification.algorithm=https",
            "ssl.client.auth=none",
        ]
    return lines
