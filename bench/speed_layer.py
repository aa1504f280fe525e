"""Speed-layer benchmark: sustained event rate with flat lag, and event-time-to-queryable latency.

For each offered rate the simulators produce real-time events (event_time = now) for --seconds while
the managed streaming job runs; lag is sampled every few seconds. Latency per event is the time
from its event_time to the end of the micro-batch that made it queryable in ClickHouse (bronze
keeps each event's batch_id; ops_stream_batches the batch's finish time). Per rate it also records
the rate the stream consumed, its micro-batches (duration and the time of each step, from the
stream's log) and the CPU and memory of every process involved.

In the same run:
* the load generator alone: the simulator's own producer sending to scratch copies of the topics
  that nothing reads, at a rate far above the targets, so its ceiling is known;
* calibration: the simulator's live rate follows the stores' opening hours in six zones, so a
  requested fleet rate yields a time-of-day share of it; a short warm-up measures that share and
  every run asks for target / share, so the *offered* rate is the target;
* the highest sustainable rate: when the top target does not keep the lag flat, one more run at
  90 % of the rate the stream consumed during it;
* the ceiling: Spark reading the same topics into a noop sink (no parsing, no sinks).

    .venv/bin/python -m bench.speed_layer --rates 2000,4000,8300 --seconds 180

Writes bench/results/speed_layer.json. Uses the local stack (starts it if needed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from retail_platform import lake, topics
from retail_platform.kafka_security import client_options
from retail_platform.runtime import stack
from retail_platform.runtime.stream import read_progress
from retail_platform.settings import get_settings
from retail_platform.simulation import batch as b
from retail_platform.simulation.catalog import generate_catalog
from retail_platform.simulation.producer import KafkaSink, SimulationConfig, run_simulation
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


def latencies(settings, since: datetime) -> dict[str, dict[str, float]]:
    """Per event, seconds from its event_time to the moment its micro-batch had written the real-time
    tables (queryable: the serving views show it), and to the end of that batch (lake, ops rows and
    output topics written too)."""
    from retail_platform.spark import session

    client = connect(settings)
    try:
        query_id = client.command(
            "SELECT argMax(query_id, finished_at) FROM ops_stream_batches FINAL WHERE query_name = {q:String}",
            parameters={"q": QUERY_NAME},
        )
        batches = client.query_df(
            "SELECT batch_id, ifNull(queryable_at, finished_at) AS queryable_at, finished_at"
            " FROM ops_stream_batches FINAL WHERE query_id = {q:String}",
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
    return {
        "event_to_queryable": latency_summary(event_latencies(events, batches, "queryable_at")),
        "event_to_batch_end": latency_summary(event_latencies(events, batches, "finished_at")),
    }


def as_utc(column: pd.Series) -> pd.Series:
    """Timestamps as UTC instants: naive ones are UTC already (the session and warehouse zone is UTC)."""
    return column.dt.tz_localize("UTC") if column.dt.tz is None else column.dt.tz_convert("UTC")


def event_latencies(events: pd.DataFrame, batches: pd.DataFrame, moment: str = "finished_at") -> np.ndarray:
    """Seconds from each event's event_time to ``moment`` of the micro-batch that wrote it."""
    joined = events.merge(batches, on="batch_id")
    return (as_utc(joined[moment]) - as_utc(joined["event_time"])).dt.total_seconds().to_numpy()


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


def spark_read_ceiling(settings, checkpoint: Path) -> dict[str, float]:
    """Spark alone streaming every message of the source topics once into a noop sink (availableNow)."""
    from retail_platform.spark import session

    spark = session("bench-read-ceiling", settings)
    try:
        frame = (
            spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
            .option("subscribe", ",".join(b.TOPICS))
            .option("startingOffsets", "earliest")
            .load()
        )
        started = time.monotonic()
        query = (
            frame.select("value")
            .writeStream.format("noop")
            .option("checkpointLocation", str(checkpoint))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        elapsed = time.monotonic() - started
        count = sum(int(p["numInputRows"]) for p in query.recentProgress)
    finally:
        spark.stop()
    return {"messages": count, "seconds": round(elapsed, 2), "messages_per_s": round(count / elapsed)}


class ScratchSink(KafkaSink):
    """The simulator's own producer, sending to scratch copies of its topics that nothing reads."""

    PREFIX = "bench-scratch-"

    def __init__(self, settings, store_ids: list[str], config: SimulationConfig) -> None:
        self.names = [self.PREFIX + t for t in b.TOPICS]
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **client_options(settings))
        try:
            partitions = {t.name: t.partitions for t in topics.ALL_TOPICS}
            admin.create_topics([NewTopic(self.PREFIX + t, partitions[t], 1) for t in b.TOPICS])
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()
        super().__init__(settings, store_ids, config)  # partitions as the real topics' (same counts)

    def send_many(self, event_type: list[int], store: list[int], values: list[bytes]) -> None:
        send, names, keys, partitions, failed = self.producer.send, self.names, self.keys, self.partitions, self._failed
        for t, s, v in zip(event_type, store, values, strict=True):
            send(names[t], value=v, key=keys[s], partition=partitions[t][s]).add_errback(failed)

    @classmethod
    def drop_topics(cls, settings) -> None:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **client_options(settings))
        try:
            admin.delete_topics([cls.PREFIX + t for t in b.TOPICS])
        finally:
            admin.close()


