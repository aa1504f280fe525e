"""The lake on S3 against the lake on the local file system: what the stream's bronze appends cost
there, how many files they leave per table and day before and after compaction, and how many
requests reading one day takes.

    flock /tmp/retail-integration.lock .venv/bin/python -m bench.lake_costs [--quick]

Needs `make setup-cluster` (the S3 gateway and the S3A jars). Starts the cluster profile's S3 gateway
alone (its own state folder and port) and one Spark session (``local[2]``: the storage is measured,
not the scheduler). For each lake, the same steps on a bronze-shaped sales table of one day:

* ``appends`` Delta appends of ``rows`` rows each, the stream's write (one file per day per batch,
  ``txnAppId``/``txnVersion``): the commit latency of each (p50/p95/max);
* the table's data files in the day's partition after them, then after OPTIMIZE (the compaction the
  maintenance DAG runs) and VACUUM of the replaced files;
* reading the day back (a count through Delta) before and after compaction: its wall time and, on
  S3, the requests S3A made for it (the file system's IOStatistics counters: LIST, HEAD, GET).

The local file system's figures are the ceiling the S3 figures are read against. Writes
bench/results/lake_costs.json with the machine's load before and after."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.dashboards import percentiles

RESULTS = Path(__file__).resolve().parent / "results" / "lake_costs.json"
DAY = ("2026", "11", "20")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _s3a_counters(spark: Any, uri: str) -> dict[str, int]:
    """S3A's request counters of the file system serving ``uri`` (the driver's and, in local mode,
    the executors': one JVM)."""
    jvm = spark.sparkContext._jvm
    fs = jvm.org.apache.hadoop.fs.Path(uri).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    counters = fs.getIOStatistics().counters()
    return {str(k): int(counters.get(k)) for k in counters.keySet()}


REQUEST_COUNTERS = ("object_list_request", "object_metadata_request", "action_http_get_request", "object_put_request")


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after.get(name, 0) - before.get(name, 0) for name in REQUEST_COUNTERS}


def _data_files(spark: Any, uri: str) -> int:
    """Data files the table's current version holds (from its log; the table holds the one day)."""
    from delta.tables import DeltaTable

    detail = DeltaTable.forPath(spark, uri).detail().select("numFiles").first()
    if detail is None:
        raise RuntimeError(f"DESCRIBE DETAIL of {uri} returned nothing")
    return int(detail["numFiles"])


def _batch(spark: Any, rows: int, batch: int) -> Any:
    """A micro-batch of bronze-shaped sales rows of one day (the stream's columns that cost bytes)."""
    year, month, day = DAY
    return spark.range(rows).selectExpr(
        "uuid() AS event_id",
        "'sales_transaction' AS event_type",
        f"timestamp'{year}-{month}-{day} 10:00:00' + make_interval(0, 0, 0, 0, 0, 0, id % 36000) AS event_time",
        "concat('store_', lpad(cast(id % 20 AS string), 3, '0')) AS store_id",
        "concat('SKU', lpad(cast(id % 200 AS string), 5, '0')) AS product_id",
        "cast(1 + id % 3 AS int) AS quantity",
        "cast(9.99 AS decimal(12,2)) AS unit_price",
        "'retail-sales-transactions' AS kafka_topic",
        "cast(id % 3 AS int) AS kafka_partition",
        f"id + {batch * rows} AS kafka_offset",
        f"cast({batch} AS long) AS batch_id",
        f"'{year}' AS year",
        f"'{month}' AS month",
        f"'{day}' AS day",
    )


def _read_day(spark: Any, uri: str) -> tuple[int, float]:
    year, month, day = DAY
    started = time.perf_counter()
    rows = (
        spark.read.format("delta").load(uri).where(f"year = '{year}' AND month = '{month}' AND day = '{day}'").count()
    )
    return int(rows), time.perf_counter() - started


