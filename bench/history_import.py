"""History-import benchmark: a year of an online store's order log (the 2019 public log's shape,
~200k lines) through the sales-history mapping, landing file -> contract events -> bronze rows.

    .venv/bin/python -m bench.history_import [--lines 200000] [--seed 7]

Measures the import side only (read, clean, look products up by name, identify lines, validate,
build the bronze Arrow table), which needs no service. The recompute of the imported days is
``daily_etl``'s range mode, measured by ``bench/batch_layer.py`` (part ``backfill``, seconds per day).
Writes bench/results/history_import.json.
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


def main(argv: list[str] | None = None) -> dict:
    from retail_platform.sources import sales_history
    from retail_platform.sources.mapping import find_mapping
    from retail_platform.sources.report import reason_counts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
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
        "measured": {
            "when": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
            "how": f"python -m bench.history_import --lines {args.lines} --seed {args.seed}",
        },
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