def generator_alone(settings, rate: float, seconds: float, stores: int, products: int) -> dict[str, object]:
    """The load generator with nothing consuming: what it can offer on this machine."""
    config = SimulationConfig(stores=stores, products=products, seed=11, rate=rate, duration=seconds)
    catalog_ids = generate_catalog(config.catalog_config()).store_ids
    sink = ScratchSink(settings, catalog_ids, config)
    cpu = CpuMeter({"generator": os.getpid()})
    started = time.monotonic()
    try:
        truth = run_simulation(settings, config, sink=sink)
    finally:
        sink.close()
        ScratchSink.drop_topics(settings)
    elapsed = time.monotonic() - started
    produced = sum(truth.produced.values())
    return {
        "requested_events_per_s": rate,
        "seconds": round(elapsed, 1),
        "produced": produced,
        "produced_per_s": round(produced / elapsed),
        "cpu": cpu.read(elapsed),
    }


class CpuMeter:
    """CPU seconds (share of one core) and peak resident memory of processes and their children."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs: dict[str, list[psutil.Process]] = {}
        for name, pid in pids.items():
            try:
                root = psutil.Process(pid)
                # This process alone: the services it may have started are its children too.
                children = [] if pid == os.getpid() else root.children(recursive=True)
                self.procs[name] = [root, *children]
            except psutil.NoSuchProcess:
                continue
        self.start = {name: self._cpu(ps) for name, ps in self.procs.items()}
        self.peak_rss: dict[str, int] = {name: 0 for name in self.procs}

    @staticmethod
    def _cpu(procs: list[psutil.Process]) -> float:
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
        return total

    def sample_memory(self) -> None:
        for name, procs in self.procs.items():
            rss = 0
            for p in procs:
                try:
                    rss += p.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            self.peak_rss[name] = max(self.peak_rss[name], rss)

    def read(self, elapsed: float) -> dict[str, dict[str, float]]:
        self.sample_memory()
        return {
            name: {
                "cores_used": round((self._cpu(procs) - self.start[name]) / elapsed, 2),
                "peak_rss_mb": round(self.peak_rss[name] / 2**20),
            }
            for name, procs in self.procs.items()
        }


def service_pids(settings) -> dict[str, int]:
    """Pids of the local stack's processes (the stream's Spark JVM is a child of its Python driver)."""
    pids = {"bench (generator)": os.getpid()}
    for svc in stack.status(settings):
        for name, pid in svc.processes.items():
            if pid is not None:
                pids[name] = pid
    return pids


def log_records(log_file: Path, kind: str) -> Iterator[dict[str, object]]:
    """The JSON records of the stream's log lines ``<kind> {...}`` (``batch``, ``progress``); a line
    cut off or garbled is skipped."""
    if not log_file.exists():
        return
    tag = f" {kind} {{"
    with log_file.open(errors="replace") as lines:
        for line in lines:
            at = line.find(tag)
            if at < 0:
                continue
            try:
                record = json.loads(line[at + len(tag) - 1 :])
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def stream_batches(log_file: Path, since: datetime, until: datetime) -> list[dict[str, object]]:
    """The stream's per-batch summaries (its log's ``batch {...}`` lines) that finished in [since, until)."""
    rows = []
    for row in log_records(log_file, "batch"):
        try:
            finished = datetime.fromisoformat(str(row["finished_at"]))
        except (ValueError, KeyError):
            continue
        if since <= finished < until:
            rows.append(row)
    return rows


def stream_progress(log_file: Path, batch_ids: set[int]) -> list[dict[str, object]]:
    """The stream's Spark progress reports (its log's ``progress {...}`` lines) of these batches."""
    found: dict[int, dict[str, object]] = {}
    for row in log_records(log_file, "progress"):
        try:
            batch_id = int(row["batch_id"])
        except (ValueError, KeyError, TypeError):
            continue
        if batch_id in batch_ids:
            found[batch_id] = row  # the last report of an id: a replay reports again
    return [found[i] for i in sorted(found)]


def progress_summary(reports: list[dict[str, object]]) -> dict[str, object]:
    """Mean milliseconds per part of a trigger (addBatch is the handler) and the deduplication state:
    rows held at most, rows evicted per trigger and the time eviction and the state commit took."""
    if not reports:
        return {"triggers": 0}
    durations: dict[str, list[float]] = {}
    state: dict[str, list[float]] = {}
    for report in reports:
        for part, ms in dict(report.get("duration_ms") or {}).items():
            durations.setdefault(part, []).append(float(ms))
        for operator in list(report.get("state") or []):
            for metric, value in dict(operator).items():
                if value is not None:
                    state.setdefault(metric, []).append(float(value))
    peaks = ("numRowsTotal", "memoryUsedBytes")
    return {
        "triggers": len(reports),
        "mean_duration_ms": {k: round(float(np.mean(v))) for k, v in sorted(durations.items())},
        "state_max": {k: int(max(v)) for k, v in sorted(state.items()) if k in peaks},
        "state_mean_per_trigger": {k: round(float(np.mean(v)), 1) for k, v in sorted(state.items()) if k not in peaks},
    }


def batch_summary(batches: list[dict[str, object]], seconds: float) -> dict[str, object]:
    """Micro-batch count, duration percentiles, mean seconds per step and the consumed rate."""
    if not batches:
        return {"batches": 0}
    durations = np.array([float(b_["duration_ms"]) / 1000 for b_ in batches])
    steps: dict[str, list[float]] = {}
    for b_ in batches:
        for step, s in dict(b_.get("step_seconds") or {}).items():
            steps.setdefault(step, []).append(float(s))
    consumed = sum(int(b_["input_total"]) for b_ in batches)
    return {
        "batches": len(batches),
        "consumed": consumed,
        "consumed_per_s": round(consumed / seconds),
        "duration_p50_s": round(float(np.percentile(durations, 50)), 2),
        "duration_p95_s": round(float(np.percentile(durations, 95)), 2),
        "duration_max_s": round(float(durations.max()), 2),
        "mean_step_seconds": {k: round(float(np.mean(v)), 3) for k, v in sorted(steps.items())},
        "mean_input_per_batch": round(consumed / len(batches)),
    }


def calibrate(settings, seconds: float, stores: int, products: int, rate: float = 2000.0) -> float:
    """The share of a requested fleet rate the simulator offers now (opening hours by zone). The
    warm-up's events go to the real topics, so the stream is warm when the runs start."""
    config = SimulationConfig(stores=stores, products=products, seed=11, rate=rate, duration=seconds, load_catalog=True)
    started = time.monotonic()
    truth = run_simulation(settings, config)
    share = sum(truth.produced.values()) / (time.monotonic() - started) / rate
    wait_for_lag(settings, 600)
    return share


