"""The inventory API's pieces that need no service: idempotency records, adjustment events, the
pending levels, certificates, and the OpenAPI document."""

from __future__ import annotations

import multiprocessing
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from retail_platform import tls
from retail_platform.api import idempotency
from retail_platform.api.writes import Pending, build_event
from retail_platform.events import contracts
from retail_platform.settings import load_settings


def test_event_ids_derive_from_caller_and_key():
    assert idempotency.event_id_for("alice", "k1") == idempotency.event_id_for("alice", "k1")
    assert idempotency.event_id_for("alice", "k1") != idempotency.event_id_for("bob", "k1")
    assert contracts._UUID.match(idempotency.event_id_for("a", "b"))


def test_idempotency_records_survive_a_reopen_and_the_first_answer_wins(tmp_path):
    path = tmp_path / "keys.sqlite3"
    store = idempotency.IdempotencyStore(path)
    first = idempotency.Recorded("h1", 202, {"event_id": "e1"})
    assert store.put("alice", "k", first) == first
    assert store.put("alice", "k", idempotency.Recorded("h2", 202, {"event_id": "e2"})) == first
    assert store.get("bob", "k") is None
    store.close()
    assert idempotency.IdempotencyStore(path).get("alice", "k") == first


@given(
    change=st.integers(-100_000, 100_000).filter(bool),
    before=st.integers(0, 900_000),
    reason=st.sampled_from(["delivery", "adjustment", "shrinkage"]),
)
def test_adjustment_events_meet_the_contract_exactly_when_sign_and_bounds_allow(change, before, reason):
    after = before + change
    event = build_event(idempotency.event_id_for("a", "k"), datetime.now(timezone.utc), "store_001", "SKU0001",
                        change, after, reason, None)  # fmt: skip
    problem = contracts.validate(event, "inventory_update")
    sign_ok = {"delivery": change > 0, "shrinkage": change < 0, "adjustment": True}[reason]
    assert (problem is None) == (sign_ok and 0 <= after <= 1_000_000), problem


def test_pending_levels_stand_until_the_view_catches_up():
    pending, t0 = Pending(), datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert pending.base("s", "p", 10, t0) == 10
    pending.produced("s", "p", t0 + timedelta(seconds=1), 14)
    assert pending.base("s", "p", 10, t0) == 14  # the view has not applied it yet
    assert pending.base("s", "p", 10, None) == 14
    assert pending.base("s", "p", 14, t0 + timedelta(seconds=1)) == 14  # caught up: the view's level
    assert pending.base("s", "p", 3, t0 + timedelta(seconds=2)) == 3


def _adjust_many(path: str, times: int) -> None:
    """One worker process: read-modify-write of one store/product's pending level, ``times`` times,
    with a pause between the read and the write so an unserialised twin would lose updates."""
    pending, t0 = Pending(Path(path)), datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(times):
        with pending.lock("store/1", "SKU 1"):
            level = pending.base("store/1", "SKU 1", 0, None)
            time.sleep(0.002)
            pending.produced("store/1", "SKU 1", t0 + timedelta(milliseconds=i), level + 1)
    pending.close()


