"""Batch-layer benchmark: daily_etl on a day of 1M sales, its ceiling, a 30-day backfill, and the
dashboard/KPI queries over 100M fact rows, alone and with 100 concurrent clients.

    .venv/bin/python -m bench.batch_layer [--quick] [--parts daily,backfill,dashboards]

Writes bench/results/batch_layer.json: the parts run replace their sections, the others keep their
last results, each with when and under what load it was measured. Runs its own warehouse endpoint
(ports 45xxx, state in .state/bench, wiped first) so it never touches a running stack or the test
services.

- daily: the history generator writes one day of ``--day-sales`` sale lines (and the inventory events
  that go with them) to bronze; ``daily.run_day`` then recomputes it end to end in one Spark session
  (bronze -> silver -> facts, watermark, checks). The ceiling, in the same run: the engine's own
  ``INSERT ... SELECT`` of the same bronze Parquet files into a copy of fact_sales (no dedup, no
  validation, no conformance: the least any load of those rows costs here).
- backfill: ``daily.run_days`` over 30 days of ``--backfill-sales`` lines a day (the range mode, one
  Spark application), seconds per day.
- dashboards: fact_sales filled to ``--fact-rows`` rows (synthetic, spread over 400 days, 50 stores and
  1,000 products) and fact_inventory with a snapshot per store/product/day, every day closed, and the
  serving aggregates rebuilt from them (timed, with what one daily load adds); then each dashboard
  query ``--repeat`` times alone (p50/p95), then ``--clients`` threads, each with its own HTTP client,
  running the queries round-robin.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from retail_platform.settings import REPO_ROOT, Settings, load_settings

RESULTS = Path(__file__).resolve().parent / "results" / "batch_layer.json"
BENCH_ENV = {
    "RETAIL_STATE_DIR": str(REPO_ROOT / ".state" / "bench"),
    "RETAIL_KAFKA_BOOTSTRAP": "127.0.0.1:45092",
    "RETAIL_KAFKA_CONTROLLER_PORT": "45093",
    "RETAIL_CLICKHOUSE_URL": "http://127.0.0.1:45123",
    "RETAIL_AIRFLOW_URL": "http://127.0.0.1:45080",
}

# The dashboards of seed 004 (executive, store manager, inventory analyst) and the KPI views.
DASHBOARD_QUERIES = {
    "exec_revenue_30d": "SELECT * FROM v_exec_daily WHERE date >= today() - 30 ORDER BY date",
    "store_last_7d": "SELECT * FROM v_store_daily WHERE store_id = 'store_007' AND date >= today() - 7 ORDER BY date",
    "store_stock_below_rop": (
        "SELECT product_id, quantity_on_hand, reorder_point FROM v_stock_current "
        "WHERE store_id = 'store_007' AND is_below_reorder_point ORDER BY quantity_on_hand LIMIT 100"
    ),
    "analyst_category_90d": (
        "SELECT category, sum(revenue) AS revenue, sum(profit) AS profit, sum(units) AS units "
        "FROM v_category_daily WHERE date >= today() - 90 GROUP BY category ORDER BY revenue DESC"
    ),
    "kpi_stockout_rate_30d": (
        "SELECT date, avg(stockout_rate) FROM v_kpi_stockout_rate WHERE date >= today() - 30 "
        "GROUP BY date ORDER BY date"
    ),
    "kpi_turnover_3m": (
        "SELECT month, store_id, turnover_annualised FROM v_kpi_inventory_turnover "
        "WHERE month >= toStartOfMonth(today() - 90) ORDER BY month, store_id"
    ),
    "kpi_days_of_supply_store": (
        "SELECT product_id, days_of_supply FROM v_kpi_days_of_supply WHERE store_id = 'store_007' "
        "ORDER BY days_of_supply LIMIT 50"
    ),
    "kpi_dead_stock": "SELECT * FROM v_kpi_dead_stock ORDER BY dead_stock_rate DESC",
    "kpi_fill_rate_30d": (
        "SELECT date, sum(units_sold) / (sum(units_sold) + sum(est_lost_units)) FROM v_kpi_fill_rate "
        "WHERE date >= today() - 30 GROUP BY date ORDER BY date"
    ),
    "kpi_carrying_cost_3m": (
        "SELECT month, sum(carrying_cost) FROM v_kpi_carrying_cost WHERE month >= toStartOfMonth(today() - 90) "
        "GROUP BY month ORDER BY month"
    ),
}

# Queries too slow to run 100 at once (none since the views read the serving aggregates).
CONCURRENT_EXCLUDED: tuple[str, ...] = ()
DASH_DAYS, DASH_STORES, DASH_PRODUCTS = 400, 50, 1000
FILL_SALES = """INSERT INTO fact_sales (sale_id, date_key, event_time, store_id, product_id, category, quantity,
    unit_price, unit_cost, batch_id)
