"""Kafka's SSL listener option: a broker started with RETAIL_KAFKA_SECURITY_PROTOCOL=SSL serves its
client listener with a certificate of the platform's local CA. A client that verifies with that CA
works (the platform's own options: kafka_security.client_options); a client trusting another CA and
a plaintext client on the SSL port are refused. Its own small broker on free ports (the shared test
broker stays PLAINTEXT), so the module costs one broker start."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from retail_platform import tls
from retail_platform.kafka_security import client_options
from retail_platform.runtime import stack
from retail_platform.settings import Settings, load_settings
from retail_platform.topics import ALL_TOPICS

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

# Short bounds for the refused clients: they must fail, not wait for kafka-python's defaults.
FAIL_FAST = {"request_timeout_ms": 4000, "api_version_auto_timeout_ms": 4000, "reconnect_backoff_max_ms": 500}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ssl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    state = tmp_path_factory.mktemp("kafka-ssl")
    settings = load_settings(
        {
            "RETAIL_SETTINGS": "test",
            "RETAIL_STATE_DIR": str(state),
            "RETAIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{_free_port()}",
            "RETAIL_KAFKA_CONTROLLER_PORT": str(_free_port()),
            "RETAIL_KAFKA_SECURITY_PROTOCOL": "SSL",
        }
    )
    try:
        stack.up(settings, ("kafka",), log=lambda _: None)  # its health check and topic set-up use SSL
        yield settings
    finally:
        stack.down(settings, ("kafka",), log=lambda _: None)


def test_client_verifying_with_the_platform_ca_produces_and_consumes(ssl_kafka: Settings) -> None:
    options = client_options(ssl_kafka)
    assert options["security_protocol"] == "SSL" and options["ssl_cafile"].endswith("ca.crt")
    topic = ALL_TOPICS[0].name
    payload = uuid.uuid4().hex.encode()
    producer = KafkaProducer(bootstrap_servers=ssl_kafka.kafka_bootstrap, acks="all", **options)
    try:
        metadata = producer.send(topic, payload, partition=0).get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=ssl_kafka.kafka_bootstrap, enable_auto_commit=False, **options)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, metadata.offset)
        records = consumer.poll(timeout_ms=15000, max_records=1)
    finally:
        consumer.close()
    assert [r.value for r in records.get(partition, [])] == [payload]


def test_client_trusting_another_ca_is_refused(ssl_kafka: Settings, tmp_path: Path) -> None:
    other_ca, _ = tls.make_ca(tmp_path / "other", name="Some other CA")
    with pytest.raises(KafkaError):
        admin = KafkaAdminClient(
            bootstrap_servers=ssl_kafka.kafka_bootstrap, security_protocol="SSL", ssl_cafile=str(other_ca), **FAIL_FAST
        )
        admin.list_topics()


def test_plaintext_client_on_the_ssl_port_is_refused(ssl_kafka: Settings) -> None:
    with pytest.raises(KafkaError):
        admin = KafkaAdminClient(bootstrap_servers=ssl_kafka.kafka_bootstrap, **FAIL_FAST)
        admin.list_topics()
