"""Inventory API benchmark: GET stock latency under concurrent clients, and POST adjust throughput
with acks=all, against the real API process, warehouse endpoint and Kafka broker.

    .venv/bin/python -m bench.inventory_api [--quick]

Starts its own stack (state in a temporary folder, free ports, so it runs beside `make up` and the
tests), loads a catalogue of stores x products into the dimensions and their stock into rt_stock,
then drives the API with an async HTTP load generator (httpx) in this process: the generator shares
the machine's two cores with the server. Writes bench/results/inventory_api.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from retail_platform.api import auth
from retail_platform.runtime import stack
from retail_platform.settings import get_settings
from retail_platform.warehouse.client import connect

RESULTS = Path(__file__).resolve().parent / "results" / "inventory_api.json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(state: Path):
    # Free ports picked now: the benchmark's stack runs beside `make up`, the tests and other stacks.
    env = {
        "RETAIL_STATE_DIR": str(state),
        "RETAIL_CLICKHOUSE_URL": f"http://127.0.0.1:{_free_port()}",
        "RETAIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{_free_port()}",
        "RETAIL_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "RETAIL_AIRFLOW_URL": f"http://127.0.0.1:{_free_port()}",
        "RETAIL_API_URL": f"http://127.0.0.1:{_free_port()}",
        "RETAIL_DEPS_DIR": os.environ.get("RETAIL_DEPS_DIR", str(Path(__file__).resolve().parents[1] / ".deps")),
    }
    # The runtime's steps read the process settings (migrations after the warehouse starts), so the
    # benchmark's stack is described by this process's environment.
    os.environ.update(env)
    get_settings.cache_clear()
    return get_settings()


def _seed(settings, stores: int, products: int) -> tuple[list[str], list[str]]:
    store_ids = [f"store_{i:03d}" for i in range(1, stores + 1)]
    skus = [f"SKU{i:05d}" for i in range(1, products + 1)]
    client = connect(settings)
    at = datetime.now(timezone.utc) - timedelta(minutes=1)
    store_columns = ["store_id", "store_name", "store_type", "city", "region", "country", "opened_on"]
    client.insert("dim_store", [[s, s, "supermarket", "Lyon", "Rhone", "FR", at.date()] for s in store_ids],
                  column_names=store_columns)  # fmt: skip
    client.insert("dim_product", [[p, at, p, "dairy", "SUP001", 1.0, 2.0] for p in skus],
                  column_names=["product_id", "valid_from", "product_name", "category", "supplier_id", "unit_cost",
                                "unit_price"])  # fmt: skip
    rows = [[s, p, 1000, 1000, "delivery", at, str(uuid.uuid4()), 0, 0] for s in store_ids for p in skus]
    client.insert("rt_stock", rows, column_names=["store_id", "product_id", "quantity", "quantity_change", "reason",
                                                  "event_time", "event_id", "version", "batch_id"])  # fmt: skip
    client.close()
    return store_ids, skus


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50_ms": round(pick(0.50), 1), "p95_ms": round(pick(0.95), 1), "p99_ms": round(pick(0.99), 1),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1)}  # fmt: skip


async def _gets(url: str, token: str, stores: list[str], skus: list[str], clients: int, seconds: float):
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=headers) as http:
        deadline = time.monotonic() + seconds

        async def worker(seed: int) -> None:
            nonlocal errors
            rnd = random.Random(seed)
            while time.monotonic() < deadline:
                path = f"/api/v1/inventory/{rnd.choice(skus)}?storeId={rnd.choice(stores)}"
                t0 = time.perf_counter()
                reply = await http.get(path)
                latencies.append(time.perf_counter() - t0)
                errors += reply.status_code != 200

        await asyncio.gather(*(worker(i) for i in range(clients)))
    return latencies, errors


async def _posts(url: str, token: str, stores: list[str], skus: list[str], clients: int, seconds: float):
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as http:
        deadline = time.monotonic() + seconds

        async def worker(seed: int) -> None:
            nonlocal errors
            rnd = random.Random(seed)
            while time.monotonic() < deadline:
                body = {"storeId": rnd.choice(stores), "quantity": 1, "reason": "restock"}
                t0 = time.perf_counter()
                reply = await http.post(f"/api/v1/inventory/{rnd.choice(skus)}/adjust", json=body,
                                        headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
                latencies.append(time.perf_counter() - t0)
                errors += reply.status_code != 202

        await asyncio.gather(*(worker(i) for i in range(clients)))
    return latencies, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inventory_api")
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test of the benchmark)")
    args = parser.parse_args(argv)
    seconds = 5.0 if args.quick else 30.0
    state = Path(tempfile.mkdtemp(prefix="bench-inventory-api-"))
    settings = _settings(state)
    try:
        stack.up(settings, ("api",))
        stores, skus = _seed(settings, 20, 50)
        token = auth.issue_token(auth.load_secret(settings.api_secret_file), "bench", "integration", ["*"])
        results: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "data": {"stores": len(stores), "products": len(skus), "stock_rows": len(stores) * len(skus)},
            "get_stock": {},
        }
        asyncio.run(_gets(settings.api_url, token, stores, skus, 10, 3.0))  # warm-up
        for clients in (1, 50, 200):
            lat, errors = asyncio.run(_gets(settings.api_url, token, stores, skus, clients, seconds))
            results["get_stock"][f"{clients}_clients"] = {"requests": len(lat), "errors": errors,
                                                          "requests_per_s": round(len(lat) / seconds, 1),
                                                          **_percentiles(lat)}  # fmt: skip
            print(f"GET stock, {clients} clients: {results['get_stock'][f'{clients}_clients']}")
        lat, errors = asyncio.run(_posts(settings.api_url, token, stores, skus, 20, seconds))
        results["post_adjust"] = {"clients": 20, "requests": len(lat), "errors": errors, "acks": "all",
                                  "events_per_s": round(len(lat) / seconds, 1), **_percentiles(lat)}  # fmt: skip
        print(f"POST adjust, 20 clients: {results['post_adjust']}")
        results["goal"] = {"get_p95_ms_at_200_clients": 50,
                           "met": results["get_stock"]["200_clients"]["p95_ms"] <= 50}  # fmt: skip
        results["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if not args.quick:
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")
            print(f"wrote {RESULTS}")
    finally:
        stack.down(settings, log=lambda _: None)
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
