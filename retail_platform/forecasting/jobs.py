"""What the forecasting jobs and their DAG tasks share (their Spark session is ``spark.job_session``)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client


def last_loaded_day(client: Client | None = None) -> date:
    """The batch watermark (newest day daily_etl loaded); an error before the first load. Read with
    ``client`` (an Airflow task's hook client, left open, its database) or a client of the settings."""
    from retail_platform.batch.warehouse_load import watermark

    if client is not None:
        day = watermark(client, client.database or "default")  # None: the server's default database
    else:
        from retail_platform.settings import get_settings
        from retail_platform.warehouse.client import connect

        settings = get_settings()
        own = connect(settings)
        try:
            day = watermark(own, settings.clickhouse_database)
        finally:
            own.close()
    if day is None:
        raise RuntimeError("no day loaded yet (ops_batch_watermark is empty): run daily_etl first")
    return day
