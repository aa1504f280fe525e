"""The hooks of the platform's tasks: every task reaches a system through one of these and a
connection id (ids and formats: ``retail_platform/orchestration/connections.py``).

- ``ClickHouseHook``: the official provider's (apache-airflow-providers-clickhousedb), which speaks
  ClickHouse's HTTP interface through clickhouse-connect, so it reaches the local warehouse endpoint
  too. ``warehouse_client()`` is the one way a task opens a client.
- ``KafkaHook``: the kafka-python client options (bootstrap servers, SSL) of a ``kafka`` connection in
  the official Kafka provider's format, for the platform's kafka-python clients (why not that
  provider's hooks: plugins/README.md).
- Spark jobs are submitted through the ``spark_default`` connection by ``retail_operators``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.clickhousedb.hooks.clickhouse import ClickHouseHook
from airflow.sdk import BaseHook

from retail_platform.orchestration.connections import KAFKA_CONN_ID, WAREHOUSE_CONN_ID, kafka_client_options

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

__all__ = ["ClickHouseHook", "KafkaHook", "warehouse_client"]


def warehouse_client(conn_id: str = WAREHOUSE_CONN_ID) -> Client:
    """A clickhouse-connect client of the connection's database; the caller closes it."""
    return ClickHouseHook(clickhouse_conn_id=conn_id).get_client()


class KafkaHook(BaseHook):
    """kafka-python client options of a Kafka connection (extra ``{"bootstrap.servers": "host:port,..."}``,
    plus ``security.protocol``/``ssl.ca.location`` for an SSL listener)."""

    conn_name_attr = "kafka_config_id"
    default_conn_name = KAFKA_CONN_ID
    conn_type = "kafka"
    hook_name = "Kafka (kafka-python)"

    def __init__(self, kafka_config_id: str = KAFKA_CONN_ID) -> None:
        super().__init__()
        self.kafka_config_id = kafka_config_id

    def client_options(self) -> dict[str, Any]:
        """``bootstrap_servers`` and the security options, for KafkaConsumer/KafkaAdminClient(**options)."""
        return kafka_client_options(self.get_connection(self.kafka_config_id).extra_dejson, self.kafka_config_id)
