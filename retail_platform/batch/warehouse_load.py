"""The warehouse side of the daily load: dimensions and snapshots in, one day of facts swapped in
atomically, the watermark and data-quality rows out.

Replacing one day (sql/0003_facts.sql): the facts are partitioned by month, so the day is rebuilt in a
stage table holding a copy of its month (hard links), then the month is swapped in with one
``REPLACE PARTITION``. Readers see the month before or after, never half a day; a failure before the
swap leaves the fact untouched, and re-running the day replaces it again: idempotent.

One writer per month at a time: two loads of different days of the same month running concurrently
would each swap in a month holding only their own new day. The DAG runs days one at a time
(max_active_runs=1); a manual load must not overlap a running one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from retail_platform.batch.conform import Dimensions, dimensions_from_rows
from retail_platform.batch.facts import SNAPSHOT_COLUMNS
from retail_platform.batch.quality import Check


def month_partition(day: date) -> int:
    """The facts' partition id of a day (toYYYYMM(date_key))."""
    return day.year * 100 + day.month


def swap_month(client: Client, database: str, table: str, partition: int, edit: Callable[[str], None]) -> None:
    """Rebuild one month partition of ``table`` atomically: ``edit(stage)`` changes a copy of the month
    (hard links, no data copied) held in the stage table ``{database}.{stage}``, then one
    ``REPLACE PARTITION`` swaps it in. A failure before the swap leaves ``table`` untouched."""
    stage = f"{table}__stage_{partition}_{uuid.uuid4().hex[:8]}"
    target, staged = f"{database}.{table}", f"{database}.{stage}"
    client.command(f"CREATE TABLE {staged} AS {target}")
    try:
        client.command(f"ALTER TABLE {staged} ATTACH PARTITION {partition} FROM {target}")
        edit(stage)
        # The edit may leave the month empty (its only days had nothing): then the month must become
        # empty, which ClickHouse refuses unless told it is intended.
        client.command(
            f"ALTER TABLE {target} REPLACE PARTITION {partition} FROM {staged}",
            settings={"allow_replace_partition_from_empty_source": 1},
        )
    finally:
        client.command(f"DROP TABLE IF EXISTS {staged} SYNC")


def replace_day(
    client: Client,
    database: str,
    table: str,
    day: date,
    rows: pa.Table | pd.DataFrame,
    day_column: str = "date_key",
) -> int:
    """Make ``rows`` the whole content of ``table`` for ``day`` (``day_column``), atomically; returns rows."""

    def edit(stage: str) -> None:
        client.command(f"DELETE FROM {database}.{stage} WHERE {day_column} = '{day.isoformat()}'")
        if isinstance(rows, pd.DataFrame):
            if len(rows):
                client.insert_df(stage, rows, database=database)
        elif rows.num_rows:
            client.insert_arrow(stage, rows, database=database)

    swap_month(client, database, table, month_partition(day), edit)
    return len(rows)


def dimensions(client: Client, database: str) -> Dimensions:
    stores = client.query(f"SELECT store_id, is_inferred FROM {database}.dim_store FINAL").result_rows
    products = client.query(
        f"SELECT product_id, valid_from, valid_to, category, supplier_id, unit_cost, is_inferred "
        f"FROM {database}.dim_product FINAL"
    ).named_results()
    return dimensions_from_rows([s for s, _ in stores], list(products), [s for s, inferred in stores if inferred])


def previous_snapshots(client: Client, database: str, day: date) -> pd.DataFrame:
    """The last end-of-day snapshot before ``day`` per store/product (what a quiet day carries forward)."""
    result = client.query(
        f"""
        SELECT store_id, product_id, argMax(quantity_on_hand, date_key) AS quantity_on_hand,
               argMax(last_event_id, date_key) AS last_event_id, argMax(last_event_time, date_key) AS last_event_time
        FROM {database}.fact_inventory FINAL
        WHERE date_key < %(day)s
        GROUP BY store_id, product_id
        """,
        parameters={"day": day},
    )
    return pd.DataFrame(result.result_rows, columns=list(SNAPSHOT_COLUMNS))


def reorder_policy(client: Client, database: str) -> dict[tuple[str, str], tuple[int, int]]:
    rows = client.query(
        f"SELECT store_id, product_id, reorder_point, safety_stock FROM {database}.rt_reorder_policy FINAL"
    ).result_rows
    return {(s, p): (int(r), int(ss)) for s, p, r, ss in rows}


def sales_totals(client: Client, database: str, day: date) -> dict[str, Any]:
    """Batch (fact_sales) and speed (rt_sales_5min) totals of the day, and the fact's row identity counts."""
    facts = client.query(
        f"SELECT count(), uniqExact(sale_id), sum(quantity), toFloat64(sum(revenue)) "
        f"FROM {database}.fact_sales WHERE date_key = %(day)s",
        parameters={"day": day},
    ).result_rows[0]
    speed = client.query(
        f"SELECT count(), sum(units), toFloat64(sum(revenue)) FROM {database}.rt_sales_5min "
        f"WHERE window_start >= %(start)s AND window_start < %(end)s",
        parameters={"start": _midnight(day), "end": _midnight(day + timedelta(days=1))},
    ).result_rows[0]
    has_speed = int(speed[0]) > 0
    return {
        "rows": int(facts[0]),
        "distinct_sale_ids": int(facts[1]),
        "units": int(facts[2] or 0),
        "revenue": float(facts[3] or 0.0),
        "speed_units": int(speed[1]) if has_speed else None,
        "speed_revenue": float(speed[2]) if has_speed else None,
    }


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def record_watermark(client: Client, database: str, day: date, batch_id: str, run_id: str, **counts: int) -> None:
    columns = ["day", "loaded_at", "batch_id", "run_id", *counts]
    row = [day, datetime.now(timezone.utc), batch_id, run_id, *counts.values()]
    client.insert("ops_batch_watermark", [row], column_names=columns, database=database)


def watermark(client: Client, database: str) -> date | None:
    """The batch watermark: the newest day loaded, or None before the first load."""
    rows = client.query(f"SELECT count(), max(day) FROM {database}.ops_batch_watermark FINAL").result_rows
    return rows[0][1] if rows[0][0] else None


def record_checks(client: Client, database: str, run_id: str, day: date, checks: Sequence[Check]) -> None:
    if not checks:
        return
    rows = [[run_id, day, c.name, c.value, c.threshold, c.passed, c.detail] for c in checks]
    client.insert(
        "dq_results",
        rows,
        column_names=["run_id", "day", "check_name", "value", "threshold", "passed", "detail"],
        database=database,
    )
