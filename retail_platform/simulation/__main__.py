"""``python -m retail_platform.simulation``: run the POS/WMS simulators into Kafka.

Examples::

    python -m retail_platform.simulation --stores 20 --rate 2000 --load-catalog --ground-truth gt.json
    python -m retail_platform.simulation --stores 10 --rate-per-store-per-min 300 --duration 60 \\
        --faults duplicates=0.01,late=0.01,out_of_order=0.01,malformed=0.005,invalid=0.005
    python -m retail_platform.simulation --speed max --events 500000   # as fast as possible

Ctrl-C (SIGINT) or SIGTERM stops cleanly: the current step is sent, held-back faults are released,
the producer is flushed and the final ground truth is written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from retail_platform.settings import SettingsError, get_settings
from retail_platform.simulation.faults import DemandBurst, FaultRates, StockCount
from retail_platform.simulation.producer import SimulationConfig, run_simulation, stop_on_signals


def _speed(text: str) -> float:
    if text in ("max", "inf", "unpaced"):
        return math.inf
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be positive, or 'max'")
    return value


def _start(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("--start needs a time zone, e.g. 2025-06-02T10:00:00Z")
    return moment


def _faults(text: str) -> FaultRates:
    try:
        return FaultRates.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _stock_count(text: str) -> StockCount:
    try:
        return StockCount.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _demand_burst(text: str) -> DemandBurst:
    try:
        return DemandBurst.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m retail_platform.simulation",
        description="POS/WMS simulators: sales, stock movements and price changes into Kafka, with a ground truth.",
    )
    p.add_argument("--stores", type=int, default=5)
    p.add_argument("--products", type=int, default=50)
    p.add_argument("--suppliers", type=int, default=None, help="default: one per 25 products, at least 2")
    p.add_argument("--seed", type=int, default=4)
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--rate", type=float, help="events/s for the whole fleet (averaged over opening hours)")
    rate.add_argument(
        "--rate-per-store-per-min", type=float, help="events per store per minute (default 300; seed 004: 100-500)"
    )
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=float, help="seconds to run (real time)")
    stop.add_argument("--events", type=int, help="stop after this many valid events (faults are extra)")
    p.add_argument("--speed", type=_speed, default=1.0, help="simulated seconds per real second, or 'max' (default 1)")
    p.add_argument("--start", type=_start, help="simulated start (ISO-8601 with zone); default now")
    p.add_argument("--faults", type=_faults, default=FaultRates(), help="e.g. duplicates=0.01,late=0.01,...")
    p.add_argument(
        "--stock-count",
        type=_stock_count,
        action="append",
        default=[],
        metavar="STORE:PRODUCT:UNITS@SECONDS",
        help="inject a stock count that finds UNITS fewer (negative: more) than the records, SECONDS of simulated "
        "time after the start (store and product: catalogue indices from 0); repeatable",
    )
    p.add_argument(
        "--demand-burst",
        type=_demand_burst,
        action="append",
        default=[],
        metavar="STORE:PRODUCT:FACTOR@FROM-TO",
        help="inject a run on a product: its demand times FACTOR from FROM to TO seconds of simulated time "
        "after the start (store and product: catalogue indices from 0); repeatable",
    )
    p.add_argument("--ground-truth", type=Path, help="JSON file written every few seconds and at the end")
    p.add_argument("--load-catalog", action="store_true", help="write dims, rt_reorder_policy and landing files first")
    p.add_argument("--step", type=int, help="simulated seconds per generated step (divisor of 3600)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = SimulationConfig(
            stores=args.stores,
            products=args.products,
            suppliers=args.suppliers,
            seed=args.seed,
            rate=args.rate,
            rate_per_store_per_min=args.rate_per_store_per_min,
            speed=args.speed,
            start=args.start,
            duration=args.duration,
            events=args.events,
            faults=args.faults,
            stock_counts=tuple(args.stock_count),
            demand_bursts=tuple(args.demand_burst),
            ground_truth_path=args.ground_truth,
            load_catalog=args.load_catalog,
            step_seconds=args.step,
            progress=not args.quiet,
        )
        settings = get_settings()
    except (ValueError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    started = time.monotonic()
    with stop_on_signals(stop):
        try:
            truth = run_simulation(settings, config, stop=stop, log=lambda m: print(m, file=sys.stderr))
        except Exception as exc:  # a clear one-line error for the usual causes (broker down, no topic)
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    elapsed = time.monotonic() - started
    produced = sum(truth.produced.values())
    summary = {
        "run_id": truth.run_id,
        "seconds": round(elapsed, 2),
        "produced": produced,
        "events_per_second": round(produced / elapsed, 1) if elapsed > 0 else None,
        **truth.totals(),
        "faults": dict(truth.fault_summary()),
        "send_errors": truth.send_errors,
        "ground_truth": str(args.ground_truth) if args.ground_truth else None,
    }
    print(json.dumps(summary))
    return 0 if truth.send_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
