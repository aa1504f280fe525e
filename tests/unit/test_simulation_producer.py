"""run_simulation's configuration, budgets, stops, keys and topics, and the CLI's options (the Kafka
path itself is in tests/integration/test_simulation_kafka.py)."""

from __future__ import annotations

import json
import math
import threading
from datetime import datetime, timezone

import pytest

from retail_platform.events.contracts import EVENT_TYPES
from retail_platform.settings import get_settings
from retail_platform.simulation.__main__ import parser
from retail_platform.simulation.catalog import generate_catalog
from retail_platform.simulation.faults import FaultRates
from retail_platform.simulation.generator import VALID_STEPS
from retail_platform.simulation.ground_truth import GroundTruth
from retail_platform.simulation.producer import MemorySink, SimulationConfig, run_simulation

START = datetime(2025, 6, 3, 15, 0, tzinfo=timezone.utc)


def run(config: SimulationConfig, stop: threading.Event | None = None) -> tuple[GroundTruth, MemorySink]:
    sink = MemorySink(generate_catalog(config.catalog_config()).store_ids)
    return run_simulation(get_settings(), config, sink=sink, stop=stop), sink


def test_rates_set_the_demand_level():
    assert SimulationConfig(stores=10, rate=2000).store_rate_per_min == 12_000
    assert SimulationConfig(rate_per_store_per_min=300).lines_per_store_hour == 300 * 60 / 2
    # At 60x speed the same real rate needs 60x less demand per simulated hour.
    assert SimulationConfig(rate_per_store_per_min=300, speed=60).lines_per_store_hour == 150
    assert SimulationConfig(rate_per_store_per_min=300, speed=math.inf).lines_per_store_hour == 9000
    with pytest.raises(ValueError):
        SimulationConfig(rate=1, rate_per_store_per_min=1)
    with pytest.raises(ValueError):
        SimulationConfig(speed=0)


@pytest.mark.parametrize(
    ("stores", "rate", "speed"), [(5, None, 1.0), (1000, 8333, 1.0), (20, 2000, math.inf), (3, 10, 3600.0)]
)
def test_steps_divide_the_hour_and_bound_memory_and_stop_latency(stores, rate, speed):
    config = SimulationConfig(stores=stores, rate=rate, speed=speed)
    step = config.step()
    assert step in VALID_STEPS
    peak_events = config.store_rate_per_min / 60 * stores * 2 * step / (speed if math.isfinite(speed) else 1)
    assert peak_events <= 40_000 or step == 1
    if math.isfinite(speed):
        assert step / speed <= 2.0 or step == 1


def test_events_budget_keys_and_topics():
    truth, sink = run(SimulationConfig(stores=3, products=10, speed=math.inf, start=START, events=1500))
    valid = sum(truth.events.values())
    assert 1500 <= valid < 1510  # cut after the instant that holds the 1500th event
    assert len(sink.messages) == valid
    for topic, key, value in sink.messages:
        event = json.loads(value)
        assert key == event["store_id"].encode()
        assert topic == EVENT_TYPES[event["event_type"]].topic.name


def test_a_stop_request_ends_the_run_with_a_consistent_final_truth(tmp_path):
    stop = threading.Event()
    stop.set()  # already set: the first step is sent, then the run ends cleanly
    path = tmp_path / "truth.json"
    config = SimulationConfig(
        stores=3, products=10, speed=math.inf, start=START, ground_truth_path=path,
        faults=FaultRates(late=0.2, duplicates=0.2),
    )  # fmt: skip
    truth, sink = run(config, stop=stop)
    assert truth.final and truth.reconciliation_errors() == []
    assert sum(truth.produced.values()) == len(sink.messages) > 0
    assert GroundTruth.read(path) == truth


def test_paced_duration_bounds_the_simulated_window():
    # 0.2 real seconds at 600x: two simulated minutes, sent at the pace of event time.
    truth, sink = run(SimulationConfig(stores=2, products=5, speed=600, start=START, duration=0.2))
    assert truth.sim_start == "2025-06-03T15:00:00.000Z" and truth.sim_end == "2025-06-03T15:02:00.000Z"
    times = [json.loads(v)["event_time"] for _, _, v in sink.messages]
    assert times and all("2025-06-03T15:00:00.000Z" <= t < "2025-06-03T15:02:00.000Z" for t in times)


def test_cli_options():
    args = parser().parse_args(
        ["--stores", "20", "--rate", "2000", "--speed", "max", "--events", "100", "--load-catalog",
         "--faults", "duplicates=0.01,late=0.01,out_of_order=0.01,malformed=0.005,invalid=0.005",
         "--start", "2025-06-02T10:00:00Z", "--ground-truth", "gt.json"]
    )  # fmt: skip
    assert args.speed == math.inf and args.rate == 2000 and args.events == 100 and args.load_catalog
    assert args.faults == FaultRates(duplicates=0.01, late=0.01, out_of_order=0.01, malformed=0.005, invalid=0.005)
    assert args.start == datetime(2025, 6, 2, 10, tzinfo=timezone.utc)
    assert parser().parse_args(["--rate-per-store-per-min", "300"]).rate_per_store_per_min == 300
    for bad in (["--faults", "typo=1"], ["--rate", "1", "--rate-per-store-per-min", "1"], ["--speed", "0"],
                ["--start", "2025-06-02T10:00:00"], ["--duration", "1", "--events", "1"]):  # fmt: skip
        with pytest.raises(SystemExit):
            parser().parse_args(bad)