def wait_for_lag(settings, timeout: float) -> bool:
    """Wait until the stream has consumed everything produced (True), or timeout seconds (False)."""
    deadline = time.monotonic() + timeout
    while read_progress(settings).total_lag > 0:
        if time.monotonic() >= deadline:
            return False
        time.sleep(2)
    return True


def run_rate(
    settings, target: float, share: float, seconds: float, stores: int, products: int, catch_up: float
) -> dict[str, object]:
    since = datetime.now(timezone.utc)
    load_at_start = os.getloadavg()
    lag_at_start = read_progress(settings).total_lag
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_lag, args=(settings, stop, samples), daemon=True)
    sampler.start()
    cpu = CpuMeter(service_pids(settings))
    memory_stop = threading.Event()

    def sample_memory() -> None:
        while not memory_stop.wait(5):
            cpu.sample_memory()

    memory = threading.Thread(target=sample_memory, daemon=True)
    memory.start()
    config = SimulationConfig(
        stores=stores, products=products, seed=11, rate=target / share, duration=seconds, load_catalog=True
    )
    started = time.monotonic()
    truth = run_simulation(settings, config)
    sent_seconds = time.monotonic() - started
    until = datetime.now(timezone.utc)
    stop.set()
    memory_stop.set()
    sampler.join()
    memory.join()
    resources = cpu.read(sent_seconds)
    produced = sum(truth.produced.values())
    # Batches that finished while events were offered: what the stream sustained under this load.
    in_window = stream_batches(log_file(settings), since, until)
    batches = batch_summary(in_window, sent_seconds)
    # Catch up before measuring latency, so every event of the run has its batch (bounded: a rate far
    # above what the stream sustains leaves a backlog of many minutes; its latency is then measured
    # over the events queryable by the deadline, and the count says how many those were).
    caught_up = wait_for_lag(settings, catch_up)
    slope = lag_slope(samples)
    return {
        "target_events_per_s": target,
        "requested_events_per_s": round(target / share),
        "lag_at_start": lag_at_start,
        "caught_up_after_run": caught_up,
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "stores": stores,
        "products": products,
        "seconds": seconds,
        "produced": produced,
        "offered_per_s": round(produced / sent_seconds),
        "stream": batches,
        "spark_triggers": progress_summary(
            stream_progress(log_file(settings), {int(b_["batch_id"]) for b_ in in_window})
        ),
        "resources": resources,
        "lag_samples": samples,
        "lag_growth_per_s_second_half": round(slope, 1),
        "flat_lag": bool(slope == slope and slope < 0.01 * target),
        "latency": latencies(settings, since),
    }


