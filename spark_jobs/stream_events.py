"""Speed layer: the contract topics -> ClickHouse real-time tables, lake bronze, dead letters, restock alerts.

    spark-submit <submit_args()> spark_jobs/stream_events.py [options]
    python -m spark_jobs.stream_events [options]

Runs until SIGTERM/SIGINT (exit 0), or until the query fails (exit 1; restarting resumes from the
checkpoint and replays the unfinished batch exactly). ``--help`` lists the options. The logic lives in
``retail_platform.streaming``; this file only wires it.
"""

from __future__ import annotations

import logging
import sys


def main(argv: list[str] | None = None) -> int:
    from retail_platform.settings import get_settings
    from retail_platform.spark import job_session
    from retail_platform.streaming.config import parse_args
    from retail_platform.streaming.runner import StreamRunner, spark_conf

    # The job's own lines at INFO (one per batch); libraries (kafka-python, py4j) only when they warn.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stdout
    )
    logging.getLogger("stream_events").setLevel(logging.INFO)
    logging.getLogger("retail_platform").setLevel(logging.INFO)
    settings = get_settings()
    config = parse_args(argv, settings)
    spark = job_session(config.query_name, settings, driver_memory=config.driver_memory, **spark_conf(config))
    try:
        return StreamRunner(spark, settings, config).run()
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
