"""The Airflow connections of the platform: their ids, their definitions from the settings, and the
reading of the Kafka connection's ``extra``.

Tasks reach a system only through a hook and one of these ids (hooks in ``plugins/retail_hooks.py``).
The local runtime exports each definition as ``AIRFLOW_CONN_<ID>`` (``retail_platform/runtime/airflow.py``);
docker-compose.yml writes the same three for its services. The formats are the official providers':
``clickhouse`` (apache-airflow-providers-clickhousedb: host, port, login, password, schema = database,
extra ``secure``/``client_kwargs``), ``spark`` (master URL as host) and ``kafka`` (extra: the client
configuration in librdkafka's names, as apache-airflow-providers-apache-kafka reads it:
``bootstrap.servers``, and with RETAIL_KAFKA_SECURITY_PROTOCOL=SSL ``security.protocol``,
``ssl.ca.location`` and ``ssl.endpoint.identification.algorithm``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retail_platform.settings import Settings

WAREHOUSE_CONN_ID = "clickhouse_default"
KAFKA_CONN_ID = "kafka_default"
SPARK_CONN_ID = "spark_default"

BOOTSTRAP_KEY = "bootstrap.servers"
PROTOCOL_KEY = "security.protocol"
CA_KEY = "ssl.ca.location"
HOSTNAME_KEY = "ssl.endpoint.identification.algorithm"


def env_name(conn_id: str) -> str:
    """The environment variable Airflow reads the connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def definitions(settings: Settings) -> dict[str, dict[str, Any]]:
    """conn_id -> the connection's JSON definition, derived from the platform settings."""
    s = settings
    warehouse: dict[str, Any] = {
        "conn_type": "clickhouse",
        "host": s.clickhouse_host,
        "port": s.clickhouse_port,
        "login": s.clickhouse_user,
        "password": s.clickhouse_password,
        "schema": s.clickhouse_database,
        # An unreachable warehouse fails in 10 s; statements keep clickhouse-connect's 300 s read
        # timeout, as the tasks had (the failure callback asks for less, see failures.py).
        "extra": {"connect_timeout": 10},
    }
    if s.clickhouse_url.startswith("https://"):
        # Verified against the platform's CA, as retail_platform.warehouse.client does; never verify=False.
        warehouse["extra"] |= {"secure": True, "client_kwargs": {"ca_cert": str(s.tls_dir / "ca.crt")}}
    kafka: dict[str, Any] = {BOOTSTRAP_KEY: s.kafka_bootstrap}
    if s.kafka_ssl:
        # As retail_platform.kafka_security has every other client do: verify the broker against the
        # platform's CA, host name included.
        kafka |= {PROTOCOL_KEY: "SSL", CA_KEY: str(s.tls_dir / "ca.crt"), HOSTNAME_KEY: "https"}
    return {
        WAREHOUSE_CONN_ID: warehouse,
        KAFKA_CONN_ID: {"conn_type": "kafka", "extra": kafka},
        SPARK_CONN_ID: {"conn_type": "spark", "host": s.spark_master},
    }


class BadConnection(ValueError):
    """A connection whose definition cannot be used; the message says what to fix."""


def kafka_bootstrap(extra: Any, conn_id: str = KAFKA_CONN_ID) -> str:
    """The ``bootstrap.servers`` of a Kafka connection's extra: "host:port[,host:port...]".

    Checked here rather than left to kafka-python, whose error for a malformed list names neither the
    connection nor the key."""
    fix = f"set {env_name(conn_id)}'s extra to {{{BOOTSTRAP_KEY!r}: 'host:port[,host:port]'}}"
    if not isinstance(extra, Mapping):
        raise BadConnection(f"connection {conn_id!r}: extra is not a JSON object; {fix}")
    servers = extra.get(BOOTSTRAP_KEY)
    if not isinstance(servers, str) or not servers.strip():
        raise BadConnection(f"connection {conn_id!r}: extra has no {BOOTSTRAP_KEY!r}; {fix}")
    entries = [entry.strip() for entry in servers.split(",")]
    for entry in entries:
        host, sep, port = entry.rpartition(":")
        if not sep or not host or any(c.isspace() for c in host) or not port.isdigit() or not 0 < int(port) < 65536:
            raise BadConnection(f"connection {conn_id!r}: {BOOTSTRAP_KEY} entry {entry!r} is not host:port; {fix}")
    return ",".join(entries)


def kafka_client_options(extra: Any, conn_id: str = KAFKA_CONN_ID) -> dict[str, Any]:
    """kafka-python keyword arguments (``bootstrap_servers`` and the security options) of a Kafka
    connection's extra; PLAINTEXT when ``security.protocol`` is absent."""
    options: dict[str, Any] = {"bootstrap_servers": kafka_bootstrap(extra, conn_id)}
    protocol = extra.get(PROTOCOL_KEY, "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return options
    fix = f"set {env_name(conn_id)}'s extra {PROTOCOL_KEY!r} to 'PLAINTEXT' or 'SSL' (with {CA_KEY!r})"
    if protocol != "SSL":
        raise BadConnection(f"connection {conn_id!r}: {PROTOCOL_KEY} {protocol!r} is not supported; {fix}")
    ca = extra.get(CA_KEY)
    if not isinstance(ca, str) or not ca.strip():
        raise BadConnection(f"connection {conn_id!r}: SSL needs {CA_KEY!r}, the CA file to verify the broker; {fix}")
    hostname = extra.get(HOSTNAME_KEY, "https")
    if hostname not in ("https", "none"):
        raise BadConnection(f"connection {conn_id!r}: {HOSTNAME_KEY} {hostname!r} is not 'https' or 'none'")
    return options | {"security_protocol": "SSL", "ssl_cafile": ca, "ssl_check_hostname": hostname == "https"}
