"""A scratch warehouse database for one test module."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from retail_platform.settings import Settings
from retail_platform.warehouse.client import connect


@contextmanager
def scratch_database(settings: Settings, prefix: str) -> Iterator[Settings]:
    """``settings`` with a freshly migrated database of its own, dropped afterwards.

    For a module whose assertions cover whole tables (every series, every dimension row): the
    session's ``retail`` database holds what earlier modules loaded. A module overrides its
    ``warehouse`` fixture with it:

        @pytest.fixture(scope="module")
        def warehouse(warehouse):
            with scratch_database(warehouse, "forecasting") as settings:
                yield settings
    """
    from retail_platform.warehouse import migrations

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = connect(settings, database="")
    try:
        migrations.apply_all(admin, database=name)
        yield dataclasses.replace(settings, clickhouse_database=name)
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {name} SYNC")
        admin.close()
