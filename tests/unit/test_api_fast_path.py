"""GET stock's fast path (retail_platform/api/fast_path.py) answers only what the endpoint itself
would answer, with the same bytes, and leaves every other request to the application.

The comparison: the same question asked twice, once in the shape the fast path takes and once with
an extra query parameter the endpoint ignores (which the fast path never takes), so the second answer
is the endpoint's own code. The warehouse here is a stand-in answering from the same rows as the copy
(its SQL is tests/integration/test_inventory_api.py's)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retail_platform.api import auth
from retail_platform.api.app import Services, create_app
from retail_platform.api.fast_path import stock_question
from retail_platform.api.reads import Scope
from retail_platform.api.snapshot import StockSnapshot
from retail_platform.api.writes import Pending
from retail_platform.settings import load_settings

SECRET = b"s" * 32
AT = datetime(2026, 3, 28, 23, 59, 59, 999000, tzinfo=timezone.utc)
STORES = ["S1", "S2", "Berlin Mitte 03"]
PRODUCTS = ["P1", "P2", "4006381333931"]


class Recorder:
    def __init__(self) -> None:
        self.records: list = []

    def record(self, record) -> None:
        self.records.append(record)


class Closed:
    def close(self) -> None:
        pass


class Reads:
    """The warehouse's answers for the rows the copy was read from (what reads.py's SQL returns)."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.calls = 0

    def product_stock(self, sku: str, scope: Scope) -> list[dict]:
        self.calls += 1
        return sorted(
            (
                r
                for r in self.rows
                if r["product_id"] == sku and (scope.stores is None or r["store_id"] in scope.stores)
            ),
            key=lambda r: r["store_id"],
        )

    def product_exists(self, sku: str) -> bool:
        self.calls += 1
        return sku in PRODUCTS

    def reorder_alerts(self, scope: Scope, limit: int) -> list[dict]:
        self.calls += 1
        return []

    def store_exists(self, store: str) -> bool:
        self.calls += 1
        return store in STORES


def _row(store: str, product: str, quantity: int) -> dict:
    return {"store_id": store, "product_id": product, "quantity_on_hand": quantity, "as_of": AT,
            "product_name": f"Name of {product} ü", "days_of_cover": float("nan"), "risk_level": "low"}  # fmt: skip


def _client(rows: list[dict]) -> tuple[TestClient, Reads, Recorder]:
    reads, audit = Reads(rows), Recorder()
    snap = StockSnapshot(lambda: rows, 600.0)
    snap.refresh()
    services = Services(reads, audit, Closed(), Closed(), SECRET, Pending(), snap)  # type: ignore[arg-type]
    return TestClient(create_app(load_settings({"RETAIL_SETTINGS": "test"}), services)), reads, audit


def _read_at_of_warehouse(body: bytes) -> bytes:
    """The body with the moment of a warehouse read blanked (each read is at its own moment; a copy's
    answers all carry the copy's)."""
    return re.sub(rb'"read_at":"[^"]*","max_staleness_ms":0', b'"read_at":"","max_staleness_ms":0', body)


TOKENS = {
    "analyst": auth.issue_token(SECRET, "ann", "analyst", ["*"]),
    "manager": auth.issue_token(SECRET, "mo", "store_manager", ["S1", "Berlin Mitte 03"]),
    "writer_only": auth.issue_token(SECRET, "erp", "integration", ["*"], permissions=[auth.ADJUST]),
    "expired": auth.issue_token(SECRET, "old", "analyst", ["*"], lifetime_s=1, now=1_000_000),
    "forged": auth.issue_token(b"f" * 32, "eve", "analyst", ["*"]),
    "none": "",
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys=st.sets(st.tuples(st.sampled_from(STORES), st.sampled_from(PRODUCTS[:2])), max_size=6),
    product=st.sampled_from([*PRODUCTS, "unknown", "reorder-alerts", "P/1", "x" * 300]),
    store=st.sampled_from([None, *STORES, "S404", ""]),
    who=st.sampled_from(sorted(TOKENS)),
)
def test_a_fast_answer_is_the_endpoints_answer(keys, product, store, who):
    rows = [_row(s, p, i * 7 - 3) for i, (s, p) in enumerate(sorted(keys))]
    http, _, _ = _client(rows)
    headers = {"Authorization": f"Bearer {TOKENS[who]}"} if TOKENS[who] else {}
    params = {} if store is None else {"storeId": store}
    with http:
        fast = http.get(f"/api/v1/inventory/{product}", params=params, headers=headers)
        full = http.get(f"/api/v1/inventory/{product}", params={**params, "ignored": "1"}, headers=headers)
    assert (fast.status_code, fast.headers.get("content-type"), _read_at_of_warehouse(fast.content)) == (
        full.status_code,
        full.headers.get("content-type"),
        _read_at_of_warehouse(full.content),
    )
    assert fast.headers["x-request-id"]


