"""Batch layer: recompute one UTC day from the lake's bronze into silver and the warehouse facts.

    spark-submit <submit_args()> spark_jobs/daily_etl.py --date 2026-11-20 [--run-id ID]
    python -m spark_jobs.daily_etl --date 2026-11-20
    python -m spark_jobs.daily_etl --from 2026-10-01 --to 2026-10-30    # bulk backfill, one application

Idempotent: running a day again rewrites the same silver rows and replaces the day's facts. Exit 0 on
success, 1 when a data-quality check failed (the message lists them; dq_results has every check). A range
runs its days oldest first and goes on past a failed day; it exits 1 if any day failed.

Before any Spark work the days must be closable (retail_platform/batch/close.py): a day whose end plus
the close grace is still ahead (today, a future day) is refused, and the stream must have consumed every
input partition past Kafka's end offsets taken now (waiting up to --close-wait seconds), or past the
target given with --close-target (the JSON the daily_etl DAG's sensor established). Exit 3 when
refused, with the reason (which partitions are behind, by how much). Exit 4 when another writer holds
one of the month partitions the load swaps (the message names it).
The logic lives in ``retail_platform.batch``; this file only wires it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="daily_etl", description=__doc__.split("\n")[0])
    days = p.add_mutually_exclusive_group(required=True)
    days.add_argument("--date", type=date.fromisoformat, help="UTC day to recompute (YYYY-MM-DD)")
    days.add_argument("--from", dest="first", type=date.fromisoformat, help="first day of a range (with --to)")
    p.add_argument("--to", dest="last", type=date.fromisoformat, help="last day of the range, inclusive")
    p.add_argument("--run-id", default="", help="orchestrator run id, recorded with the watermark")
    p.add_argument(
        "--close-wait",
        type=float,
        default=600.0,
        help="seconds to wait for the stream to pass the days (default 600; 0 checks once)",
    )
    p.add_argument(
        "--close-target",
        type=json.loads,
        default=None,
        help="JSON {taken_at, end_offsets} the stream must have passed, taken at or after the days closed",
    )
    args = p.parse_args(argv)
    if args.first is not None and args.last is None:
        p.error("--from needs --to (the last day of the range, inclusive)")
    if args.last is not None and args.first is None:
        p.error("--to needs --from")
    if args.first is not None and args.last < args.first:
        p.error(f"--to {args.last} is before --from {args.first}")
    return args


def main(argv: list[str] | None = None) -> int:
    from retail_platform.batch.close import CloseTarget, DayNotClosable, await_closable
    from retail_platform.batch.daily import run_day, run_days
    from retail_platform.batch.quality import DataQualityError
    from retail_platform.batch.warehouse_load import MonthBusy
    from retail_platform.settings import get_settings
    from retail_platform.spark import job_session

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("retail_platform").setLevel(logging.INFO)
    args = parse_args(argv)
    settings = get_settings()
    label = args.date or f"{args.first}..{args.last}"
    try:
        target = CloseTarget.from_json(args.close_target) if args.close_target else None
        await_closable(settings, [args.date or args.last], args.close_wait, target=target)
    except DayNotClosable as exc:
        print(f"daily_etl {label}: {exc}", file=sys.stderr)
        return 3
    spark = job_session(f"daily-etl-{label}", settings)
    try:
        if args.date is None:
            span = run_days(spark, settings, args.first, args.last, args.run_id)
            print(json.dumps(span.summary()))
            for day, message in span.failed.items():
                print(f"{day}: {message}", file=sys.stderr)
            return 1 if span.failed else 0
        result = run_day(spark, settings, args.date, args.run_id)
    except DataQualityError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (DayNotClosable, MonthBusy) as exc:
        print(f"daily_etl {label}: refused: {exc}", file=sys.stderr)
        return 3 if isinstance(exc, DayNotClosable) else 4
    finally:
        spark.stop()
    print(json.dumps(result.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