def log_file(settings) -> Path:
    return stack.run_dir(settings).parent / "logs" / "stream.log"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="2000,4000,8300", help="offered events/s for the whole fleet")
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--generator-rate", type=float, default=40000.0, help="requested rate of the generator alone")
    parser.add_argument("--calibration-seconds", type=float, default=30.0)
    parser.add_argument("--catch-up", type=float, default=300.0, help="longest wait for the backlog after a run")
    args = parser.parse_args()
    settings = get_settings()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    # A stream left running from before would be measured with whatever code it started with.
    stack.down(settings, ("stream",))
    stack.up(settings, ("warehouse", "kafka", "stream"))
    started = datetime.now(timezone.utc)
    load_at_start = os.getloadavg()
    generator = generator_alone(settings, args.generator_rate, 30.0, args.stores, args.products)
    print("generator alone", json.dumps(generator), flush=True)
    share = calibrate(settings, args.calibration_seconds, args.stores, args.products)
    print(f"offered share of the requested rate: {share:.3f}", flush=True)
    runs = []
    for rate in args.rates.split(","):
        runs.append(run_rate(settings, float(rate), share, args.seconds, args.stores, args.products, args.catch_up))
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "lag_samples"}), flush=True)
    top = runs[-1]
    consumed = dict(top["stream"]).get("consumed_per_s")
    if not top["flat_lag"] and consumed:
        probe = round(0.9 * float(consumed), -2)
        wait_for_lag(settings, args.catch_up)  # the probe starts without the top run's backlog, if it can
        runs.append(run_rate(settings, probe, share, args.seconds, args.stores, args.products, args.catch_up))
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "lag_samples"}), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-noop-") as checkpoint:
        ceiling = spark_read_ceiling(settings, Path(checkpoint))
    sustained = [r for r in runs if r["flat_lag"]]
    best = max(sustained, key=lambda r: float(r["offered_per_s"]), default=None)
    result = {
        "benchmark": "speed_layer",
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
        },
        "started_at": started.isoformat(timespec="seconds"),
        "commit": commit,  # as the stream started: the measured code
        "args": vars(args),
        "goal": {"events_per_s": 8300, "p95_event_to_queryable_s": 5.0, "flat_lag_minutes": 3},
        "generator_alone": generator,
        "offered_share_of_requested": round(share, 3),
        "highest_sustained_events_per_s": best["offered_per_s"] if best else None,
        "highest_sustained_p95_s": dict(best["latency"])["event_to_queryable"].get("p95_s") if best else None,
        "spark_read_ceiling": ceiling,
        "runs": runs,
    }
    if best:
        result["sustained_share_of_ceiling"] = round(float(best["offered_per_s"]) / ceiling["messages_per_s"], 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2, default=str))
    for r in runs:
        consumed_per_s = dict(r["stream"]).get("consumed_per_s")
        print(r["target_events_per_s"], r["offered_per_s"], r["flat_lag"], r["latency"], consumed_per_s)


if __name__ == "__main__":
    main()
