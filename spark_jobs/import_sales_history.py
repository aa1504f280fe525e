"""Batch sources into bronze: historical sales files and legacy SQLite databases from the landing zone.

    spark-submit <submit_args()> spark_jobs/import_sales_history.py --run-id RUN [--mapping JSON]
    python -m spark_jobs.import_sales_history --run-id manual-1

Every file gets a row in ops_source_loads (loaded, skipped or failed) and its bad rows go to
dq_source_rejects; loaded rows are merged into bronze by event_id, so re-running changes nothing.
Exit 0 when the run finished, even if some files failed (the DAG's report task fails the run for
them, after the good files' days were recomputed); non-zero when the run itself broke.
The logic lives in ``retail_platform.sources``; this file only wires it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="import_sales_history", description=__doc__.split("\n")[0])
    p.add_argument("--run-id", required=True, help="orchestrator run id, recorded in ops_source_loads")
    p.add_argument("--mapping", default="null", help="column mapping as JSON, overriding the files' own")
    p.add_argument("--legacy-timezone", default="UTC", help="zone of the legacy database's times")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from retail_platform.settings import get_settings
    from retail_platform.sources import report, runs
    from retail_platform.spark import job_session
    from retail_platform.warehouse.client import connect

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("retail_platform").setLevel(logging.INFO)
    args = parse_args(argv)
    settings = get_settings()
    spark = job_session("import-sales-history", settings)
    client = connect(settings)
    try:
        loads = runs.ingest_bronze(
            client, settings, spark, args.run_id, json.loads(args.mapping) or None, args.legacy_timezone
        )
    finally:
        client.close()
        spark.stop()
    print(report.summary(loads))
    print(json.dumps({"days": [d.isoformat() for d in runs.affected_days(loads)]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
