"""Daily batch predictions: the champion's 7-day forecasts with 80% intervals into ml_demand_forecast.

    spark-submit <submit_args()> spark_jobs/predict_demand.py --date 2026-11-20
    python -m spark_jobs.predict_demand --date 2026-11-20

--date is the forecast date (the last closed day): targets are --date + 1 .. + 7. Idempotent (a re-run
replaces the day's forecasts). Exit 2 when no model has been promoted yet.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="predict_demand", description=__doc__.split("\n")[0])
    p.add_argument("--date", type=date.fromisoformat, required=True, help="forecast date (YYYY-MM-DD)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from retail_platform.forecasting import predictions
    from retail_platform.settings import get_settings
    from retail_platform.spark import job_session

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse_args(argv)
    settings = get_settings()
    spark = job_session(f"predict-demand-{args.date}", settings)
    try:
        result = predictions.run(spark, settings, args.date)
    except predictions.NoChampionError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        spark.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
