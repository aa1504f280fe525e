"""The Spark session of a forecasting job, under spark-submit or ``python -m``."""

from __future__ import annotations

import os
import sys
from datetime import date
from typing import Any


def job_session(app_name: str, **conf: str) -> tuple[Any, Any]:
    from retail_platform.settings import get_settings
    from retail_platform.spark import session, submit_args

    settings = get_settings()
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        # python -m: connectors on the driver's classpath when the JVM starts; workers run this Python.
        os.environ.setdefault("PYSPARK_SUBMIT_ARGS", " ".join([*submit_args(settings), "pyspark-shell"]))
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return session(app_name, settings, **{"spark.ui.enabled": "false", **conf}), settings


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
