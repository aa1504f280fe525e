"""Demand features: facts -> origin features -> lake features/{training,inference} and ml_demand_features.

    spark-submit <submit_args()> spark_jobs/feature_engineering.py --date 2026-11-20 [--start 2025-01-01]
    python -m spark_jobs.feature_engineering --date 2026-11-20

--date is the last closed day (the forecast date): the inference rows are for the forecast made on
it. Without --start, the last week of closed training rows is refreshed (daily); with it, every
feature_date from --start on is rebuilt. Idempotent. The logic lives in retail_platform.forecasting.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="feature_engineering", description=__doc__.split("\n")[0])
    p.add_argument("--date", type=date.fromisoformat, required=True, help="last closed day (YYYY-MM-DD)")
    p.add_argument(
        "--start",
        type=lambda text: date.fromisoformat(text) if text else None,
        default=None,
        help="rebuild from this day (full mode); empty = daily mode",
    )
    p.add_argument(
        "--shuffle-partitions",
        type=int,
        default=0,
        help="spark.sql.shuffle.partitions (default: the session's); more for years of history",
    )
    p.add_argument("--run-id", default="", help="orchestrator run id, recorded on the warehouse rows")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from retail_platform.forecasting import feature_store
    from retail_platform.settings import get_settings
    from retail_platform.spark import job_session

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse_args(argv)
    conf = {"spark.sql.shuffle.partitions": str(args.shuffle_partitions)} if args.shuffle_partitions else {}
    settings = get_settings()
    spark = job_session(f"feature-engineering-{args.date}", settings, **conf)
    try:
        result = feature_store.run(spark, settings, args.date, start=args.start, run_id=args.run_id)
    finally:
        spark.stop()
    print(json.dumps(result.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
