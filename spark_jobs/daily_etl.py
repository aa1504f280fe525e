"""Batch layer: recompute one UTC day from the lake's bronze into silver and the warehouse facts.

    spark-submit <submit_args()> spark_jobs/daily_etl.py --date 2026-11-20 [--run-id ID]
    python -m spark_jobs.daily_etl --date 2026-11-20

Idempotent: running a day again rewrites the same silver rows and replaces the day's facts. Exit 0 on
success, 1 when a data-quality check failed (the message lists them; dq_results has every check).
The logic lives in ``retail_platform.batch``; this file only wires it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="daily_etl", description=__doc__.split("\n")[0])
    p.add_argument("--date", type=date.fromisoformat, required=True, help="UTC day to recompute (YYYY-MM-DD)")
    p.add_argument("--run-id", default="", help="orchestrator run id, recorded with the watermark")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from retail_platform.batch.daily import run_day
    from retail_platform.batch.quality import DataQualityError
    from retail_platform.settings import get_settings
    from retail_platform.spark import session, submit_args

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("retail_platform").setLevel(logging.INFO)
    args = parse_args(argv)
    settings = get_settings()
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        # python -m: connectors on the driver's classpath when the JVM starts; workers run this Python.
        os.environ.setdefault("PYSPARK_SUBMIT_ARGS", " ".join([*submit_args(settings), "pyspark-shell"]))
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = session(f"daily-etl-{args.date}", settings, **{"spark.ui.enabled": "false"})
    try:
        result = run_day(spark, settings, args.date, args.run_id)
    except DataQualityError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        spark.stop()
    print(json.dumps(result.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
