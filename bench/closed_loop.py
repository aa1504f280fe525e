"""Closed-loop benchmark: a moderate fleet follows the platform's reorder recommendations for 30 days.

Runs retail_platform.simulation.closed_loop (pure, deterministic: no services) for 20 stores x 200
products at service levels 0.90, 0.95 and 0.98 and writes bench/results/closed_loop.json: stock-out
rate (share of store/product-days with demand on which some went unmet), cycle service level, fill
rate, average inventory, orders, and the run time. The 95 % run is the headline ("result").

    .venv/bin/python -m bench.closed_loop [--stores 20 --products 200 --days 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from retail_platform.optimization.policy import OptimizationConfig
from retail_platform.simulation.closed_loop import ClosedLoopConfig, run

RESULTS = Path(__file__).parent / "results" / "closed_loop.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    runs = {}
    for level in (0.90, 0.95, 0.98):
        config = ClosedLoopConfig(
            stores=args.stores,
            products=args.products,
            days=args.days,
            seed=args.seed,
            optimization=OptimizationConfig(service_level=level),
        )
        started = time.perf_counter()
        result = run(config).to_dict()
        result["run_seconds"] = round(time.perf_counter() - started, 2)
        runs[f"{level:.2f}"] = result
    out = {
        "benchmark": "closed_loop",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "result": runs["0.95"],
        "by_service_level": {
            k: {
                m: v[m]
                for m in (
                    "stockout_rate",
                    "cycle_service_level",
                    "cycle_service_level_not_shelf_limited",
                    "fill_rate",
                    "average_inventory_units",
                    "average_inventory_value",
                    "average_days_of_cover",
                    "orders",
                    "meets_service_level",
                    "run_seconds",
                )
            }
            for k, v in runs.items()
        },  # fmt: skip
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps(out["by_service_level"], indent=2))
    print(f"wrote {RESULTS}")
    return 0 if out["result"]["meets_service_level"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