def test_adjustments_of_one_store_product_are_serialised_across_worker_processes(tmp_path):
    """RETAIL_API_WORKERS > 1: the level an adjustment starts from is the one another process just
    produced (pending levels in SQLite, one record lock per store/product), so no update is lost."""
    path = tmp_path / "pending.sqlite3"
    context = multiprocessing.get_context("spawn")  # as uvicorn starts its workers
    workers = [context.Process(target=_adjust_many, args=(str(path), 40)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert Pending(path).base("store/1", "SKU 1", 0, None) == 120


def test_pending_levels_outlive_the_process(tmp_path):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    first = Pending(tmp_path / "p.sqlite3")
    first.produced("s", "p", t0, 7)
    first.close()
    assert Pending(tmp_path / "p.sqlite3").base("s", "p", 3, t0 - timedelta(seconds=1)) == 7


def test_local_ca_signs_a_server_certificate_for_the_hosts(tmp_path):
    ca_path, crt_path, _ = tls.ensure_local(tmp_path, "api", "api.example")
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    cert = x509.load_pem_x509_certificate(crt_path.read_bytes())
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "api.example" in names.get_values_for_type(x509.DNSName)
    assert (tmp_path / "api.key").stat().st_mode & 0o777 == 0o600
    assert tls.ensure_local(tmp_path, "api", "api.example")[1].read_bytes() == crt_path.read_bytes()  # kept


def test_openapi_document_lists_the_endpoints():
    from retail_platform.api.app import create_app

    spec = create_app(load_settings({"RETAIL_SETTINGS": "test"})).openapi()
    assert set(spec["paths"]) == {
        "/api/v1/inventory/{productSku}",
        "/api/v1/inventory/{productSku}/adjust",
        "/api/v1/inventory/reorder-alerts",
        "/api/v1/inventory/{productSku}/forecast",
        "/api/v1/stores/{storeId}/inventory",
    }
    # GET stock reads its parameters itself: the document lists them as FastAPI lists declared ones.
    from fastapi import FastAPI

    declared = FastAPI()

    @declared.get("/x/{productSku:path}")
    def product_stock(productSku: str, storeId: str | None = None) -> None:
        pass

    expected = declared.openapi()["paths"]["/x/{productSku}"]["get"]["parameters"]
    assert spec["paths"]["/api/v1/inventory/{productSku}"]["get"]["parameters"] == expected
    adjust = spec["paths"]["/api/v1/inventory/{productSku}/adjust"]["post"]
    assert adjust["requestBody"]["content"]["application/json"]["schema"]["required"] == ["storeId", "quantity"]


@pytest.mark.parametrize("url", ["ftp://x:1", "127.0.0.1:8000"])
def test_api_url_setting_is_checked(url):
    from retail_platform.settings import SettingsError

    with pytest.raises(SettingsError, match="RETAIL_API_URL"):
        load_settings({"RETAIL_API_URL": url})


@pytest.mark.parametrize(
    ("method", "path", "endpoint", "params"),
    [
        ("GET", "/api/v1/inventory/reorder-alerts", "reorder_alerts", {}),
        ("GET", "/api/v1/inventory/SKU0001", "product_stock", {"productSku": "SKU0001"}),
        ("GET", "/api/v1/inventory/AB/1234.5", "product_stock", {"productSku": "AB/1234.5"}),
        ("GET", "/api/v1/inventory/AB/1234.5/forecast", "forecast", {"productSku": "AB/1234.5"}),
        ("POST", "/api/v1/inventory/AB/1234.5/adjust", "adjust", {"productSku": "AB/1234.5"}),
        ("GET", "/api/v1/stores/Berlin Mitte 03/inventory", "store_stock", {"storeId": "Berlin Mitte 03"}),
        ("GET", "/api/v1/stores/DE/BER/03/inventory", "store_stock", {"storeId": "DE/BER/03"}),
    ],
)
def test_every_key_the_contracts_accept_is_routed_whole(method, path, endpoint, params):
    """Keys may hold "/" and spaces (the contracts' key rule): the routes take them whole."""
    from starlette.routing import Match

    from retail_platform.api.app import create_app

    app = create_app(load_settings({"RETAIL_SETTINGS": "test"}))
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in app.router.routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            assert (route.endpoint.__name__, child["path_params"]) == (endpoint, params)
            return
    pytest.fail(f"{method} {path} matched no route")


def test_refusals_are_answered_and_audited_in_one_place(tmp_path):
    """Every endpoint refuses by raising; the app's handlers answer with the status and field and
    audit what must be audited. Nothing here reaches a warehouse: the refusals come before any read
    (the answers over the real warehouse are tests/integration/test_inventory_api.py's)."""
    from fastapi.testclient import TestClient

    from retail_platform.api import auth
    from retail_platform.api.app import Services, create_app

    class Recorder:
        def __init__(self) -> None:
            self.records: list = []

        def record(self, record) -> None:
            self.records.append(record)

    class NoReads:
        def __getattr__(self, name):
            raise AssertionError(f"a refused request read the warehouse ({name})")

    class Closed:
        def close(self) -> None:
            pass

    secret = b"s" * 32
    audit = Recorder()
    services = Services(NoReads(), audit, Closed(), Closed(), secret, Pending())  # type: ignore[arg-type]
    app = create_app(load_settings({"RETAIL_SETTINGS": "test"}), services)
    manager = auth.issue_token(secret, "mgr", "store_manager", ["S1"])
    with TestClient(app) as http:
        none = http.get("/api/v1/inventory/SKU1")
        other = http.get("/api/v1/inventory/SKU1?storeId=S2", headers={"Authorization": f"Bearer {manager}"})
        bad = http.get("/api/v1/inventory/reorder-alerts?limit=x", headers={"Authorization": f"Bearer {manager}"})
    assert (none.status_code, none.headers["www-authenticate"]) == (401, "Bearer")
    assert (other.status_code, other.json()["field"]) == (403, "storeId")
    assert (bad.status_code, bad.json()["field"]) == (422, "limit")
    assert "X-Request-ID" in bad.headers
    # Denials are audited; a bad parameter of a read is not (reads are not state changes).
    assert [(r.outcome, r.status, r.store_id) for r in audit.records] == [
        ("unauthenticated", 401, ""),
        ("denied", 403, "S2"),
    ]
