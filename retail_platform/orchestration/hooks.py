"""``ClickHouseHook``: a clickhouse-connect client built from an Airflow connection.

As in Airflow's providers, the hook owns the connection: tasks and callbacks name a ``conn_id`` and
never assemble credentials themselves. The local runtime defines ``clickhouse_default`` through
``AIRFLOW_CONN_CLICKHOUSE_DEFAULT`` (JSON: host, port, login, password, schema = database), derived
from the platform settings (``retail_platform/runtime/airflow.py``); compose and cluster deployments
define the same connection for their server. ``extra`` may set ``{"secure": true}`` for HTTPS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

DEFAULT_CONN_ID = "clickhouse_default"


def client_kwargs(conn: Any) -> dict[str, Any]:
    """clickhouse-connect ``get_client`` arguments from an Airflow connection (pure; unit-tested)."""
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    secure = bool(extra.get("secure", False))
    kwargs: dict[str, Any] = {
        "host": conn.host or "127.0.0.1",
        "port": int(conn.port or (8443 if secure else 8123)),
        "interface": "https" if secure else "http",
        "username": conn.login or "default",
        "password": conn.password or "",
    }
    if conn.schema:
        kwargs["database"] = conn.schema
    # Short timeouts: the hook also serves failure callbacks, which must not hang a worker slot.
    kwargs["connect_timeout"] = int(extra.get("connect_timeout", 10))
    kwargs["send_receive_timeout"] = int(extra.get("send_receive_timeout", 60))
    return kwargs


class ClickHouseHook(BaseHook):
    """Warehouse access for Airflow tasks through the ``conn_id`` connection."""

    conn_name_attr = "conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "generic"
    hook_name = "ClickHouse (HTTP)"

    def __init__(self, conn_id: str = DEFAULT_CONN_ID) -> None:
        super().__init__()
        self.conn_id = conn_id

    def get_conn(self) -> Client:
        import clickhouse_connect

        return clickhouse_connect.get_client(**client_kwargs(self.get_connection(self.conn_id)))

    @property
    def database(self) -> str:
        return self.get_connection(self.conn_id).schema or "default"

    def insert_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert dict rows (all with the same keys) into ``table`` of the connection's database."""
        if not rows:
            return
        columns = list(rows[0])
        client = self.get_conn()
        try:
            client.insert(table, [[row[c] for c in columns] for row in rows], column_names=columns)
        finally:
            client.close()
