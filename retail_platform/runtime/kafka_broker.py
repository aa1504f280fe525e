"""The local profile's Kafka: one Apache Kafka 4 broker in KRaft mode (broker + controller),
run from the jars `make setup` resolved, with the topic contract applied on start."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError

from retail_platform import tls
from retail_platform.kafka_security import broker_listener_properties, client_options
from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.runtime.process import ProcessSpec
from retail_platform.settings import Settings
from retail_platform.topics import ALL_TOPICS

LOG4J = """\
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


def kraft_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding, never starting with "-".

    The storage tool's argument parser reads an id starting with "-" as an option and stops with
    "expected one argument" (one id in 64 would); Kafka's own Uuid.randomUuid() redraws those too."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaBroker:
    name = "kafka"
    needs: tuple[str, ...] = ()

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.home = settings.state_dir / "kafka"
        self.data = self.home / "data"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def keystore(self) -> Path:
        """The SSL listener's PEM key store: private key and certificate chain in one file."""
        return self.s.tls_dir / "kafka-keystore.pem"

    def ports(self) -> list[int]:
        return [self.s.kafka_port, self.s.kafka_controller_port]

    def server_properties(self) -> str:
        host, ctrl = self.s.kafka_host, self.s.kafka_controller_port
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{host}:{ctrl}",
                *broker_listener_properties(self.s, self.keystore),
                "controller.listener.names=CONTROLLER",
                f"log.dirs={self.data}",
                # Single node: internal topics cannot have more replicas than brokers.
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "log.retention.hours=168",
                "",
            ]
        )

    def prepare(self) -> None:
        jars = self.s.kafka_jars
        if not any(jars.glob("kafka_2.13-*.jar")):
            raise RuntimeStartError(f"Kafka jars are missing in {jars}; run `make setup`")
        if shutil.which("java") is None:
            raise RuntimeStartError("Java is missing: install a JDK 17 or newer (Debian: openjdk-17-jdk-headless)")
        self.home.mkdir(parents=True, exist_ok=True)
        if self.s.kafka_ssl:
            _, crt, key = tls.ensure_local(self.s.tls_dir, "kafka", self.s.kafka_host)
            fd = os.open(self.keystore, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key.read_bytes() + crt.read_bytes())
        self.config_file.write_text(self.server_properties())
        (self.home / "log4j2.properties").write_text(LOG4J)
        meta = self.data / "meta.properties"
        if meta.exists():
            return
        if self.data.exists() and any(self.data.iterdir()):
            raise RuntimeStartError(
                f"Kafka's data folder {self.data} is half-written (files but no meta.properties); "
                "remove it or run `make reset`"
            )
        cluster_id = kraft_cluster_id()
        result = subprocess.run(
            [*self._java(), "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config_file)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeStartError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    def _java(self) -> list[str]:
        return [
            "java",
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{self.s.kafka_jars}/*",
        ]

    def processes(self, run_dir: Path) -> list[ProcessSpec]:
        return [ProcessSpec("kafka", [*self._java(), "kafka.Kafka", str(self.config_file)], run_dir)]

    def healthy(self) -> bool:
        admin = KafkaAdminClient(
            bootstrap_servers=self.s.kafka_bootstrap, request_timeout_ms=3000, **client_options(self.s)
        )
        try:
            admin.list_topics()
            return True
        finally:
            admin.close()

    def after_start(self) -> None:
        ensure_topics(self.s.kafka_bootstrap, **client_options(self.s))

    def describe(self) -> str:
        return f"Kafka broker on {self.s.kafka_bootstrap}"


def ensure_topics(bootstrap: str, **security: Any) -> None:
    """Create missing contract topics; grow partitions and fix retention on existing ones.
    ``security``: kafka_security.client_options (SSL with the CA), nothing for PLAINTEXT."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000, **security)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in ALL_TOPICS if t.name not in existing]
        if missing:
            try:
                admin.create_topics(
                    [NewTopic(t.name, t.partitions, 1, topic_configs=t.configs) for t in missing],
                    validate_only=False,
                )
            except TopicAlreadyExistsError:
                pass
        present = [t for t in ALL_TOPICS if t.name in existing]
        if present:
            described = {d["name"]: len(d["partitions"]) for d in admin.describe_topics([t.name for t in present])}
            grow = {t.name: NewPartitions(t.partitions) for t in present if described.get(t.name, 0) < t.partitions}
            if grow:
                admin.create_partitions(grow)
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t.name, configs=t.configs) for t in present])
    finally:
        admin.close()