def measure_lake(spark: Any, uri: str, appends: int, rows: int, on_s3: bool) -> dict[str, Any]:
    from delta.tables import DeltaTable

    def counters() -> dict[str, int]:
        return _s3a_counters(spark, uri) if on_s3 else {}

    latencies: list[float] = []
    start_counters = counters()
    for batch in range(appends):
        frame = _batch(spark, rows, batch)
        started = time.perf_counter()
        (
            frame.coalesce(1)
            .write.format("delta")
            .mode("append")
            .partitionBy("year", "month", "day")
            .option("txnAppId", "bench-lake-costs")
            .option("txnVersion", str(batch))
            .save(uri)
        )
        latencies.append(time.perf_counter() - started)
    append_requests = _delta(start_counters, counters())
    files_before = _data_files(spark, uri)

    before = counters()
    rows_read, read_s = _read_day(spark, uri)
    read_before = {"rows": rows_read, "seconds": round(read_s, 3), "requests": _delta(before, counters())}

    started = time.perf_counter()
    DeltaTable.forPath(spark, uri).optimize().executeCompaction()
    compaction_s = time.perf_counter() - started
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    DeltaTable.forPath(spark, uri).vacuum(0)
    files_after = _data_files(spark, uri)

    before = counters()
    rows_read_after, read_after_s = _read_day(spark, uri)
    read_after = {"rows": rows_read_after, "seconds": round(read_after_s, 3), "requests": _delta(before, counters())}
    assert rows_read == rows_read_after == appends * rows, (rows_read, rows_read_after)

    return {
        "uri": uri,
        "append_seconds": {**percentiles(latencies), "mean_s": round(statistics.fmean(latencies), 3)},
        "append_requests_total": append_requests if on_s3 else None,
        "files_in_the_day": {"after_appends": files_before, "after_optimize_and_vacuum": files_after},
        "optimize_seconds": round(compaction_s, 3),
        # On the local file system there are no requests to count.
        "read_one_day_before_compaction": read_before if on_s3 else {**read_before, "requests": None},
        "read_one_day_after_compaction": read_after if on_s3 else {**read_after, "requests": None},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer appends (a smoke run)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    appends, rows = (8, 500) if args.quick else (60, 3000)

    from retail_platform.runtime import stack
    from retail_platform.settings import load_settings
    from retail_platform.spark import job_session

    base = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    base.chmod(0o755)
    settings = load_settings(
        {
            "RETAIL_PROFILE": "cluster",
            "RETAIL_STATE_DIR": str(base / "state"),
            "RETAIL_S3_ENDPOINT": f"http://127.0.0.1:{_free_port()}",
            "RETAIL_LAKE_URI": "s3a://bench-lake",
            "RETAIL_SPARK_MASTER": "local[2]",
        }
    )
    if not settings.versitygw_bin.exists():
        print("the S3 gateway is not built: run `make setup-cluster`", file=sys.stderr)
        return 2
    load_at_start = os.getloadavg()
    stack.up(settings, only=("s3",), log=print)
    try:
        spark = job_session("bench_lake_costs", settings, **{"spark.sql.shuffle.partitions": "2"})
        lakes = {
            "local_file_system": measure_lake(spark, f"file://{base}/lake/raw-data/sales", appends, rows, False),
            "s3_gateway": measure_lake(spark, "s3a://bench-lake/raw-data/sales", appends, rows, True),
        }
        spark.stop()
    finally:
        stack.down(settings, only=("s3",), log=print)
        shutil.rmtree(base, ignore_errors=True)
    result = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "load_average_at_start": load_at_start},
        "load_average_at_end": os.getloadavg(),
        "setup": {
            "appends": appends,
            "rows_per_append": rows,
            "spark_master": settings.spark_master,
            "s3": f"versitygw (posix backend) on {settings.s3_endpoint}",
            "quick": args.quick,
        },
        "lakes": lakes,
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
