"""Weekly demand-model training: GBT on the lake's training features, hold-out metrics beside the
baselines, version vN in models/demand-forecast/, promotion when better, ml_model_performance rows.

    spark-submit <submit_args()> spark_jobs/train_demand_model.py --date 2026-11-20 [--seed 42]
    python -m spark_jobs.train_demand_model --date 2026-11-20

--date bounds the last target day used (the newest the features cover, if older). Prints the model's
metadata JSON. The logic lives in retail_platform.forecasting.training.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="train_demand_model", description=__doc__.split("\n")[0])
    p.add_argument("--date", type=date.fromisoformat, default=None, help="last target day to use (YYYY-MM-DD)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-iter", type=int, default=60)
    p.add_argument("--max-depth", type=int, default=6)
    p.add_argument("--train-days", type=int, default=730)
    p.add_argument("--series-fraction", type=float, default=1.0, help="share of store/product series to train on")
    p.add_argument("--oracle-uri", default=None, help="parquet of true expected demand (simulated history only)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from retail_platform.forecasting import training
    from retail_platform.settings import get_settings
    from retail_platform.spark import job_session

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse_args(argv)
    config = training.TrainingConfig(
        seed=args.seed,
        max_iter=args.max_iter,
        max_depth=args.max_depth,
        train_days=args.train_days,
        series_fraction=args.series_fraction,
    )
    settings = get_settings()
    spark = job_session("train-demand-model", settings)
    try:
        meta = training.run(spark, settings, args.date, config, oracle_uri=args.oracle_uri)
    finally:
        spark.stop()
    print(json.dumps(meta, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
