"""Closed-loop benchmark through the production path: a fleet follows the platform's reorder
recommendations, computed each simulated day by the warehouse-side entry point of the
stock_optimization DAG from the facts and forecasts written to the warehouse.

    .venv/bin/python -m bench.closed_loop [--stores 20 --products 200 --days 60]

Each simulated morning (retail_platform/simulation/closed_loop_warehouse.py): the closed day's facts
(fact_sales, fact_inventory with on hand and stock on order) and the forecast made on it
(ml_demand_forecast) are written to the warehouse, ``optimization.warehouse.run_day`` computes that
day's recommendations from on hand + on order, and the simulation reads ``ml_reorder_recommendations``
back and places every order due; demand, lead times and deliveries are the simulation's
(retail_platform/simulation/closed_loop.py). The warehouse is the bench's own endpoint (ports 45xxx,
state in .state/bench-closed-loop, wiped first): it never touches a running stack or the test
services. Run it under the machine-wide lock.

Writes bench/results/closed_loop.json: the cycle service level overall and for the store/products the
shelf-life rule never cut, and the fill rate, each beside its target, with the rest of the loop's
measures, the seconds per simulated day in each part of the path and the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from retail_platform.settings import REPO_ROOT, Settings, load_settings

RESULTS = Path(__file__).resolve().parent / "results" / "closed_loop.json"
BENCH_ENV = {
    "RETAIL_STATE_DIR": str(REPO_ROOT / ".state" / "bench-closed-loop"),
    "RETAIL_KAFKA_BOOTSTRAP": "127.0.0.1:45092",
    "RETAIL_KAFKA_CONTROLLER_PORT": "45093",
    "RETAIL_CLICKHOUSE_URL": "http://127.0.0.1:45123",
    "RETAIL_AIRFLOW_URL": "http://127.0.0.1:45080",
}
# Targets: the configured service level (what Z is set for) for cycles of items the shelf-life rule
# leaves alone, 90 % over all cycles, and seed 000's fill-rate KPI.
TARGETS = {
    "cycle_service_level_not_shelf_limited": 0.95,
    "cycle_service_level": 0.90,
    "fill_rate": 0.98,
}


def bench_settings() -> Settings:
    """The bench's own ports and state, also for code that reads settings itself."""
    for name in [k for k in os.environ if k.startswith("RETAIL_")]:
        del os.environ[name]
    os.environ.update(BENCH_ENV)
    return load_settings(os.environ)


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """Each target beside the figure measured, and whether it is met."""
    return {
        name: {"measured": round(result[name], 4), "target": target, "met": result[name] >= target}
        for name, target in TARGETS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--service-level", type=float, default=0.95)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from retail_platform.optimization.policy import OptimizationConfig
    from retail_platform.runtime import stack
    from retail_platform.simulation.closed_loop import ClosedLoopConfig, run
    from retail_platform.simulation.closed_loop_warehouse import Timings, through_warehouse
    from retail_platform.warehouse.client import connect

    settings = bench_settings()
    stack.down(settings, log=lambda _: None)
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    config = ClosedLoopConfig(
        stores=args.stores,
        products=args.products,
        days=args.days,
        seed=args.seed,
        optimization=OptimizationConfig(service_level=args.service_level),
    )
    load_at_start = os.getloadavg()
    started = time.monotonic()
    stack.up(settings, ("warehouse",))
    try:
        client = connect(settings)
        try:
            timings = Timings()
            result = run(config, through_warehouse(client, settings.clickhouse_database, timings)).to_dict()
            recommendation_rows = client.query("SELECT count() FROM ml_reorder_recommendations").result_rows[0][0]
        finally:
            client.close()
    finally:
        stack.down(settings, log=lambda _: None)
    wall = time.monotonic() - started
    targets = headline(result)
    out = {
        "benchmark": "closed_loop",
        "path": "production: facts and forecasts written to the warehouse, optimization.warehouse.run_day, "
        "ml_reorder_recommendations read back and executed by the simulation",
        "targets": targets,
        "result": result,
        "production_path": {
            "recommendation_rows": int(recommendation_rows),
            "seconds_per_day": timings.summary(),
        },
        "measured": {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_s": round(wall, 1),
            "load_at_start": [round(x, 2) for x in load_at_start],
            "load_at_end": [round(x, 2) for x in os.getloadavg()],
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps(targets, indent=2))
    print(f"wrote {args.output}")
    return 0 if all(t["met"] for t in targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
