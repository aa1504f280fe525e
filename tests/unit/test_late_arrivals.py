"""Late arrivals for closed days: the detection rule, which days are triggered (not one whose recompute
is pending), the rows and trigger arguments, and that the counts compare like with like (the types
the daily load reads, the stream's topics); and the speed-layer parts of maintenance: the TTL guard's
window and the rt_restock_state retention, under which replays decide the same alerts."""

from __future__ import annotations

import random
import re
import uuid
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_platform.batch import late_arrivals as late
from retail_platform.maintenance import realtime_tables as rt
from retail_platform.maintenance.config import MaintenanceConfig
from retail_platform.settings import REPO_ROOT
from retail_platform.streaming.alerts import KeyState, Policy, run
from retail_platform.warehouse.migrations import split_statements

UTC = timezone.utc
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
D1, D2, D3 = date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)
AIRFLOW_RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+-]+$")  # Airflow's default allowed_run_id_pattern


def late_day(day: date, events: int = 12, rows: int = 10, loaded_hours_ago: float = 20) -> late.LateDay:
    return late.LateDay(day, events, rows, f"daily_etl:{day}:x", NOW - timedelta(hours=loaded_hours_ago))


def migration_text() -> str:
    return (REPO_ROOT / "sql" / "0016_late_arrivals.sql").read_text()


def create_of(table: str) -> str:
    head = f"CREATE TABLE IF NOT EXISTS {{database}}.{table}\n"
    (statement,) = [s for s in split_statements(migration_text()) if head in s]
    return statement[statement.index(head) :]


# ---- detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("events", "rows", "expected"), [(11, 10, True), (10, 10, False), (9, 10, False)])
def test_a_day_is_late_only_when_the_stream_appended_more_than_its_load_read(events, rows, expected):
    # Fewer ops rows than rows read is normal: a batch's bronze append precedes its ops row.
    assert late.is_late(events, rows) is expected


def test_a_recompute_is_pending_after_the_load_and_within_the_window():
    loaded = NOW - timedelta(hours=10)
    assert late.is_pending(None, loaded, NOW, 6) is False
    assert late.is_pending(NOW - timedelta(hours=1), loaded, NOW, 6) is True
    # Triggered before the latest load: that load (or a later one) is what the counts compare with.
    assert late.is_pending(loaded - timedelta(minutes=1), loaded, NOW, 6) is False
    # Past the window: a recompute that did not land (it failed) is triggered again.
    assert late.is_pending(NOW - timedelta(hours=6), NOW - timedelta(hours=7), NOW, 6) is False
    # Naive datetimes (a driver without time zones) are UTC.
    assert late.is_pending((NOW - timedelta(hours=1)).replace(tzinfo=None), loaded, NOW, 6) is True


def test_plan_skips_pending_days_and_orders_the_rest_oldest_first():
    days = [late_day(D3), late_day(D1), late_day(D2)]
    chosen = late.plan(days, {D2: NOW - timedelta(minutes=15)}, NOW, detected_by="scheduled__x")
    assert [r.late.day for r in chosen] == [D1, D3]
    assert all(r.detected_at == NOW and r.detected_by == "scheduled__x" for r in chosen)
    assert len({r.run_id for r in chosen}) == 2


def test_trigger_arguments_and_run_ids_are_valid_for_airflow():
    (r,) = late.plan([late_day(D1)], {}, NOW)
    assert r.trigger_kwargs() == {"trigger_run_id": r.run_id, "conf": {"date": "2026-11-10"}}
    assert AIRFLOW_RUN_ID.match(r.run_id) and "2026-11-10" in r.run_id


def test_recompute_rows_match_the_columns_and_the_migration():
    (r,) = late.plan([late_day(D1, events=15, rows=9)], {}, NOW, detected_by="run-1")
    row = dict(zip(late.RECOMPUTE_COLUMNS, r.row(), strict=True))
    assert row["day"] == D1 and row["reason"] == "late_stream_events" and row["dag_id"] == "daily_etl"
    assert (row["stream_events"], row["stream_rows_at_load"], row["triggered_run_id"]) == (15, 9, r.run_id)
    create = create_of("ops_recomputes")
    declared = re.findall(r"^\s{4}(\w+) ", create, flags=re.MULTILINE)
    assert set(late.RECOMPUTE_COLUMNS) <= set(declared)


# ---- the cascade: a recompute whose carried snapshot changed requests the next closed day -------

