"""The serving aggregates (sql/0014_serving_aggregates.sql): rebuilt from the facts for a range of days.

``agg_sales_daily`` (store/category/product/day), ``agg_store_daily`` (store/day) and
``agg_chain_daily`` (day) are what the dashboards read instead of the facts: at most a row per
store/product/day instead of every sale line, and no fill-rate window at query time. They are
derived data with one writer, this module, called by the daily load right after the facts of a day
are swapped in and before its watermark row is written, so a day enters the views with its
aggregates in place.

Each month of the range is rebuilt in the server (``INSERT ... SELECT`` from the facts into a stage
holding a copy of the month, then ``REPLACE PARTITION``), so a refresh is atomic per month, idempotent,
and moves no rows through Python.

The fill-rate estimate of a day reads the 28 snapshot days before it, so refreshing days [a, b] also
refreshes the store/day rows of [b + 1, b + 28]: a re-run of day D after late events moves the
estimate of the four weeks after D with it.

CLI, for an operator who changed facts by hand (or after a restore):
``python -m retail_platform.batch.aggregates --from 2026-01-01 --to 2026-01-31``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from datetime import date, timedelta

from clickhouse_connect.driver.client import Client

from retail_platform.batch.warehouse_load import month_partition, swap_month

log = logging.getLogger(__name__)

# Snapshot days before a day that its fill-rate estimate reads (the v_kpi_fill_rate definition).
FILL_RATE_LOOKBACK_DAYS = 28

SALES_COLUMNS = "date_key, store_id, category, product_id, units, revenue, cost, profit, sale_lines"
SALES_SELECT = """
SELECT date_key, store_id, category, product_id, sum(quantity) AS units, sum(revenue) AS revenue,
       sum(cost) AS cost, sum(profit) AS profit, count() AS sale_lines
FROM {database}.fact_sales FINAL
WHERE date_key BETWEEN '{first}' AND '{last}'
GROUP BY date_key, store_id, category, product_id
"""

STORE_COLUMNS = (
    "date_key, store_id, units, revenue, cost, profit, sale_lines, products_tracked, stockouts, "
    "below_reorder_point, stock_value, snapshot_units_sold, est_lost_units"
)
# Sales from agg_sales_daily (already refreshed for the range), snapshots from fact_inventory. The
# FULL JOIN ... USING keeps a store/day that has only sales or only snapshots, with zeros on the
# other side. The estimate: on a day a store/product ends out of stock, the lost units are its average
# daily sales on the in-stock days among the 28 snapshot rows before it (one snapshot per day from its
# first load on, so 28 rows back is 28 days back), less what it sold that day, never below 0.
STORE_SELECT = """
SELECT date_key, store_id, s.units, s.revenue, s.cost, s.profit, s.sale_lines, i.products_tracked,
       i.stockouts, i.below_reorder_point, i.stock_value, i.snapshot_units_sold, i.est_lost_units
FROM
(
    SELECT date_key, store_id, sum(units) AS units, sum(revenue) AS revenue, sum(cost) AS cost,
           sum(profit) AS profit, sum(sale_lines) AS sale_lines
    FROM {database}.agg_sales_daily FINAL
    WHERE date_key BETWEEN '{first}' AND '{last}'
    GROUP BY date_key, store_id
) AS s
FULL OUTER JOIN
(
    SELECT date_key, store_id, count() AS products_tracked, countIf(is_stockout) AS stockouts,
           countIf(is_below_reorder_point) AS below_reorder_point, sum(stock_value) AS stock_value,
           sum(quantity_sold) AS snapshot_units_sold,
           sum(if(is_stockout, greatest(0., ifNull(usual, 0.) - quantity_sold), 0.)) AS est_lost_units
    FROM
    (
        SELECT date_key, store_id, quantity_sold, is_stockout, is_below_reorder_point, stock_value,
               avgIf(toFloat64(quantity_sold), NOT is_stockout) OVER (
                   PARTITION BY store_id, product_id ORDER BY date_key
                   ROWS BETWEEN {lookback} PRECEDING AND 1 PRECEDING
               ) AS usual
        FROM {database}.fact_inventory FINAL
        WHERE date_key BETWEEN '{window_first}' AND '{last}'
    )
    WHERE date_key BETWEEN '{first}' AND '{last}'
    GROUP BY date_key, store_id
) AS i USING (date_key, store_id)
"""


CHAIN_COLUMNS = "date_key, revenue, units, sale_lines, stores_selling, products_selling, profit"
# Stores and products selling are counted at the store/product/day grain (net units > 0), as
# v_sales_daily counts them for the days still served by the speed layer.
CHAIN_SELECT = """
SELECT date_key, sum(revenue), sum(units), sum(lines), uniqExactIf(store_id, units > 0),
       uniqExactIf(product_id, units > 0), sum(profit)
