"""Smoke job: read one topic through Spark's Kafka connector and count the messages of one run.

    spark-submit spark_jobs/kafka_smoke.py --topic retail-platform-smoke --run-id <id>

Prints one JSON line {"topic", "run_id", "messages", "partitions"} and records it in the warehouse.
"""

from __future__ import annotations

import argparse
import json

from pyspark.sql import functions as F

from retail_platform import smoke
from retail_platform.settings import get_settings
from retail_platform.spark import job_session


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topic", default=smoke.SMOKE_TOPIC)
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    settings = get_settings()
    spark = job_session("kafka-smoke", settings)
    try:
        frame = (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
            .option("subscribe", args.topic)
            .option("startingOffsets", "earliest")
            .option("endingOffsets", "latest")
            .load()
            .select(F.get_json_object(F.col("value").cast("string"), "$.run_id").alias("run_id"), "partition")
            .where(F.col("run_id") == args.run_id)
        )
        row = frame.agg(F.count("*").alias("n"), F.countDistinct("partition").alias("p")).first()
        result = {"topic": args.topic, "run_id": args.run_id, "messages": row["n"], "partitions": row["p"]}
    finally:
        spark.stop()
    smoke.record_check(settings, args.run_id, "spark", json.dumps(result), int(result["messages"]))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
