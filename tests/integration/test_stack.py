"""The local runtime: topics per contract, idempotent up, data kept across down/up, and specific
errors for a busy port, a half-written state folder and a missing Java."""

from __future__ import annotations

import json
import socket

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from retail_platform import lake
from retail_platform.runtime import process, stack
from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.runtime.kafka_broker import KafkaBroker
from retail_platform.settings import load_settings
from retail_platform.topics import ALL_TOPICS

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def test_topics_match_the_contract(kafka):
    admin = KafkaAdminClient(bootstrap_servers=kafka.kafka_bootstrap)
    try:
        described = {d["name"]: len(d["partitions"]) for d in admin.describe_topics([t.name for t in ALL_TOPICS])}
        assert described == {t.name: t.partitions for t in ALL_TOPICS}
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t.name) for t in ALL_TOPICS])
        retention = {name: int(entries["retention.ms"]["value"]) for name, entries in configs["topic"].items()}
        assert retention == {t.name: t.retention_ms for t in ALL_TOPICS}
    finally:
        admin.close()


def test_lake_layout_exists(kafka):
    root = kafka.lake_path
    for zone in lake.ZONES:
        assert (root / zone).is_dir(), zone


def test_up_twice_is_harmless(kafka):
    specs = KafkaBroker(kafka).processes(stack.run_dir(kafka))
    before = [process.running_pid(s) for s in specs]
    stack.up(kafka, ("kafka",), log=lambda _: None)
    assert [process.running_pid(s) for s in specs] == before
    assert None not in before


def test_down_keeps_the_data(kafka):
    # A topic of its own: the contract topics carry only contract messages, which other tests read.
    topic = "retail-test-restart"
    admin = KafkaAdminClient(bootstrap_servers=kafka.kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    marker = f"kept-{id(kafka)}"
    producer = KafkaProducer(bootstrap_servers=kafka.kafka_bootstrap, acks="all")
    for i in range(50):
        producer.send(topic, key=b"k", value=json.dumps({"marker": marker, "i": i}).encode())
    producer.flush()
    producer.close()

    stack.down(kafka, ("kafka",), log=lambda _: None)
    assert not process.port_open(kafka.kafka_host, kafka.kafka_port)
    stack.up(kafka, ("kafka",), log=lambda _: None)

    consumer = KafkaConsumer(bootstrap_servers=kafka.kafka_bootstrap, consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    seen = {json.loads(r.value)["i"] for r in consumer if json.loads(r.value).get("marker") == marker}
    consumer.close()
    assert seen == set(range(50))


def _isolated(tmp_path, **overrides):
    env = {"RETAIL_STATE_DIR": str(tmp_path / "state"), **overrides}
    return load_settings(env)


def test_a_busy_port_is_named(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        settings = _isolated(tmp_path, RETAIL_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}")
        with pytest.raises(RuntimeStartError, match=f"port {port} needed by kafka is in use by another program"):
            stack.up(settings, ("kafka",))


def test_a_foreign_state_folder_is_refused(tmp_path):
    settings = _isolated(tmp_path)
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / "something").write_text("not ours")
    with pytest.raises(RuntimeStartError, match="half-written"):
        stack.up(settings, ("kafka",))


def test_half_written_kafka_storage_is_refused(tmp_path):
    settings = _isolated(tmp_path)
    broker = KafkaBroker(settings)
    broker.data.mkdir(parents=True)
    (broker.data / "__cluster_metadata-0").mkdir()
    with pytest.raises(RuntimeStartError, match="half-written"):
        broker.prepare()


def test_missing_java_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeStartError, match="Java is missing"):
        KafkaBroker(_isolated(tmp_path)).prepare()