SELECT
    concat('bench-', toString(number)) AS sale_id,
    toDate('{first}') + toUInt32(number % {days}) AS date_key,
    toDateTime64(date_key, 3, 'UTC') + toIntervalSecond(intHash32(number) % 86400) AS event_time,
    concat('store_', leftPad(toString(cityHash64(number, 1) % {stores}), 3, '0')) AS store_id,
    concat('SKU', leftPad(toString(cityHash64(number, 2) % {products}), 4, '0')) AS product_id,
    concat('category_', toString((cityHash64(number, 2) % {products}) % 20)) AS category,
    toInt32(1 + cityHash64(number, 3) % 4) AS quantity,
    toDecimal64(2 + (cityHash64(number, 2) % {products}) % 50, 2) AS unit_price,
    toDecimal64(1 + (cityHash64(number, 2) % {products}) % 30, 2) AS unit_cost,
    'bench' AS batch_id
FROM numbers({rows})"""
FILL_INVENTORY = """INSERT INTO fact_inventory (date_key, store_id, product_id, category, supplier_id, quantity_on_hand,
    quantity_sold, reorder_point, safety_stock, unit_cost, last_event_id, last_event_time, batch_id)
SELECT
    toDate('{first}') + toUInt32(number % {days}) AS date_key,
    concat('store_', leftPad(toString(intDiv(number, {days}) % {stores}), 3, '0')) AS store_id,
    concat('SKU', leftPad(toString(intDiv(number, {days} * {stores})), 4, '0')) AS product_id,
    concat('category_', toString(intDiv(number, {days} * {stores}) % 20)) AS category,
    'SUP01' AS supplier_id,
    toInt32(intHash32(number) % 60) - 2 AS quantity_on_hand,
    toInt32(cityHash64(number, 1) % 12) AS quantity_sold,
    toUInt32(10) AS reorder_point,
    toUInt32(4) AS safety_stock,
    toDecimal64(1 + intDiv(number, {days} * {stores}) % 30, 2) AS unit_cost,
    concat('inv-', toString(number)) AS last_event_id,
    toDateTime64(date_key, 3, 'UTC') + toIntervalHour(20) AS last_event_time,
    'bench' AS batch_id
FROM numbers({rows})"""


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return {
        "p50_ms": round(at(0.50) * 1000, 1),
        "p95_ms": round(at(0.95) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "n": len(ordered),
    }


def bench_settings() -> Settings:
    """The bench's own ports and state, also for child processes and code that reads settings itself."""
    for name in [k for k in os.environ if k.startswith("RETAIL_")]:
        del os.environ[name]
    os.environ.update(BENCH_ENV)
    return load_settings(os.environ)


def spark_session(settings: Settings) -> Any:
    from retail_platform.spark import job_session

    return job_session("bench-batch-layer", settings, driver_memory="6g")


def history_config(end: date, days: int, sales_per_day: int) -> Any:
    from retail_platform.simulation.bronze_history import HistoryConfig

    stores, products = 50, 1000
    return HistoryConfig(
        end_date=end,
        days=days,
        stores=stores,
        products=products,
        seed=7,
        lines_per_store_hour=sales_per_day / 24 / stores,
    )