FROM
(
    SELECT date_key, store_id, product_id, sum(units) AS units, sum(revenue) AS revenue,
           sum(sale_lines) AS lines, sum(profit) AS profit
    FROM {database}.agg_sales_daily FINAL
    WHERE date_key BETWEEN '{first}' AND '{last}'
    GROUP BY date_key, store_id, product_id
)
GROUP BY date_key
"""


def month_spans(first: date, last: date) -> Iterator[tuple[int, date, date]]:
    """(partition, first day, last day) of each month that [first, last] touches, oldest first."""
    start = first
    while start <= last:
        next_month = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
        end = min(last, next_month - timedelta(days=1))
        yield month_partition(start), start, end
        start = next_month


def _rebuild(client: Client, database: str, table: str, columns: str, select: str, first: date, last: date) -> None:
    for partition, start, end in month_spans(first, last):
        sql = select.format(
            database=database,
            first=start.isoformat(),
            last=end.isoformat(),
            window_first=(start - timedelta(days=FILL_RATE_LOOKBACK_DAYS)).isoformat(),
            lookback=FILL_RATE_LOOKBACK_DAYS,
        )

        def edit(stage: str, sql: str = sql, start: date = start, end: date = end) -> None:
            client.command(f"DELETE FROM {database}.{stage} WHERE date_key BETWEEN '{start}' AND '{end}'")
            client.command(f"INSERT INTO {database}.{stage} ({columns}) {sql}")

        swap_month(client, database, table, partition, edit)


def refresh(client: Client, database: str, first: date, last: date) -> None:
    """Rebuild the aggregates of days [first, last] from the facts (and the fill-rate estimates of the
    28 days after ``last``, which read these days)."""
    if last < first:
        raise ValueError(f"refresh range is empty: {first} .. {last}")
    _rebuild(client, database, "agg_sales_daily", SALES_COLUMNS, SALES_SELECT, first, last)
    _rebuild(client, database, "agg_chain_daily", CHAIN_COLUMNS, CHAIN_SELECT, first, last)
    # Only days that have snapshots can carry an estimate: the usual daily load (the newest day) then
    # rebuilds its own day and nothing after it.
    newest = client.query(f"SELECT max(date_key) FROM {database}.fact_inventory").result_rows[0][0]
    store_last = max(last, min(last + timedelta(days=FILL_RATE_LOOKBACK_DAYS), newest))
    _rebuild(client, database, "agg_store_daily", STORE_COLUMNS, STORE_SELECT, first, store_last)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Rebuild the serving aggregates of a range of days from the facts.")
    p.add_argument("--from", dest="first", type=date.fromisoformat, required=True, help="first day (YYYY-MM-DD)")
    p.add_argument("--to", dest="last", type=date.fromisoformat, required=True, help="last day (YYYY-MM-DD)")
    return p


def main(argv: list[str] | None = None) -> int:
    from retail_platform.settings import get_settings
    from retail_platform.warehouse.client import connect

    args = parser().parse_args(argv)
    if args.last < args.first:
        print(f"--to ({args.last}) is before --from ({args.first}): give the range oldest day first", file=sys.stderr)
        return 2
    settings = get_settings()
    client = connect(settings)
    try:
        refresh(client, settings.clickhouse_database, args.first, args.last)
    finally:
        client.close()
    print(f"aggregates rebuilt for {args.first} .. {args.last}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    sys.exit(main())
