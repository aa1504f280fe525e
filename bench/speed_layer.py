"""Speed-layer benchmark: sustained event rate with flat lag, and event-time-to-queryable latency.

For each target rate the simulators produce real-time events (event_time = now) for --seconds while
the managed streaming job runs; lag is sampled every few seconds. Latency per event is the time
from its event_time to the end of the micro-batch that made it queryable in ClickHouse (bronze
keeps each event's batch_id; ops_stream_batches the batch's finish time). In the same run, Spark
alone reads the same topics with no processing, as the ceiling.

    .venv/bin/python -m bench.speed_layer --rates 2000,4000,8300 --seconds 180

Writes bench/results/speed_layer.json. Uses the local stack (starts it if needed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from retail_platform import lake
from retail_platform.runtime import stack
from retail_platform.runtime.stream import read_progress
from retail_platform.settings import get_settings
from retail_platform.simulation.producer import SimulationConfig, run_simulation
from retail_platform.streaming.config import QUERY_NAME
from retail_platform.warehouse.client import connect

RESULTS = Path(__file__).parent / "results" / "speed_layer.json"


def sample_lag(settings, stop: threading.Event, samples: list[tuple[float, int]], every: float = 5.0) -> None:
    t0 = time.monotonic()
    while not stop.wait(every):
        try:
            samples.append((time.monotonic() - t0, read_progress(settings).total_lag))
        except Exception:  # a sample lost to a busy warehouse is not a result
            pass


def lag_slope(samples: list[tuple[float, int]]) -> float:
    """Messages per second by which the lag grew over the second half of the run (least squares)."""
    half = [(t, lag) for t, lag in samples if t >= samples[-1][0] / 2] if samples else []
    if len(half) < 3:
        return float("nan")
    t, lag = np.array(half, dtype=float).T
    return float(np.polyfit(t, lag, 1)[0])


def latencies(settings, since: datetime) -> dict[str, float]:
    """Per event: finish time of its micro-batch minus its event_time (seconds)."""
    from retail_platform.spark import session

    client = connect(settings)
    try:
        query_id = client.command(
            "SELECT argMax(query_id, finished_at) FROM ops_stream_batches FINAL WHERE query_name = {q:String}",
            parameters={"q": QUERY_NAME},
        )
        batches = client.query_df(
            "SELECT batch_id, finished_at FROM ops_stream_batches FINAL WHERE query_id = {q:String}",
            parameters={"q": query_id},
        )
    finally:
        client.close()
    spark = session("bench-latency", settings)
    try:
        events = (
            spark.read.format("delta")
            .load(lake.uri(settings, "raw-data", "sales"))
            .where(f"event_time >= timestamp'{since:%Y-%m-%d %H:%M:%S}'")
            .select("event_time", "batch_id")
            .toPandas()
        )
    finally:
        spark.stop()
    return latency_summary(event_latencies(events, batches))


def as_utc(column: pd.Series) -> pd.Series:
    """Timestamps as UTC instants: naive ones are UTC already (the session and warehouse zone is UTC)."""
    return column.dt.tz_localize("UTC") if column.dt.tz is None else column.dt.tz_convert("UTC")


def event_latencies(events: pd.DataFrame, batches: pd.DataFrame) -> np.ndarray:
    """Seconds from each event's event_time to the finish of the micro-batch that wrote it."""
    joined = events.merge(batches, on="batch_id")
    return (as_utc(joined["finished_at"]) - as_utc(joined["event_time"])).dt.total_seconds().to_numpy()


def latency_summary(seconds: np.ndarray) -> dict[str, float]:
    if len(seconds) == 0:
        return {"events": 0}
    return {
        "events": int(len(seconds)),
        "p50_s": round(float(np.percentile(seconds, 50)), 2),
        "p95_s": round(float(np.percentile(seconds, 95)), 2),
        "p99_s": round(float(np.percentile(seconds, 99)), 2),
        "max_s": round(float(seconds.max()), 2),
    }


def spark_read_ceiling(settings) -> dict[str, float]:
    """Spark alone reading every message of the source topics once, no processing."""
    from retail_platform.spark import session

    spark = session("bench-read-ceiling", settings)
    try:
        frame = (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
            .option("subscribe", "retail-sales-transactions,retail-inventory-updates,retail-price-changes")
            .option("startingOffsets", "earliest")
            .option("endingOffsets", "latest")
            .load()
        )
        started = time.monotonic()
        count = frame.select("value").count()
        elapsed = time.monotonic() - started
    finally:
        spark.stop()
    return {"messages": count, "seconds": round(elapsed, 2), "messages_per_s": round(count / elapsed)}


def run_rate(settings, rate: float, seconds: float, stores: int, products: int) -> dict[str, object]:
    since = datetime.now(timezone.utc)
    load_at_start = os.getloadavg()
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_lag, args=(settings, stop, samples), daemon=True)
    sampler.start()
    config = SimulationConfig(stores=stores, products=products, seed=11, rate=rate, duration=seconds, load_catalog=True)
    started = time.monotonic()
    truth = run_simulation(settings, config)
    sent_seconds = time.monotonic() - started
    stop.set()
    sampler.join()
    produced = sum(truth.produced.values())
    # Catch up before measuring latency, so every event of the run has its batch.
    deadline = time.monotonic() + 600
    while read_progress(settings).total_lag > 0 and time.monotonic() < deadline:
        time.sleep(2)
    slope = lag_slope(samples)
    return {
        "target_events_per_s": rate,
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "stores": stores,
        "products": products,
        "seconds": seconds,
        "produced": produced,
        "produced_per_s": round(produced / sent_seconds),
        "lag_samples": samples,
        "lag_growth_per_s_second_half": round(slope, 1),
        "flat_lag": bool(slope == slope and slope < 0.01 * rate),
        "latency": latencies(settings, since),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="2000,4000,8300", help="events/s for the whole fleet")
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--products", type=int, default=50)
    args = parser.parse_args()
    settings = get_settings()
    stack.up(settings, ("warehouse", "kafka", "stream"))
    runs = [run_rate(settings, float(rate), args.seconds, args.stores, args.products) for rate in args.rates.split(",")]
    ceiling = spark_read_ceiling(settings)
    sustained = [r for r in runs if r["flat_lag"]]
    result = {
        "benchmark": "speed_layer",
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1_5_15": os.getloadavg(),
        },
        "highest_sustained_events_per_s": max((r["produced_per_s"] for r in sustained), default=None),
        "runs": runs,
        "spark_read_ceiling": ceiling,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    for r in runs:
        print(r["target_events_per_s"], r["produced_per_s"], r["flat_lag"], r["latency"])


if __name__ == "__main__":
    main()
