"""The stack's Kafka: Apache Kafka 4 brokers in KRaft mode (each broker + controller), one on the
local profile and three on the cluster profile, run from the jars `make setup` resolved, with the
topic contract (partitions, replicas, configs) applied on start."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
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


@dataclass(frozen=True)
class KafkaNode:
    """One KRaft node (broker and controller) `up` runs: a broker of RETAIL_KAFKA_BOOTSTRAP."""

    node_id: int
    host: str
    port: int
    controller_port: int
    home: Path

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"


class KafkaBroker:
    """Every broker of RETAIL_KAFKA_BOOTSTRAP, each a combined KRaft broker and controller: one on the
    local profile, three on the cluster profile (node i's controller listens on
    RETAIL_KAFKA_CONTROLLER_PORT + i; all nodes are the controller quorum)."""

    name = "kafka"
    needs: tuple[str, ...] = ()

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.home = settings.state_dir / "kafka"
        hosts = settings.kafka_nodes
        # One node keeps the folder it always had; several get a folder each.
        self.nodes = [
            KafkaNode(
                node_id=i + 1,
                host=host,
                port=port,
                controller_port=settings.kafka_controller_port + i,
                home=self.home if len(hosts) == 1 else self.home / f"node-{i + 1}",
            )
            for i, (host, port) in enumerate(hosts)
        ]
        self.data = self.nodes[0].data

    @property
    def config_file(self) -> Path:
        return self.nodes[0].config_file

    @property
    def keystore(self) -> Path:
        """The SSL listener's PEM key store: private key and certificate chain in one file."""
        return self.s.tls_dir / "kafka-keystore.pem"

    def ports(self) -> list[int]:
        return [p for node in self.nodes for p in (node.port, node.controller_port)]

    def server_properties(self, node: KafkaNode | None = None) -> str:
        node = node or self.nodes[0]
        voters = ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.nodes)
        # Internal topics cannot have more replicas than there are brokers.
        internal = len(self.nodes)
        internal_isr = min(self.s.kafka_min_insync_replicas, internal)
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={node.node_id}",
                f"controller.quorum.voters={voters}",
                *broker_listener_properties(self.s, self.keystore, node.host, node.port, node.controller_port),
                "controller.listener.names=CONTROLLER",
                f"log.dirs={node.data}",
                f"offsets.topic.replication.factor={internal}",
                f"transaction.state.log.replication.factor={internal}",
                f"transaction.state.log.min.isr={internal_isr}",
                f"share.coordinator.state.topic.replication.factor={internal}",
                f"share.coordinator.state.topic.min.isr={internal_isr}",
                f"default.replication.factor={min(self.s.kafka_replication_factor, internal)}",
                f"min.insync.replicas={min(self.s.kafka_min_insync_replicas, internal)}",
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
        if len(self.nodes) < self.s.kafka_replication_factor:
            raise RuntimeStartError(
                f"RETAIL_KAFKA_REPLICATION_FACTOR={self.s.kafka_replication_factor} needs as many brokers, but "
                f"RETAIL_KAFKA_BOOTSTRAP lists {len(self.nodes)}; list more brokers or lower the factor"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        if self.s.kafka_ssl:
            _, crt, key = tls.ensure_local(self.s.tls_dir, "kafka", self.s.kafka_host)
            fd = os.open(self.keystore, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key.read_bytes() + crt.read_bytes())
        (self.home / "log4j2.properties").write_text(LOG4J)
        # Every node of one cluster is formatted with the same id (a node added later joins it).
        cluster_id = self._formatted_cluster_id() or kraft_cluster_id()
        for node in self.nodes:
            node.home.mkdir(parents=True, exist_ok=True)
            node.config_file.write_text(self.server_properties(node))
            self._format(node, cluster_id)

    def _formatted_cluster_id(self) -> str | None:
        for node in self.nodes:
            meta = node.data / "meta.properties"
            if meta.exists():
                for line in meta.read_text().splitlines():
                    if line.startswith("cluster.id="):
                        return line.split("=", 1)[1].strip()
        return None

    def _format(self, node: KafkaNode, cluster_id: str) -> None:
        if (node.data / "meta.properties").exists():
            return
        if node.data.exists() and any(node.data.iterdir()):
            raise RuntimeStartError(
                f"Kafka's data folder {node.data} is half-written (files but no meta.properties); "
                "remove it or run `make reset`"
            )
        result = subprocess.run(
            [*self._java(), "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(node.config_file)],
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
        return [
            ProcessSpec(
                "kafka" if len(self.nodes) == 1 else f"kafka-{node.node_id}",
                [*self._java(), "kafka.Kafka", str(node.config_file)],
                run_dir,
                ports=(node.port, node.controller_port),
            )
            for node in self.nodes
        ]

    def healthy(self) -> bool:
        """Every broker `up` runs has registered with the cluster."""
        admin = KafkaAdminClient(
            bootstrap_servers=self.s.kafka_bootstrap, request_timeout_ms=3000, **client_options(self.s)
        )
        try:
            brokers = admin.describe_cluster().get("brokers", [])
            return len(brokers) >= len(self.nodes)
        finally:
            admin.close()

    def after_start(self) -> None:
        ensure_topics(
            self.s.kafka_bootstrap,
            replication=self.s.kafka_replication_factor,
            min_insync=self.s.kafka_min_insync_replicas,
            **client_options(self.s),
        )

    def describe(self) -> str:
        if len(self.nodes) == 1:
            return f"Kafka broker on {self.s.kafka_bootstrap}"
        return (
            f"Kafka cluster of {len(self.nodes)} brokers on {self.s.kafka_bootstrap} (topics: "
            f"{self.s.kafka_replication_factor} replicas, min in-sync {self.s.kafka_min_insync_replicas})"
        )


def ensure_topics(bootstrap: str, replication: int = 1, min_insync: int = 1, **security: Any) -> None:
    """Create missing contract topics with ``replication`` replicas and ``min_insync`` in-sync replicas
    for a write (producers send with acks=all); grow partitions and fix configs on existing ones.
    ``security``: kafka_security.client_options (SSL with the CA), nothing for PLAINTEXT.

    Refuses, naming the setting, a cluster with fewer brokers than ``replication`` and an existing topic
    with fewer replicas than ``replication`` (Kafka cannot add replicas through a config change: the
    topic must be reassigned or recreated)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000, **security)
    try:
        brokers = len(admin.describe_cluster().get("brokers", []))
        if brokers < replication:
            raise RuntimeStartError(
                f"Kafka at {bootstrap} has {brokers} broker(s) but RETAIL_KAFKA_REPLICATION_FACTOR={replication}; "
                "start more brokers or lower the factor"
            )
        configs = {t.name: {**t.configs, "min.insync.replicas": str(min_insync)} for t in ALL_TOPICS}
        existing = set(admin.list_topics())
        missing = [t for t in ALL_TOPICS if t.name not in existing]
        if missing:
            try:
                admin.create_topics(
                    [NewTopic(t.name, t.partitions, replication, topic_configs=configs[t.name]) for t in missing],
                    validate_only=False,
                )
            except TopicAlreadyExistsError:
                pass
        present = [t for t in ALL_TOPICS if t.name in existing]
        if present:
            described = {d["name"]: d["partitions"] for d in admin.describe_topics([t.name for t in present])}
            for name, partitions in described.items():
                fewest = min((len(p["replica_nodes"]) for p in partitions), default=replication)
                if fewest < replication:
                    raise RuntimeStartError(
                        f"Kafka topic {name} has {fewest} replica(s) per partition but "
                        f"RETAIL_KAFKA_REPLICATION_FACTOR={replication}; reassign its partitions or delete it "
                        "(its events are lost) and run `up` again, or lower the factor"
                    )
            grow = {
                t.name: NewPartitions(t.partitions) for t in present if len(described.get(t.name, [])) < t.partitions
            }
            if grow:
                admin.create_partitions(grow)
            admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, t.name, configs=configs[t.name]) for t in present]
            )
    finally:
        admin.close()
