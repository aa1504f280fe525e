"""The API's copy of the serving stock (retail_platform/api/snapshot.py): when a copy may answer
(young enough, read after the last confirmed write), and that answering from it gives the rows the
warehouse read would give (the same rows in the same order; the integration tests compare both
with v_stock_current itself)."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from retail_platform.api.app import Services
from retail_platform.api.reads import Scope
from retail_platform.api.snapshot import StockSnapshot
from retail_platform.api.writes import Pending
from retail_platform.retry import poll


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _row(store: str, product: str, quantity: int = 1) -> dict:
    return {"store_id": store, "product_id": product, "quantity_on_hand": quantity, "as_of": None}


def test_no_copy_answers_before_the_first_read():
    assert StockSnapshot(lambda: [], 1.0).current() is None


def test_a_copy_answers_while_younger_than_the_bound_and_never_after():
    clock = Clock()
    snap = StockSnapshot(lambda: [_row("S2", "P1"), _row("S1", "P1"), _row("S1", "P2")], 1.0, clock)
    snap.refresh()
    copy = snap.current()
    assert copy is not None
    assert {p: [r["store_id"] for r in rows] for p, rows in copy.by_product.items()} == {
        "P1": ["S1", "S2"],
        "P2": ["S1"],
    }
    clock.now += 1.0
    assert snap.current() is copy  # exactly at the bound
    clock.now += 0.001
    assert snap.current() is None  # older: the caller reads the warehouse


def test_a_confirmed_write_retires_every_copy_read_before_it():
    clock = Clock()
    snap = StockSnapshot(lambda: [_row("S1", "P1")], 10.0, clock)
    snap.refresh()
    clock.now += 0.1
    snap.require_after(clock())
    assert snap.current() is None  # young, but read before the write was seen
    snap.refresh()
    assert snap.current() is not None
    snap.require_after(clock.now - 5)  # an older moment never brings a retired copy back
    assert snap.current() is not None


def test_the_refresher_rereads_at_once_after_a_confirmed_write_and_survives_a_failing_read():
    reads: list[int] = []
    failing = threading.Event()

    def load() -> list[dict]:
        reads.append(1)
        if failing.is_set():
            raise ConnectionError("warehouse away")
        return [_row("S1", "P1", len(reads))]

    snap = StockSnapshot(load, 600.0)  # period 300 s: any second read within the test is the wake-up's
    snap.start()
    try:
        poll(lambda: snap.current(), lambda c: c is not None, timeout=30, interval=0.01)
        failing.set()
        snap.require_after(snap.clock())
        poll(lambda: len(reads), lambda n: n >= 2, timeout=30, interval=0.01)
        assert snap.current() is None  # the failed read left no usable copy
        failing.clear()
        snap.require_after(snap.clock())
        copy = poll(lambda: snap.current(), lambda c: c is not None, timeout=30, interval=0.01)
        assert copy is not None and copy.by_product["P1"][0]["quantity_on_hand"] == len(reads)
    finally:
        snap.stop()


ids = st.sampled_from(["S1", "S2", "S3", "S10"])
products = st.sampled_from(["P1", "P2", "P/3"])


@given(
    keys=st.sets(st.tuples(ids, products), max_size=12),
    product=products,
    scope=st.one_of(st.none(), st.lists(ids, max_size=4).map(lambda s: tuple(sorted(set(s))))),
)
def test_an_answer_from_the_copy_is_the_warehouse_answer(keys, product, scope):
    rows = [_row(s, p, i) for i, (s, p) in enumerate(sorted(keys))]

    class Reads:
        def product_stock(self, sku: str, sc: Scope) -> list[dict]:
            # what reads.product_stock's SQL answers: the product's rows in the scope, by store
            return sorted(
                (r for r in rows if r["product_id"] == sku and (sc.stores is None or r["store_id"] in sc.stores)),
                key=lambda r: r["store_id"],
            )

    snap = StockSnapshot(lambda: list(reversed(rows)), 60.0)
    svc = Services(Reads(), None, None, None, b"", Pending(), snap)  # type: ignore[arg-type]
    copy = snap.refresh()
    from_copy, fresh = svc.stock(product, Scope(scope), copy)
    direct, direct_fresh = svc.stock(product, Scope(scope))
    assert from_copy == direct
    # A product the copy lacks (new since the read, or unknown) is read from the warehouse.
    assert fresh["max_staleness_ms"] == (60_000 if product in copy.by_product else 0)
    assert direct_fresh["max_staleness_ms"] == 0


def test_a_products_stock_is_answered_from_the_copy_without_the_warehouse():
    from datetime import datetime, timezone

    from fastapi.testclient import TestClient

    from retail_platform.api import auth
    from retail_platform.api.app import create_app
    from retail_platform.settings import load_settings

    class NoReads:
        def __getattr__(self, name):
            raise AssertionError(f"the copy held the product, yet the warehouse was read ({name})")

    class Closed:
        def close(self) -> None:
            pass

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    rows = [{**_row(s, "P1", q), "as_of": at, "product_name": "Milk"} for s, q in (("S2", 5), ("S1", 7), ("S3", 1))]
    snap = StockSnapshot(lambda: rows, 60.0)
    snap.refresh()
    secret = b"s" * 32
    svc = Services(NoReads(), None, Closed(), Closed(), secret, Pending(), snap)  # type: ignore[arg-type]
    manager = auth.issue_token(secret, "mgr", "store_manager", ["S1", "S3"])
    with TestClient(create_app(load_settings({"RETAIL_SETTINGS": "test"}), svc)) as http:
        mine = http.get("/api/v1/inventory/P1", headers={"Authorization": f"Bearer {manager}", "X-Request-ID": "r-1"})
    assert mine.status_code == 200 and mine.headers["x-request-id"] == "r-1"
    body = mine.json()
    assert [(r["store_id"], r["quantity_on_hand"]) for r in body["stores"]] == [("S1", 7), ("S3", 1)]
    assert body["total_quantity_on_hand"] == 8 and body["product_name"] == "Milk"
    assert body["freshness"]["max_staleness_ms"] == 60_000 and body["freshness"]["as_of"] == at.isoformat()
    assert datetime.fromisoformat(body["freshness"]["read_at"]) <= datetime.now(timezone.utc)


def _raise_floor(path: str, moment: float) -> None:
    from pathlib import Path

    from retail_platform.api.snapshot import Floor

    Floor(Path(path)).raise_to(moment)


def test_a_confirmed_write_in_one_worker_retires_the_copies_of_every_worker(tmp_path):
    """RETAIL_API_WORKERS > 1: read-your-writes confirmed by one worker process makes the copies of
    the others unusable too (the moment is shared), and the floor only ever rises."""
    import multiprocessing

    from retail_platform.api.snapshot import Floor

    path = tmp_path / "stock-floor"
    Floor.reset(path)
    clock = Clock()
    here = StockSnapshot(lambda: [_row("S1", "P1")], 10.0, clock, floor=Floor(path))
    here.refresh()
    assert here.current() is not None
    other = multiprocessing.get_context("spawn").Process(target=_raise_floor, args=(str(path), clock.now + 0.5))
    other.start()
    other.join(timeout=60)
    assert other.exitcode == 0
    assert here.current() is None  # read before the other worker's confirmed write
    Floor(path).raise_to(clock.now - 5)  # an older moment changes nothing
    assert Floor(path).get() == clock.now + 0.5
    clock.now += 1
    here.refresh()
    assert here.current() is not None
    Floor.reset(path)
    assert Floor(path).get() == float("-inf")


def test_a_floor_file_is_made_when_missing(tmp_path):
    from retail_platform.api.snapshot import Floor

    floor = Floor(tmp_path / "api" / "stock-floor")
    assert floor.get() == float("-inf")
    floor.raise_to(3.0)
    assert Floor(tmp_path / "api" / "stock-floor").get() == 3.0
