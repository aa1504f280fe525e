"""The warehouse: ClickHouse (a server, or the local endpoint over the embedded engine)."""
