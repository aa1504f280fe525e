"""The dashboards benchmark's pure helpers: percentiles, the open loop's plan, the disk check."""

from __future__ import annotations

import pytest

from bench.dashboards import BYTES_PER_SALE_LINE, percentiles, rows_for_disk, schedule


def test_percentiles_are_nearest_rank() -> None:
    got = percentiles([float(x) for x in range(1, 101)])
    assert (got["p50_s"], got["p95_s"], got["max_s"], got["n"]) == (50.0, 95.0, 100.0, 100)
    assert percentiles([0.3])["p95_s"] == 0.3
    # 10 samples: the p95 is the largest (nearest rank 10), never an interpolated value below it.
    assert percentiles([0.1] * 9 + [2.0])["p95_s"] == 2.0


def test_percentiles_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentiles([])


def test_the_plan_sends_every_chart_of_every_user_once_per_period() -> None:
    plan = schedule(4, [2, 3, 2, 1], 60.0, period=30.0)
    assert len(plan) == 2 * (2 + 3 + 2 + 1)
    assert plan == sorted(plan)
    firsts = {user: min(due for due, u, _ in plan if u == user) for user in range(4)}
    assert firsts == {0: 0.0, 1: 7.5, 2: 15.0, 3: 22.5}  # phases spread over the first period
    user_1 = sorted({due for due, u, _ in plan if u == 1})
    assert user_1 == [7.5, 37.5]
    assert all(due < 60.0 for due, _, _ in plan)


def test_the_plan_refuses_mismatched_counts() -> None:
    with pytest.raises(ValueError, match="3 users but 2 chart counts"):
        schedule(3, [1, 1], 30.0)
    with pytest.raises(ValueError, match="positive"):
        schedule(0, [], 30.0)


def test_rows_scale_down_only_when_half_the_disk_cannot_hold_them() -> None:
    wanted = 100_000_000
    assert rows_for_disk(wanted, 2 * wanted * BYTES_PER_SALE_LINE) == wanted
    assert rows_for_disk(wanted, 10**15) == wanted
    assert rows_for_disk(wanted, 2 * 30_500_000 * BYTES_PER_SALE_LINE) == 30_000_000  # whole millions
    assert rows_for_disk(wanted, 0) == 1_000_000
    with pytest.raises(ValueError, match="positive"):
        rows_for_disk(0, 10**12)
