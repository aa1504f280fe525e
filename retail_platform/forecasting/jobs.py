"""What the forecasting jobs and their DAG tasks share (their Spark session is ``spark.job_session``)."""

from __future__ import annotations

from datetime import date


def last_loaded_day() -> date:
    """The batch watermark (newest day daily_etl loaded); an error before the first load."""
    from retail_platform.batch.warehouse_load import watermark
    from retail_platform.settings import get_settings
    from retail_platform.warehouse.client import connect

    settings = get_settings()
    client = connect(settings)
    try:
        day = watermark(client, settings.clickhouse_database)
    finally:
        client.close()
    if day is None:
        raise RuntimeError("no day loaded yet (ops_batch_watermark is empty): run daily_etl first")
    return day
