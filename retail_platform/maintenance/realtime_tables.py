"""The speed layer's tables in warehouse maintenance: a guard before rt_sales_5min's TTL, and the
retention of rt_restock_state and rt_anomaly_state.

TTL guard. rt_sales_5min expires 35 days after window_start (sql/0006_realtime.sql): by then the
batch layer's facts are the record. That holds only for days the daily load has closed (a watermark
row): the views serve an unclosed day from the real-time tables, and the TTL would silently remove
it. So every night maintenance looks for unclosed days with real-time rows older than
``ttl_guard_days`` (28: a week before the TTL) and records the action as an error naming the days;
the maintenance task then fails, which the failure callback records in ops_task_failures (the
platform's alert). The fix is to load the days (``airflow dags trigger daily_etl --conf
'{"date": "..."}'``); nothing is deleted by the guard.

rt_restock_state retention. The stream appends one row per store/product a micro-batch changed and
never deletes: the table only grows. Batch N of a query reads, per key, the row with the highest
batch_id below N (``streaming.sink.Warehouse.restock_states``). Rows a later batch superseded are
needed only to replay a batch between them: for each query, with ``top`` its highest batch id and
``cutoff = top - keep_batches``, maintenance keeps every row with batch_id >= cutoff and, per key,
the newest row below cutoff; it deletes the rest. Then for any batch N >= cutoff the state read is
unchanged: argMax over batch_id < N is the newest row in [cutoff, N) when there is one, else the
newest row below cutoff, which is kept. Spark replays only the last batch, so keeping 1000 batches
(about an hour at a 3 s trigger) is ample, and a key's newest row is never deleted however old (it
is the newest below cutoff, or at or above it). A ReplacingMergeTree could not do this: it would
keep only the newest row and break the replay of the newest batch (0006's comment). The stream only
appends rows with batch ids above the current ones, so a row deleted here could not become a key's
newest again; the rows deleted are chosen by a subquery on rows below the cutoff, which no insert
changes. rt_anomaly_state (the anomaly detectors' state, sql/0029) is versioned and read the
same way (``streaming.sink.Warehouse.anomaly_states``) and pruned by the same rule.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from retail_platform.maintenance.records import ActionRecord

log = logging.getLogger(__name__)

RT_SALES = "rt_sales_5min"
RT_SALES_TTL_DAYS = 35  # TTL window_start + INTERVAL 35 DAY (sql/0006_realtime.sql; a unit test checks)
RESTOCK_STATE = "rt_restock_state"
ANOMALY_STATE = "rt_anomaly_state"
# Tables of per-key states versioned by micro-batch, pruned by prune_restock_state's rule.
STATE_TABLES = (RESTOCK_STATE, ANOMALY_STATE)
WATERMARK = "ops_batch_watermark"
# Days named in the guard's message; the count is always given.
NAMED_DAYS = 20

StateRow = tuple[str, str, str, int]  # query_id, store_id, product_id, batch_id


# ---- pure parts ---------------------------------------------------------------------------------


def guard_cutoff(today: date, guard_days: int) -> date:
    """Days before this are checked: unclosed with real-time rows means the TTL is near."""
    if not 1 <= guard_days < RT_SALES_TTL_DAYS:
        raise ValueError(f"the TTL guard must look at 1 to {RT_SALES_TTL_DAYS - 1} days, got {guard_days}")
    return today - timedelta(days=guard_days)


def guard_message(days: Iterable[date], guard_days: int) -> str:
    days = sorted(days)
    named = ", ".join(d.isoformat() for d in days[:NAMED_DAYS]) + (" ..." if len(days) > NAMED_DAYS else "")
    return (
        f"{len(days)} day(s) older than {guard_days} days have real-time rows in {RT_SALES} but no "
        f"{WATERMARK} row; its {RT_SALES_TTL_DAYS}-day TTL drops them: {named}. "
        'Load them with daily_etl (conf {"date": "YYYY-MM-DD"}).'
    )


def restock_state_cutoff(top_batch: int, keep_batches: int) -> int:
    """Rows of batches at or after this are all kept (replays of those batches read exact states)."""
    if keep_batches < 1:
        raise ValueError(f"keep_batches must be at least 1, got {keep_batches}")
    return max(0, top_batch - keep_batches)


def restock_rows_to_keep(rows: Iterable[StateRow], keep_batches: int) -> set[StateRow]:
    """The rule the DELETE applies, on (query_id, store_id, product_id, batch_id) rows (tests)."""
    rows = list(rows)
    top: dict[str, int] = {}
    for q, _, _, b in rows:
        top[q] = max(top.get(q, b), b)
    newest_below: dict[tuple[str, str, str], int] = {}
    for q, s, p, b in rows:
        if b < restock_state_cutoff(top[q], keep_batches):
            newest_below[(q, s, p)] = max(newest_below.get((q, s, p), b), b)
    return {
        (q, s, p, b)
        for q, s, p, b in rows
        if b >= restock_state_cutoff(top[q], keep_batches) or newest_below.get((q, s, p)) == b
    }


# ---- warehouse ----------------------------------------------------------------------------------


def _table_exists(client: Any, database: str, table: str) -> bool:
    return bool(
        client.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            parameters={"db": database, "t": table},
        ).result_rows[0][0]
    )


def unclosed_days_before(client: Any, database: str, cutoff: date) -> list[date]:
    """Days before ``cutoff`` with rows in rt_sales_5min and no watermark row."""
    rows = client.query(
        f"""
        SELECT DISTINCT toDate(window_start) AS day
        FROM {database}.{RT_SALES}
        WHERE window_start < toDateTime({{cutoff:Date}}, 'UTC')
          AND toDate(window_start) NOT IN (SELECT day FROM {database}.{WATERMARK})
        ORDER BY day
        """,
        parameters={"cutoff": cutoff},
    ).result_rows
    return [r[0] for r in rows]


def ttl_guard(client: Any, database: str, guard_days: int, run_id: str, today: date) -> ActionRecord:
    """Status error (the run fails after recording) when an unclosed day nears the TTL."""
    record = ActionRecord(run_id, "warehouse", RT_SALES, "ttl_guard")
    if not (_table_exists(client, database, RT_SALES) and _table_exists(client, database, WATERMARK)):
        return record.finish("skipped", "table does not exist")
    record.cutoff = guard_cutoff(today, guard_days)
    days = unclosed_days_before(client, database, record.cutoff)
    if days:
        message = guard_message(days, guard_days)
        log.error("%s", message)
        return record.finish("error", message)
    return record.finish("ok", f"every day before {record.cutoff.isoformat()} with real-time rows is closed")


def _rows(client: Any, table: str) -> int:
    return int(client.query(f"SELECT count() FROM {table}").result_rows[0][0])


def prune_restock_state(
    client: Any, database: str, keep_batches: int, run_id: str, state_table: str = RESTOCK_STATE
) -> ActionRecord:
    """Delete the rows of ``state_table`` (rt_restock_state, or rt_anomaly_state: both versioned by
    batch) that no replay of the last ``keep_batches`` batches reads."""
    if state_table not in STATE_TABLES:
        raise ValueError(f"{state_table} is not a state table versioned by batch ({', '.join(STATE_TABLES)})")
    record = ActionRecord(run_id, "warehouse", state_table, "retention")
    if not _table_exists(client, database, state_table):
        return record.finish("skipped", "table does not exist")
    table = f"{database}.{state_table}"
    before = _rows(client, table)
    tops = client.query(f"SELECT query_id, max(batch_id) FROM {table} GROUP BY query_id").result_rows
    pruned = []
    for query_id, top in sorted(tops):
        cutoff = restock_state_cutoff(int(top), keep_batches)
        if cutoff == 0:
            continue
        # Lightweight DELETE (as replace_day's): rows are masked at once and removed by merges.
        client.command(
            f"""
            DELETE FROM {table}
            WHERE query_id = {{q:String}} AND batch_id < {{cutoff:UInt64}}
              AND (store_id, product_id, batch_id) NOT IN (
                  SELECT store_id, product_id, max(batch_id) FROM {table}
                  WHERE query_id = {{q:String}} AND batch_id < {{cutoff:UInt64}}
                  GROUP BY store_id, product_id)
            """,
            parameters={"q": query_id, "cutoff": cutoff},
        )
        pruned.append(f"{query_id}<{cutoff}")
    after = _rows(client, table)
    detail = (
        f"kept each key's newest row and the last {keep_batches} batches per query; "
        f"rows {before} -> {after}; queries pruned: {', '.join(pruned) or 'none'}"
    )
    return record.finish("ok", detail)