def bench_daily(settings: Settings, spark: Any, client: Any, sales: int, reuse: bool = False) -> dict[str, Any]:
    from retail_platform.batch import daily
    from retail_platform.simulation.bronze_history import write_history
    from retail_platform.simulation.catalog_load import load_warehouse
    from retail_platform.streaming.bronze import table_path

    day = date(2026, 6, 15)
    config = history_config(day, 1, sales)
    load_warehouse(config.catalog(), settings, client)
    bronze_day = Path(table_path(settings, "sales_transaction").removeprefix("file://")) / (
        f"year={day:%Y}/month={day:%m}/day={day:%d}"
    )
    generate_s: float | None = None
    if not (reuse and any(bronze_day.glob("*.parquet"))):
        t0 = time.monotonic()
        write_history(config, settings, spark)
        generate_s = round(time.monotonic() - t0, 1)

    t0 = time.monotonic()
    result = daily.run_day(spark, settings, day, "bench")
    etl_s = time.monotonic() - t0
    bronze_rows = sum(r.rows for r in result.types.values())
    sale_lines = result.types["sales_transaction"].rows  # the generator writes no duplicates

    # The ceiling: the engine reads the day's bronze sales Parquet and writes fact_sales-shaped rows.
    files = sorted(bronze_day.glob("*.parquet"))
    client.command("DROP TABLE IF EXISTS ceiling_sales")
    client.command("CREATE TABLE ceiling_sales AS fact_sales")
    ceiling_rows = 0
    t0 = time.monotonic()
    for path in files:
        client.command(
            "INSERT INTO ceiling_sales (sale_id, date_key, event_time, store_id, product_id, category, quantity,"
            " unit_price, unit_cost, batch_id) SELECT transaction_id, toDate(event_time), event_time, store_id,"
            " product_id, '', quantity, toDecimal64(unit_price, 2), toDecimal64(0, 2), 'ceiling'"
            f" FROM file('{path}', Parquet)"
        )
    ceiling_s = time.monotonic() - t0
    ceiling_rows = client.query("SELECT count() FROM ceiling_sales").result_rows[0][0]
    client.command("DROP TABLE IF EXISTS ceiling_sales")
    return {
        "day": day.isoformat(),
        "sale_lines": sale_lines,
        "bronze_rows_all_types": bronze_rows,
        "history_generation_s": generate_s,  # None: the history of an earlier run was reused
        "daily_etl_s": round(etl_s, 1),
        "daily_etl_rows_per_s": round(bronze_rows / etl_s),
        "daily_etl_sales_per_s": round(sale_lines / etl_s),
        "fact_sales_rows": result.sales_rows,
        "fact_inventory_rows": result.inventory_rows,
        "phase_seconds": result.summary()["seconds"],
        "spark_step_seconds": {t: daily.round_all(r.seconds) for t, r in result.types.items()},
        "ceiling_insert_select_s": round(ceiling_s, 2),
        "ceiling_rows": int(ceiling_rows),
        "ceiling_rows_per_s": round(ceiling_rows / ceiling_s) if ceiling_s else None,
        "goal_s": 30,  # issue 17: within 10x of the ceiling
    }


def bench_backfill(settings: Settings, spark: Any, client: Any, sales: int, days: int) -> dict[str, Any]:
    from retail_platform.batch import daily
    from retail_platform.simulation.bronze_history import write_history
    from retail_platform.simulation.catalog_load import load_warehouse

    end = date(2026, 5, 31)
    config = history_config(end, days, sales)
    load_warehouse(config.catalog(), settings, client)
    t0 = time.monotonic()
    write_history(config, settings, spark)
    generate_s = time.monotonic() - t0
    t0 = time.monotonic()
    span = daily.run_days(spark, settings, config.first_day, end, "bench")
    total = time.monotonic() - t0
    rows = sum(sum(r.rows for r in d.types.values()) for d in span.days)
    # The fixed cost of a day: a re-run of one day of the range alone against the range's time per day.
    # (range - one day) / (days - 1) is what each further day adds, row work included.
    t0 = time.monotonic()
    daily.run_days(spark, settings, end, end, "bench-one-day")
    one_day = time.monotonic() - t0
    phases: dict[str, float] = {}
    for done in span.days:
        for name, seconds in done.seconds.items():
            phases[name] = phases.get(name, 0.0) + seconds
    return {
        "days": days,
        "one_day_alone_s": round(one_day, 1),
        "each_further_day_s": round((total - one_day) / max(days - 1, 1), 2),
        "phase_seconds_per_day": {k: round(v / days, 3) for k, v in phases.items()},
        "goal_s": 120,
        "sale_lines_per_day": sales,
        "history_generation_s": round(generate_s, 1),
        "backfill_s": round(total, 1),
        "seconds_per_day": round(total / days, 2),
        "bronze_rows": rows,
        "rows_per_s": round(rows / total),
        "failed_days": sorted(span.failed),
    }