SNAPSHOT_ROW = st.tuples(
    st.sampled_from(["store_1", "store_2", "store_3"]),
    st.sampled_from(["SKU-1", "SKU-2", "SKU-3", "SKU-4"]),
    st.integers(0, 10**6),  # quantity_on_hand
    st.integers(0, 10**6),  # quantity_on_order
    st.uuids().map(str),  # last_event_id
    st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1)).map(lambda t: t.replace(tzinfo=UTC)),
)
SNAPSHOTS = st.lists(SNAPSHOT_ROW, max_size=12, unique_by=lambda r: (r[0], r[1]))


def snapshot(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(late.CARRIED_COLUMNS))


@given(SNAPSHOTS, st.randoms(use_true_random=False), st.booleans())
def test_an_unchanged_snapshot_requests_nothing_whatever_its_row_order(rows, rnd, closed):
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    # As the warehouse returns it (naive UTC instants, an extra column) or as built in memory.
    after = snapshot(shuffled).assign(
        last_event_time=lambda f: pd.to_datetime(f["last_event_time"], utc=True).dt.tz_localize(None), extra=1
    )
    assert not late.carried_changed(snapshot(rows), after)
    assert late.cascade_to(D1, snapshot(rows), after, next_closed=closed) is None


@given(SNAPSHOTS.filter(bool), st.data())
def test_a_changed_stock_or_stock_on_order_requests_the_next_closed_day(rows, data):
    i = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.sampled_from([2, 3]))  # on hand, on order
    delta = data.draw(st.integers(1, 1000))
    changed = [list(r) for r in rows]
    changed[i][column] += delta
    after = snapshot([tuple(r) for r in changed])
    assert late.carried_changed(snapshot(rows), after)
    assert late.cascade_to(D1, snapshot(rows), after, next_closed=True) == D2
    # A day after the range that is not closed reads the new snapshot when it is loaded: no request.
    assert late.cascade_to(D1, snapshot(rows), after, next_closed=False) is None


@given(SNAPSHOTS.filter(bool), st.data())
def test_a_store_product_that_appears_or_vanishes_changes_the_snapshot(rows, data):
    i = data.draw(st.integers(0, len(rows) - 1))
    fewer = rows[:i] + rows[i + 1 :]
    assert late.carried_changed(snapshot(rows), snapshot(fewer))
    assert late.carried_changed(snapshot(fewer), snapshot(rows))
    assert late.carried_changed(snapshot(rows), pd.DataFrame()) and not late.carried_changed(pd.DataFrame(), None)


def test_a_requested_day_is_planned_with_its_reason_and_skipped_while_pending():
    requested = late.LateDay(D2, 0, 0, "daily_etl:2026-11-11:x", NOW - timedelta(hours=2), late.REASON_CARRIED_STOCK)
    (r,) = late.plan([requested], {}, NOW, detected_by="run-2")
    row = dict(zip(late.RECOMPUTE_COLUMNS, r.row(), strict=True))
    assert row["reason"] == "carried_stock_changed" and row["triggered_run_id"] == r.run_id
    assert r.trigger_kwargs()["conf"] == {"date": "2026-11-11"}
    assert "stock it starts from changed" in requested.describe()
    assert late.plan([requested], {D2: NOW - timedelta(minutes=10)}, NOW) == []


def test_ops_stream_days_is_the_agreed_interface():
    create = create_of("ops_stream_days")
    columns = re.findall(r"^\s{4}(\w+) (\S+)", create, flags=re.MULTILINE)
    assert [c for c, _ in columns] == [
        "query_name",
        "query_id",
        "batch_id",
        "event_type",
        "day",
        "events",
        "recorded_at",
    ]
    assert "ENGINE = ReplacingMergeTree\n" in create
    assert "ORDER BY (day, event_type, query_name, query_id, batch_id)" in create
    assert "PARTITION BY toYYYYMM(day)" in create and "non_replicated_deduplication_window = 1000" in create
    assert "ADD COLUMN IF NOT EXISTS stream_rows UInt64 DEFAULT 0" in migration_text()


def test_counts_compare_the_types_the_load_reads_and_the_streams_topics():
    from retail_platform.batch.daily import TYPES
    from retail_platform.simulation.bronze_history import HISTORY_TOPIC

    assert late.LOADED_TYPES == TYPES
    assert "retail-sales-transactions" in late.stream_topics()
    assert "retail-inventory-updates" in late.stream_topics()
    assert HISTORY_TOPIC not in late.stream_topics()
    assert not any(t.startswith("landing") for t in late.stream_topics())


# ---- TTL guard ----------------------------------------------------------------------------------