def test_the_fast_path_answers_a_held_product_without_the_application_and_refusals_with_it():
    rows = [_row("S1", "P1", 5), _row("S2", "P1", 2)]
    http, reads, audit = _client(rows)
    manager = {"Authorization": f"Bearer {TOKENS['manager']}"}
    with http:
        mine = http.get("/api/v1/inventory/P1", headers={**manager, "X-Request-ID": "r-9"})
        again = http.get("/api/v1/inventory/P1", headers=manager)
        other = http.get("/api/v1/inventory/P1?storeId=S2", headers=manager)
        unknown = http.get("/api/v1/inventory/P9", headers=manager)
    assert (mine.status_code, mine.headers["x-request-id"], mine.json()["total_quantity_on_hand"]) == (200, "r-9", 5)
    assert again.content == mine.content and again.headers["x-request-id"] != "r-9"
    assert other.status_code == 403 and unknown.status_code == 404
    # The denial is audited (by the endpoint, not the fast path); the unknown product asked the warehouse.
    assert [(r.outcome, r.store_id) for r in audit.records] == [("denied", "S2")]
    assert reads.calls == 2  # product_stock and product_exists for P9; none for P1


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        ("GET", "/api/v1/inventory/P1", b"", [(b"authorization", b"Bearer t")], ("t", "P1", None)),
        ("GET", "/api/v1/inventory/P1", b"storeId=Berlin%20Mitte%2003", [], (None, "P1", "Berlin Mitte 03")),
        ("GET", "/api/v1/inventory/P1", b"storeId=S1&storeId=S2", [], None),
        ("GET", "/api/v1/inventory/P1", b"limit=5", [], None),
        ("GET", "/api/v1/inventory/P1/forecast", b"", [], None),
        ("GET", "/api/v1/inventory/reorder-alerts", b"", [], None),
        ("GET", "/api/v1/inventory/", b"", [], None),
        ("POST", "/api/v1/inventory/P1", b"", [], None),
        ("GET", "/api/v1/stores/S1/inventory", b"", [], None),
        ("GET", "/health", b"", [], None),
    ],
)
def test_only_one_request_shape_is_a_stock_question(method, path, query, headers, expected):
    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": headers}
    assert stock_question(scope) == expected


def test_the_middleware_answers_a_copied_success_alone_and_passes_on_the_rest():
    import asyncio
    from types import SimpleNamespace

    from retail_platform.api.fast_path import StockFastPath

    snap = StockSnapshot(lambda: [_row("S1", "P1", 5)], 600.0)
    snap.refresh()
    services = Services(Reads([]), Recorder(), Closed(), Closed(), SECRET, Pending(), snap)  # type: ignore[arg-type]
    passed_on: list[str] = []

    async def application(scope, receive, send) -> None:
        passed_on.append(scope["path"])

    async def ask(path: str, token: str) -> list[dict]:
        sent: list[dict] = []

        async def send(message) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": path, "query_string": b"",
                 "headers": [(b"authorization", f"Bearer {token}".encode())],
                 "app": SimpleNamespace(state=SimpleNamespace(services=services))}  # fmt: skip
        await StockFastPath(application)(scope, None, send)  # type: ignore[arg-type]
        return sent

    answered = asyncio.run(ask("/api/v1/inventory/P1", TOKENS["analyst"]))
    assert answered[0]["status"] == 200 and b'"total_quantity_on_hand":5' in answered[1]["body"]
    assert asyncio.run(ask("/api/v1/inventory/P1", TOKENS["forged"])) == []
    assert asyncio.run(ask("/api/v1/inventory/P2", TOKENS["analyst"])) == []
    assert passed_on == ["/api/v1/inventory/P1", "/api/v1/inventory/P2"]