def fill_dashboard_facts(client: Any, fact_rows: int) -> dict[str, Any]:
    from retail_platform.batch import aggregates

    first = datetime.now(timezone.utc).date() - timedelta(days=DASH_DAYS)
    fmt = {"first": first, "days": DASH_DAYS, "stores": DASH_STORES, "products": DASH_PRODUCTS}
    client.command("TRUNCATE TABLE fact_sales")
    client.command("TRUNCATE TABLE fact_inventory")
    client.command("TRUNCATE TABLE ops_batch_watermark")
    t0 = time.monotonic()
    chunk = 10_000_000
    for start in range(0, fact_rows, chunk):
        n = min(chunk, fact_rows - start)
        sql = FILL_SALES.format(**fmt, rows=f"{start}, {n}")
        client.command(sql, settings={"max_insert_threads": 2})
    sales_s = time.monotonic() - t0
    t0 = time.monotonic()
    inventory_rows = DASH_DAYS * DASH_STORES * DASH_PRODUCTS
    client.command(FILL_INVENTORY.format(**fmt, rows=inventory_rows))
    inventory_s = time.monotonic() - t0
    client.command(
        "INSERT INTO ops_batch_watermark (day, loaded_at, batch_id, bronze_rows, duplicates_dropped, quarantined_rows,"
        f" sales_rows, inventory_rows, duration_ms) SELECT toDate('{first}') + number, now64(3), 'bench', 0, 0, 0, 0,"
        f" 0, 0 FROM numbers({DASH_DAYS})"
    )
    client.command("OPTIMIZE TABLE fact_sales FINAL")
    client.command("OPTIMIZE TABLE fact_inventory FINAL")
    # The serving aggregates, as the daily loads would have left them: every day rebuilt, then what one
    # daily load adds (the newest day), and a re-run of a day two weeks back (which also rebuilds the
    # fill-rate estimates of the days after it).
    last = first + timedelta(days=DASH_DAYS - 1)
    t0 = time.monotonic()
    aggregates.refresh(client, client.database, first, last)
    rebuild_s = time.monotonic() - t0
    for table in ("agg_sales_daily", "agg_store_daily"):
        client.command(f"OPTIMIZE TABLE {table} FINAL")
    t0 = time.monotonic()
    aggregates.refresh(client, client.database, last, last)
    newest_day_s = time.monotonic() - t0
    t0 = time.monotonic()
    aggregates.refresh(client, client.database, last - timedelta(days=14), last - timedelta(days=14))
    rerun_day_s = time.monotonic() - t0
    return {
        "fact_sales_rows": client.query("SELECT count() FROM fact_sales").result_rows[0][0],
        "fact_inventory_rows": client.query("SELECT count() FROM fact_inventory").result_rows[0][0],
        "fill_sales_s": round(sales_s, 1),
        "fill_inventory_s": round(inventory_s, 1),
        "aggregates_rebuild_all_days_s": round(rebuild_s, 1),
        "aggregates_refresh_newest_day_s": round(newest_day_s, 2),
        "aggregates_refresh_day_14_days_back_s": round(rerun_day_s, 2),
        "agg_sales_daily_rows": client.query("SELECT count() FROM agg_sales_daily FINAL").result_rows[0][0],
        "agg_store_daily_rows": client.query("SELECT count() FROM agg_store_daily FINAL").result_rows[0][0],
        "days": DASH_DAYS,
        "stores": DASH_STORES,
        "products": DASH_PRODUCTS,
    }


