"""The restock-alert state machine: one alert when stock reaches the reorder point, none again until
restocked above it; late events change nothing; ids derive from the crossing event; alerts honour the
restock_alert contract."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from retail_platform.events.contracts import validate
from retail_platform.streaming.alerts import (
    KeyState,
    Policy,
    advance,
    alert_event_id,
    format_time,
    run,
    usable_policy,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
KEY = ("store_001", "SKU0001")
POLICY = Policy(reorder_point=10, order_quantity=50)


def ev(stock, minutes=0, event_id=None, key=KEY):
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_time": T0 + timedelta(minutes=minutes),
        "store_id": key[0],
        "product_id": key[1],
        "new_quantity": stock,
    }


def test_reaching_the_reorder_point_raises_one_alert():
    crossing = ev(10, 2)
    state, alerts = advance(KEY, None, [ev(30, 0), ev(11, 1), crossing, ev(4, 3), ev(0, 4)], POLICY)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.source_event_id == crossing["event_id"]
    assert alert.event_id == alert_event_id(crossing["event_id"])
    assert (alert.current_stock, alert.reorder_point, alert.recommended_quantity) == (10, 10, 50)
    assert alert.event_time == crossing["event_time"]
    assert state == KeyState(0, T0 + timedelta(minutes=4), state.event_id, True)


def test_no_second_alert_until_restocked_above_the_reorder_point():
    state, first = advance(KEY, None, [ev(5, 0)], POLICY)
    state, none = advance(KEY, state, [ev(3, 1), ev(10, 2), ev(8, 3)], POLICY)
    assert len(first) == 1 and none == []
    state, rearmed = advance(KEY, state, [ev(60, 4)], POLICY)
    assert rearmed == [] and state.alerted is False
    state, second = advance(KEY, state, [ev(9, 5)], POLICY)
    assert len(second) == 1 and state.alerted


def test_restock_and_new_crossing_within_one_batch_alert_twice():
    _, alerts = advance(KEY, None, [ev(5, 0), ev(80, 1), ev(2, 2)], POLICY)
    assert [a.current_stock for a in alerts] == [5, 2]


def test_events_apply_in_event_time_order_not_arrival_order():
    arrived = [ev(2, 3), ev(50, 1), ev(40, 2)]
    state, alerts = advance(KEY, None, arrived, POLICY)
    assert [a.current_stock for a in alerts] == [2]
    assert state.stock == 2


def test_a_late_event_older_than_the_state_changes_nothing():
    state, _ = advance(KEY, None, [ev(50, 10)], POLICY)
    after, alerts = advance(KEY, state, [ev(1, -60 * 24 * 3)], POLICY)  # three days late
    assert alerts == [] and after == state


def test_same_instant_resolves_by_event_id_like_rt_stock():
    a = ev(5, 0, event_id="10000000-0000-4000-8000-000000000000")
    b = ev(50, 0, event_id="20000000-0000-4000-8000-000000000000")
    state, alerts = advance(KEY, None, [b, a], POLICY)
    assert state.stock == 50
    assert [x.source_event_id for x in alerts] == [a["event_id"]]
    assert state.alerted is False  # b (the later by id) restocked above the point


def test_without_policy_stock_is_tracked_and_nothing_alerts():
    state, alerts = advance(KEY, None, [ev(0, 0)], None)
    assert alerts == [] and state.stock == 0 and state.alerted is False
    _, alerts = advance(KEY, state, [ev(1, 1)], POLICY)  # a policy appeared: next event judges
    assert len(alerts) == 1


def test_alert_id_is_deterministic_and_a_uuid():
    source = "0b7e4c55-1f2a-4d3b-8c9e-2a1b3c4d5e6f"
    assert alert_event_id(source) == alert_event_id(source)
    assert alert_event_id(source) != alert_event_id("6f1c2a4e-8b3d-4c1e-9a2f-0d5e7b8c9a10")
    assert uuid.UUID(alert_event_id(source)).version == 5


def test_alert_event_honours_the_contract():
    _, alerts = advance(KEY, None, [ev(3, 0)], Policy(10, None))
    event = alerts[0].to_event()
    assert validate(event, "restock_alert") is None
    assert event["event_time"] == "2026-03-02T10:00:00.000Z"
    assert event["recommended_quantity"] is None
    assert format_time(T0.astimezone(timezone(timedelta(hours=2)))) == "2026-03-02T10:00:00.000Z"


def test_run_groups_by_key_and_returns_only_changed_states():
    other = ("store_002", "SKU0001")
    stale = ev(5, -10, key=other)
    before = {other: KeyState(40, T0, "00000000-0000-4000-8000-000000000000", False)}
    changed, alerts = run([ev(4, 0), stale], before, {KEY: POLICY, other: POLICY})
    assert list(changed) == [KEY]
    assert [(a.store_id, a.product_id) for a in alerts] == [KEY]


def test_unusable_policies_are_none():
    assert usable_policy(None, 5) is None
    assert usable_policy(-1, 5) is None
    assert usable_policy(0, -3) == Policy(0, None)
    assert usable_policy(7, 20) == Policy(7, 20)
