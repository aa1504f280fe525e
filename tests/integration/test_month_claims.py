"""One writer per month partition (warehouse_load.MonthClaims, sql/0015_month_claims.sql) against the
real warehouse endpoint: a second writer is refused with the holder named, concurrent claimers get
exactly one winner, and the claim is released after success and after failure, or goes stale."""

from __future__ import annotations

import threading
import time
from functools import partial

import pytest

from retail_platform.batch import warehouse_load as wl
from retail_platform.warehouse.client import connect

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]

# Months far from the ones other modules load.
MONTH = 203001


@pytest.fixture
def claims(warehouse):
    def make(what: str, months=(MONTH,), **kwargs) -> wl.MonthClaims:
        return wl.MonthClaims(partial(connect, warehouse), warehouse.clickhouse_database, months, what, **kwargs)

    return make


def test_a_second_writer_is_refused_naming_the_holder(claims):
    with claims("daily_etl 2030-01-05 run scheduled__x"):
        with pytest.raises(wl.MonthBusy, match=r"month 2030-01 is being written by daily_etl 2030-01-05 run sched"):
            with claims("daily_etl 2030-01-01..2030-01-31 (backfill)"):
                pytest.fail("two writers held the same month")
    # Released after success: the next writer gets it.
    with claims("next writer") as held:
        assert list(held.held) == [MONTH]


def test_the_claim_is_released_when_the_load_fails(claims):
    with pytest.raises(RuntimeError, match="load failed"):
        with claims("failing load"):
            raise RuntimeError("load failed")
    with claims("after the failure") as held:
        assert list(held.held) == [MONTH]


def test_a_refusal_releases_the_months_already_claimed(claims):
    other = MONTH + 1
    with claims("holds February", months=(other,)):
        with pytest.raises(wl.MonthBusy, match="holds February"):
            with claims("wants January and February", months=(MONTH, other)):
                pass
        # January was claimed, then released when February was refused.
        with claims("January alone", months=(MONTH,)):
            pass


def test_concurrent_claimers_get_exactly_one_winner(claims):
    month = MONTH + 2
    start = threading.Barrier(4)
    outcomes: list[str] = []
    release = threading.Event()

    def writer(n: int) -> None:
        start.wait()
        try:
            with claims(f"writer {n}", months=(month,)):
                outcomes.append("won")
                release.wait(10)
        except wl.MonthBusy:
            outcomes.append("refused")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(outcomes) < 4 and "won" in outcomes and outcomes.count("refused") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    release.set()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["refused", "refused", "refused", "won"]


def test_a_dead_holders_claim_goes_stale_and_a_live_one_is_renewed(claims, warehouse):
    month = MONTH + 3
    # A holder that dies without releasing: its claim lapses after its TTL.
    dead = claims("dead holder", months=(month,), ttl_seconds=2, renew_seconds=3600)
    dead.__enter__()
    dead._stop.set()  # no heartbeat, no release: as if the process was killed
    with pytest.raises(wl.MonthBusy, match="dead holder"):
        with claims("too soon", months=(month,)):
            pass
    time.sleep(2.5)
    with claims("after expiry", months=(month,)) as held:
        assert held.held[month] == dead.held[month] + 1
    # The dead holder, back, notices it lost the claim and does not release the new holder's.
    client = connect(warehouse)
    try:
        with pytest.raises(wl.MonthBusy, match="lost the claim"):
            wl.renew_month(client, warehouse.clickhouse_database, month, dead.held[month], dead.token)
    finally:
        client.close()

    # A live holder with a short TTL keeps its claim through renewals.
    with claims("live holder", months=(month,), ttl_seconds=2, renew_seconds=0.5) as live:
        time.sleep(3)
        live.check()
        with pytest.raises(wl.MonthBusy, match="live holder"):
            with claims("intruder", months=(month,)):
                pass


def test_a_retry_of_the_same_run_takes_over_its_killed_tries_claim(claims):
    month = MONTH + 4
    killed = claims("daily_etl 2030-05-02..2030-05-02 run manual__r1", months=(month,))
    killed.__enter__()
    killed._stop.set()  # the try was killed: its claim is live until it goes stale
    with pytest.raises(wl.MonthBusy, match="run manual__r1"):
        with claims("daily_etl 2030-05-02..2030-05-02 run manual__r2", months=(month,), take_over=True):
            pass
    with claims("daily_etl 2030-05-02..2030-05-02 run manual__r1", months=(month,), take_over=True) as retry:
        assert retry.held[month] == killed.held[month] + 1