def bench_dashboards(settings: Settings, repeat: int, clients: int, per_client: int) -> dict[str, Any]:
    from retail_platform.warehouse.client import connect

    alone: dict[str, Any] = {}
    client = connect(settings)
    for name, sql in DASHBOARD_QUERIES.items():
        slow = name in CONCURRENT_EXCLUDED
        if not slow:
            client.query(sql)  # warm-up
        samples = []
        for _ in range(1 if slow else repeat):  # a slow one once: minutes per run at full size
            t0 = time.perf_counter()
            client.query(sql)
            samples.append(time.perf_counter() - t0)
        alone[name] = percentiles(samples)
    client.close()

    names = [n for n in DASHBOARD_QUERIES if n not in CONCURRENT_EXCLUDED]
    latencies: dict[str, list[float]] = {n: [] for n in names}
    errors: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        c = connect(settings)
        try:
            for i in range(per_client):
                name = names[(index + i) % len(names)]
                t0 = time.perf_counter()
                try:
                    c.query(DASHBOARD_QUERIES[name])
                except Exception as exc:  # reported, not fatal: the run measures what it can
                    with lock:
                        errors.append(f"{name}: {exc}"[:300])
                    continue
                with lock:
                    latencies[name].append(time.perf_counter() - t0)
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    every = [x for v in latencies.values() for x in v]
    return {
        "alone": alone,
        "alone_p95_ms_max": max(v["p95_ms"] for v in alone.values()),
        "concurrent": {
            "clients": clients,
            "queries_per_client": per_client,
            "wall_s": round(wall, 1),
            "queries_per_s": round(len(every) / wall, 1),
            "all": percentiles(every) if every else None,
            "per_query": {n: percentiles(v) for n, v in latencies.items() if v},
            "excluded": list(CONCURRENT_EXCLUDED),
            "errors": errors[:20],
            "error_count": len(errors),
        },
        "goal_p95_ms": 100,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes: checks the script, not the platform")
    p.add_argument("--parts", default="daily,backfill,dashboards")
    p.add_argument("--day-sales", type=int, default=1_000_000)
    p.add_argument("--backfill-sales", type=int, default=100_000)
    p.add_argument("--backfill-days", type=int, default=30)
    p.add_argument("--fact-rows", type=int, default=100_000_000)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--per-client", type=int, default=5)
    p.add_argument(
        "--reuse-history",
        action="store_true",
        help="keep the bench state of the last run and its generated bronze day (daily part: no regeneration)",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.day_sales, args.backfill_sales, args.backfill_days = 20_000, 5_000, 3
        args.fact_rows, args.repeat, args.clients, args.per_client = 1_000_000, 3, 10, 2
    parts = set(args.parts.split(","))

    from retail_platform.runtime import stack
    from retail_platform.warehouse.client import connect

    settings = bench_settings()
    stack.down(settings, log=lambda _: None)
    if not args.reuse_history:
        shutil.rmtree(settings.state_dir, ignore_errors=True)
    stack.up(settings, ("warehouse",))
    # Parts not run this time keep their last measured results: each part records when and under what
    # load it was measured.
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() and not args.quick else {}
    results.update(benchmark="batch_layer", machine={"cpus": os.cpu_count(), "python": platform.python_version()})
    for stale in ("when", "args", "how"):
        results.pop(stale, None)

    def measured(result: dict[str, Any], started: float, load_at_start: tuple[float, ...]) -> dict[str, Any]:
        result["measured"] = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_s": round(time.monotonic() - started, 1),
            "load_at_start": load_at_start,
            "load_at_end": os.getloadavg(),
            "args": vars(args),
        }
        return result

    client = connect(settings)
    spark = None
    try:
        if parts & {"daily", "backfill"}:
            spark = spark_session(settings)
        if "daily" in parts:
            t0, load = time.monotonic(), os.getloadavg()
            day_part = bench_daily(settings, spark, client, args.day_sales, args.reuse_history)
            results["daily_etl_1_day"] = measured(day_part, t0, load)
            print(json.dumps(results["daily_etl_1_day"]), flush=True)
        if "backfill" in parts:
            t0, load = time.monotonic(), os.getloadavg()
            backfill = bench_backfill(settings, spark, client, args.backfill_sales, args.backfill_days)
            results["backfill"] = measured(backfill, t0, load)
            print(json.dumps(results["backfill"]), flush=True)
        if spark is not None:
            spark.stop()
            spark = None
        if "dashboards" in parts:
            t0, load = time.monotonic(), os.getloadavg()
            results["dashboard_data"] = measured(fill_dashboard_facts(client, args.fact_rows), t0, load)
            print(json.dumps(results["dashboard_data"]), flush=True)
            t0, load = time.monotonic(), os.getloadavg()
            dashboards = bench_dashboards(settings, args.repeat, args.clients, args.per_client)
            results["dashboards"] = measured(dashboards, t0, load)
    finally:
        if spark is not None:
            spark.stop()
        client.close()
        stack.down(settings, log=lambda _: None)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
