"""Lake and warehouse maintenance, run nightly by the ``maintenance`` DAG.

Lake (``lake_tables``, Spark): every Delta table found under ``raw-data/``, ``silver/`` and
``quarantine/`` gets retention (bronze and quarantine days older than their window are deleted),
OPTIMIZE (bin-packing of small files; optionally only recent days) and VACUUM (files no snapshot
within the retention window references). Warehouse (``warehouse_tables``, ClickHouse SQL):
``OPTIMIZE ... PARTITION ... FINAL`` on the recent partitions of the ReplacingMergeTree tables, and
partition retention for the tables no TTL trims. Every action is one row in ``ops_maintenance_runs``.

Pure pieces (configuration, cut-offs, table discovery, partition arithmetic) are separate modules so
they are unit-tested without Spark or a warehouse.
"""
