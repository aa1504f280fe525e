"""Lake maintenance: retention, OPTIMIZE and VACUUM of every Delta table of the lake.

    spark-submit <submit_args()> spark_jobs/maintenance.py [--run-id ID] [--bronze-retention-days 730]
        [--quarantine-retention-days 90] [--silver-retention-days none] [--optimize-recent-days none]
        [--vacuum-retention-hours 168] [--zones raw-data,silver,quarantine] [--with-warehouse]
    python -m spark_jobs.maintenance ...

Every action is a row in ops_maintenance_runs. Exit 0 when every action succeeded, 1 when one failed
(all are recorded either way). ``--with-warehouse`` also runs the warehouse side (the DAG runs that in
its own task). The logic lives in ``retail_platform.maintenance``; this file only wires it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import date


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from retail_platform.maintenance.config import add_arguments

    p = argparse.ArgumentParser(prog="maintenance", description=__doc__.split("\n")[0])
    p.add_argument("--run-id", default="", help="orchestrator run id (default: a new maintenance-<id>)")
    p.add_argument("--today", type=date.fromisoformat, default=None, help="day retention counts from (UTC today)")
    p.add_argument("--with-warehouse", action="store_true", help="also OPTIMIZE FINAL and retention in the warehouse")
    add_arguments(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from retail_platform.maintenance.config import from_arguments
    from retail_platform.maintenance.records import summary
    from retail_platform.maintenance.run import MaintenanceFailed, new_run_id, run_lake, run_warehouse, session_conf
    from retail_platform.settings import get_settings
    from retail_platform.spark import job_session

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("retail_platform").setLevel(logging.INFO)
    args = parse_args(argv)
    config = from_arguments(args)
    run_id = args.run_id or new_run_id()
    settings = get_settings()
    started = time.monotonic()
    spark = job_session("maintenance", settings, **session_conf(settings))
    records = []
    failed: list[str] = []
    try:
        try:
            records += run_lake(spark, settings, config, run_id, args.today)
        except MaintenanceFailed as exc:
            records += exc.records
            failed.append(str(exc))
        if args.with_warehouse:
            try:
                records += run_warehouse(settings, config, run_id, args.today)
            except MaintenanceFailed as exc:
                records += exc.records
                failed.append(str(exc))
    finally:
        spark.stop()
    print(json.dumps({"run_id": run_id, "seconds": round(time.monotonic() - started, 1), **summary(records)}))
    if failed:
        print("maintenance failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