def test_the_guard_looks_a_week_before_the_ttl_of_the_migration():
    sql = (REPO_ROOT / "sql" / "0006_realtime.sql").read_text()
    assert f"TTL window_start + INTERVAL {rt.RT_SALES_TTL_DAYS} DAY" in sql
    assert MaintenanceConfig().ttl_guard_days == 28
    assert rt.guard_cutoff(date(2026, 12, 6), 28) == date(2026, 11, 8)
    with pytest.raises(ValueError, match="1 to 34"):
        rt.guard_cutoff(date(2026, 12, 6), rt.RT_SALES_TTL_DAYS)
    with pytest.raises(ValueError, match="ttl_guard_days"):
        MaintenanceConfig(ttl_guard_days=40)
    assert MaintenanceConfig.from_params({"ttl_guard_days": ""}).ttl_guard_days is None


def test_the_guard_names_the_days():
    message = rt.guard_message([D2, D1], 28)
    assert message.startswith("2 day(s) older than 28 days") and "2026-11-10, 2026-11-11" in message
    many = rt.guard_message([D1 + timedelta(days=i) for i in range(25)], 28)
    assert many.startswith("25 day(s)") and many.count("2026-") == rt.NAMED_DAYS and "..." in many


# ---- rt_restock_state retention -----------------------------------------------------------------


def test_retention_keeps_recent_batches_and_each_keys_newest_row():
    rows = [
        ("q", "s1", "p1", 1),
        ("q", "s1", "p1", 5),
        ("q", "s1", "p1", 98),
        ("q", "s1", "p2", 3),  # newest of its key, however old
        ("q", "s2", "p1", 2),
        ("q", "s2", "p1", 4),  # newest below the cutoff: what a replay of 95..100 starts from
        ("q", "s2", "p1", 100),
        ("old", "s1", "p1", 1),  # another query: its own top (3), nothing below its cutoff
        ("old", "s1", "p1", 3),
    ]
    kept = rt.restock_rows_to_keep(rows, keep_batches=5)
    assert set(rows) - kept == {("q", "s1", "p1", 1), ("q", "s2", "p1", 2)}
    assert rt.restock_state_cutoff(100, 5) == 95 and rt.restock_state_cutoff(3, 5) == 0
    with pytest.raises(ValueError):
        rt.restock_state_cutoff(100, 0)


def _state_before(rows: dict[tuple[str, str, int], KeyState], batch: int) -> dict[tuple[str, str], KeyState]:
    """argMax(state, batch_id) per key over batch_id < batch: Warehouse.restock_states."""
    states: dict[tuple[str, str], tuple[int, KeyState]] = {}
    for (store, product, b), state in rows.items():
        if b < batch and b >= states.get((store, product), (-1, None))[0]:
            states[(store, product)] = (b, state)
    return {k: s for k, (_, s) in states.items()}


def test_replays_decide_the_same_alerts_after_retention():
    rng = random.Random(7)
    keys = [(f"store_{s}", f"SKU{p:04d}") for s in range(3) for p in range(4)]
    policies = {k: Policy(reorder_point=10, order_quantity=40) for k in keys[:-2]}  # two keys without a policy
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    batches, rows, decided = {}, {}, {}
    for batch in range(1, 121):
        touched = rng.sample(keys, rng.randint(0, 4))
        events = [
            {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
                # Some events are late (older than the state): the state machine ignores them.
                "event_time": t0 + timedelta(minutes=batch * 10 - rng.choice([0, 0, 0, 25])),
                "store_id": k[0],
                "product_id": k[1],
                "new_quantity": rng.randint(0, 30),
            }
            for k in touched
            for _ in range(rng.randint(1, 3))
        ]
        changed, alerts = run(events, _state_before(rows, batch), policies)
        batches[batch], decided[batch] = events, ([a.event_id for a in alerts], changed)
        rows |= {(k[0], k[1], batch): s for k, s in changed.items()}
    assert sum(len(a) for a, _ in decided.values()) > 10  # the scenario does raise alerts

    keep = 30
    kept_ids = rt.restock_rows_to_keep([("q", s, p, b) for s, p, b in rows], keep)
    pruned = {(s, p, b): state for (s, p, b), state in rows.items() if ("q", s, p, b) in kept_ids}
    assert len(pruned) < len(rows) / 2
    # Every key's newest row stays.
    assert _state_before(pruned, 10**9) == _state_before(rows, 10**9)
    # A replay of any batch since the cutoff starts from the same states and decides the same.
    for batch in range(rt.restock_state_cutoff(120, keep), 121):
        assert _state_before(pruned, batch) == _state_before(rows, batch)
        changed, alerts = run(batches[batch], _state_before(pruned, batch), policies)
        assert ([a.event_id for a in alerts], changed) == decided[batch]
