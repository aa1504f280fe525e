"""History-import benchmark: a year of an online store's order log (the 2019 public log's shape,
~200k lines) through the sales-history mapping, landing file -> contract events -> bronze rows.

    .venv/bin/python -m bench.history_import [--lines 200000] [--seed 7] [--recompute]

Measures the import side (read, clean, look products up by name, identify lines, validate, build the
bronze Arrow table), which needs no service. With ``--recompute``, also the whole way from the landing
zone to the serving views on a warehouse endpoint of its own (bench/batch_layer.py's ports and state):
the catalogue and the log dropped in the landing zone, ``sources.runs`` importing them (bronze), then
``daily.run_days`` over every affected day (one Spark application), then the year read back from
``v_sales_daily``; the facts' revenue is checked against what the import counted per day. Writes
bench/results/history_import.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "history_import.json"
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "landing" / "online_orders"
CITIES = ["Dallas, TX 75001", "Boston, MA 02215", "Los Angeles, CA 90001", "San Francisco, CA 94016",
          "Seattle, WA 98101", "Portland, OR 97035", "Portland, ME 04101", "Atlanta, GA 30301",
          "Austin, TX 73301", "New York City, NY 10001"]  # fmt: skip
HEADER = ["Order ID", "Product", "Quantity Ordered", "Price Each", "Order Date", "Purchase Address"]


def write_log(path: Path, lines: int, seed: int) -> int:
    """A year of orders in the public log's shape: multi-line orders, US dates, comma-only lines and
    a repeated header every ~15k lines (monthly extracts pasted together). Returns the data lines."""
    import pandas as pd

    catalogue = pd.read_csv(FIXTURE / "catalogue.csv", dtype=str)
    products = list(zip(catalogue["product_name"], catalogue["unit_price"], strict=True))
    rnd = random.Random(seed)
    start = datetime(2019, 1, 1)
    written = 0
    order = 141234
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        while written < lines:
            order += 1
            when = start + timedelta(seconds=rnd.randrange(365 * 86400))
            address = f"{rnd.randrange(1, 999)} Main St, {rnd.choice(CITIES)}"
            for _ in range(1 if rnd.random() < 0.9 else rnd.randint(2, 4)):
                name, price = rnd.choice(products)
                writer.writerow([order, name, rnd.randint(1, 3), price, when.strftime("%m/%d/%y %H:%M"), address])
                written += 1
            if rnd.random() < 0.002:
                writer.writerow([""] * len(HEADER))
            if written % 15000 == 0:
                writer.writerow(HEADER)
    return written


def landing_to_views(log: Path, mapping: Path) -> dict[str, Any]:
    """The year from the landing zone to the serving views, timed per stage (see the module doc)."""
    import shutil

    from bench.batch_layer import bench_settings, spark_session
    from retail_platform.batch import daily
    from retail_platform.runtime import stack
    from retail_platform.sources import landing, runs
    from retail_platform.warehouse.client import connect

    settings = bench_settings()
    stack.down(settings, log=lambda _: None)
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    stack.up(settings, ("warehouse",))
    client = connect(settings)
    spark = None
    try:
        drops = [
            ("catalogue", FIXTURE / "catalogue.csv", "online_catalogue.csv"),
            ("sales_history", log, log.name),
            ("sales_history", mapping, f"{log.stem}.mapping.yaml"),
        ]
        for kind, source, name in drops:
            folder = landing.landing_dir(settings, kind)
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, folder / name)
        t0 = time.monotonic()
        spark = spark_session(settings)
        spark_start_s = time.monotonic() - t0
        t0 = time.monotonic()
        loads = runs.ingest_dimensions(client, settings, "bench") + runs.ingest_bronze(client, settings, spark, "bench")
        import_s = time.monotonic() - t0
        failed = [(f.file, f.message) for f in loads if f.status == "failed"]
        if failed:
            raise RuntimeError(f"import failed: {failed}")
        days = runs.affected_days(loads)
        t0 = time.monotonic()
        span = daily.run_days(spark, settings, days[0], days[-1], "bench")
        recompute_s = time.monotonic() - t0
        # What each further day costs: the range against one of its days recomputed alone.
        t0 = time.monotonic()
        daily.run_days(spark, settings, days[len(days) // 2], days[len(days) // 2], "bench-one-day")
        one_day_s = time.monotonic() - t0
        t0 = time.monotonic()
        served = client.query(
            "SELECT count(), toFloat64(sum(revenue)) FROM v_sales_daily WHERE date BETWEEN %(a)s AND %(b)s",
            parameters={"a": days[0], "b": days[-1]},
        ).result_rows[0]
        views_s = time.monotonic() - t0
        imported = sum(v for f in loads for k, v in f.details.items() if k.startswith("revenue_cents:"))
        facts = client.query(
            "SELECT toUInt64(sum(revenue) * 100) FROM fact_sales FINAL WHERE date_key BETWEEN %(a)s AND %(b)s",
            parameters={"a": days[0], "b": days[-1]},
        ).result_rows[0][0]
        if int(facts) != imported:
            raise AssertionError(f"fact revenue {facts} cents != imported {imported} cents")
        phases: dict[str, float] = {}
        for done in span.days:
            for name, seconds in done.seconds.items():
                phases[name] = phases.get(name, 0.0) + seconds
        n = (days[-1] - days[0]).days + 1
        return {
            "days": n,
            "days_with_sales": len(days),
            "fact_sales_rows": sum(d.sales_rows for d in span.days),
            "failed_days": sorted(span.failed),
            "spark_start_s": round(spark_start_s, 1),
            "import_s": round(import_s, 1),
            "recompute_s": round(recompute_s, 1),
            "recompute_s_per_day": round(recompute_s / n, 3),
            "one_day_alone_s": round(one_day_s, 1),
            "each_further_day_s": round((recompute_s - one_day_s) / max(n - 1, 1), 3),
            "views_query_s": round(views_s, 2),
            "total_s": round(spark_start_s + import_s + recompute_s + views_s, 1),
            "phase_seconds_per_day": {k: round(v / n, 4) for k, v in phases.items()},
            "served_rows": int(served[0]),
            "served_revenue": round(float(served[1] or 0.0), 2),
            "revenue_reconciled_cents": imported,
            "goal_s": 300,
        }
    finally:
        if spark is not None:
            spark.stop()
        client.close()
        stack.down(settings, log=lambda _: None)


def main(argv: list[str] | None = None) -> dict:
    from retail_platform.sources import sales_history
    from retail_platform.sources.mapping import find_mapping
    from retail_platform.sources.report import reason_counts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--recompute", action="store_true", help="landing -> bronze -> facts -> views, timed")
    args = parser.parse_args(argv)
    import pandas as pd

    catalogue = pd.read_csv(FIXTURE / "catalogue.csv", dtype=str)
    lookup = sales_history.ProductLookup.build(
        "product_name", "quarantine", list(zip(catalogue["product_id"], catalogue["product_name"], strict=True))
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders_2019.csv"
        t0 = time.monotonic()
        lines = write_log(path, args.lines, args.seed)
        generated = time.monotonic() - t0
        mapping = find_mapping(FIXTURE / "orders_2019.csv")
        t0 = time.monotonic()
        read, converted = sales_history.convert_file(path, mapping, lookup)
        convert_s = time.monotonic() - t0
        t0 = time.monotonic()
        table = sales_history.bronze_table(converted.events, "landing:bench", 1, datetime.now(timezone.utc))
        arrow_s = time.monotonic() - t0
        end_to_end = landing_to_views(path, FIXTURE / "orders_2019.mapping.yaml") if args.recompute else None
    result = {
        "benchmark": "history_import",
        "lines": lines,
        "rows_read": read.rows_read,
        "rows_loaded": len(converted.events),
        "quarantined": reason_counts(converted.rejects),
        "days": len(converted.days),
        "bronze_rows": table.num_rows,
        "generate_s": round(generated, 2),
        "convert_s": round(convert_s, 2),
        "bronze_table_s": round(arrow_s, 2),
        "rows_per_s": round(read.rows_read / (convert_s + arrow_s)),
        **({"landing_to_views": end_to_end} if end_to_end else {}),
        "measured": {
            "when": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
            "how": f"python -m bench.history_import --lines {args.lines} --seed {args.seed}"
            + (" --recompute" if args.recompute else ""),
        },
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
