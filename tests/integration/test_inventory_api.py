"""The inventory API against the running stack: the real API process (started like `make up` starts
it), the real warehouse endpoint, the real Kafka broker and the real streaming job.

One module-scoped stack: the stock the tests read is seeded through Kafka and the stream (the same
path as every event), plus end-of-day snapshots in the batch layer at the watermark (as the daily
load writes them), then every test talks HTTP to the API. The schema-driven tests (schemathesis,
from the API's own OpenAPI document) run against the same API. The adjustment test goes the whole way:
POST -> inventory_update on Kafka -> stream -> v_stock_current -> read-your-writes answer."""

from __future__ import annotations

import dataclasses
import json
import ssl
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from retail_platform.api import auth, schemas
from retail_platform.api.app import create_app
from retail_platform.api.reads import Reads, Scope
from retail_platform.runtime import process, stack
from retail_platform.runtime.api import InventoryApi
from retail_platform.runtime.process import ProcessSpec
from retail_platform.settings import load_settings
from retail_platform.topics import INVENTORY
from retail_platform.warehouse.client import connect

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.warehouse, pytest.mark.spark]

# Identifiers of this module only (the session's warehouse holds other modules' stores/products).
RUN = uuid.uuid4().int % 9000 + 1000
OWN, OTHER, EMPTY, BATCH = f"store_7{RUN}", f"store_8{RUN}", f"store_9{RUN}", f"store_6{RUN}"
SKU_A, SKU_B, SKU_C, SKU_D = f"SKU7{RUN}01", f"SKU7{RUN}02", f"SKU7{RUN}03", f"SKU7{RUN}04"
SEED = {(OWN, SKU_A): 40, (OWN, SKU_B): 3, (OTHER, SKU_A): 25, (OWN, SKU_C): 0, (OTHER, SKU_D): 9}
# The batch layer at the watermark: (level, minutes before now of its last movement). SKU_D at BATCH
# only there; SKU_D at OTHER there and in the speed layer, the snapshot newer (the batch row wins);
# SKU_A at OTHER there and in the speed layer, the event newer (the speed row wins).
BATCH_ROWS = {(BATCH, SKU_D): (17, 60), (OTHER, SKU_D): (11, 1), (OTHER, SKU_A): (99, 24 * 60)}
STORES, SKUS = (OWN, OTHER, EMPTY, BATCH), (SKU_A, SKU_B, SKU_C, SKU_D)
POLICY = {(OWN, SKU_A): 10, (OWN, SKU_B): 5, (OTHER, SKU_A): 30, (OWN, SKU_C): 4}


def _dimensions(client) -> None:
    now = datetime.now(timezone.utc) - timedelta(days=1)
    client.insert(
        "dim_store",
        [[s, f"Store {s}", "supermarket", "Lyon", "Rhone", "FR", now.date()] for s in STORES],
        column_names=["store_id", "store_name", "store_type", "city", "region", "country", "opened_on"],
    )
    client.insert(
        "dim_product",
        [
            [p, now, f"Product {p}", cat, "SUP001", 1.5, 2.5]
            for p, cat in ((SKU_A, "dairy"), (SKU_B, "bakery"), (SKU_C, "dairy"), (SKU_D, "frozen"))
        ],
        column_names=["product_id", "valid_from", "product_name", "category", "supplier_id", "unit_cost", "unit_price"],
    )
    client.insert(
        "rt_reorder_policy",
        [[s, p, rp, 20, 2] for (s, p), rp in POLICY.items()],
        column_names=["store_id", "product_id", "reorder_point", "order_quantity", "safety_stock"],
    )


def _seed_batch(client) -> None:
    """End-of-day rows at the current watermark (the module's own stores: nothing else reads them)."""
    watermark = client.query("SELECT max(day) FROM ops_batch_watermark FINAL").result_rows[0][0]
    now = datetime.now(timezone.utc)
    client.insert(
        "fact_inventory",
        [
            [watermark, s, p, "frozen", "SUP001", level, 4, 2, Decimal("1.50"), str(uuid.uuid4()), at, "b1"]
            for (s, p), (level, ago) in BATCH_ROWS.items()
            for at in [now - timedelta(minutes=ago)]
        ],
        column_names=["date_key", "store_id", "product_id", "category", "supplier_id", "quantity_on_hand",
                      "reorder_point", "safety_stock", "unit_cost", "last_event_id", "last_event_time", "batch_id"],
    )  # fmt: skip


def _seed_stock(settings) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    at = datetime.now(timezone.utc) - timedelta(minutes=5)
    for (store, sku), level in SEED.items():
        event = {
            "event_id": str(uuid.uuid4()),
            "event_type": "inventory_update",
            "schema_version": 1,
            "event_time": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "store_id": store,
            "product_id": sku,
            "quantity_change": level,
            "new_quantity": level,
            "reason": "delivery",
            "reference_id": None,
        }
        producer.send(INVENTORY.name, key=store.encode(), value=json.dumps(event).encode()).get(timeout=15)
    producer.close()


def _view(settings, store: str, sku: str) -> tuple[int, datetime] | None:
    client = connect(settings)
    try:
        rows = client.query(
            "SELECT quantity_on_hand, as_of FROM v_stock_current"
            " WHERE store_id = {s:String} AND product_id = {p:String}",
            parameters={"s": store, "p": sku},
        ).result_rows
    finally:
        client.close()
    return (rows[0][0], rows[0][1]) if rows else None


def _in_speed_layer(settings) -> set[tuple[str, str]]:
    client = connect(settings)
    try:
        rows = client.query(
            "SELECT store_id, product_id FROM rt_stock FINAL WHERE store_id IN {s:Array(String)}",
            parameters={"s": list(STORES)},
        ).result_rows
    finally:
        client.close()
    return {(s, p) for s, p in rows}


def _wait(predicate, timeout: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the stream did not apply the events in time"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def api(warehouse, kafka):
    settings = warehouse
    client = connect(settings)
    _dimensions(client)
    _seed_batch(client)
    client.close()
    _seed_stock(settings)
    stack.up(settings, ("stream", "api"), log=lambda _: None)
    _wait(lambda: set(SEED) <= _in_speed_layer(settings))
    # The API answers a product's stock from a copy at most RETAIL_API_STOCK_MAX_AGE_MS old: the tests
    # start once it holds the seeded stock (its answer says when it was read).
    seeded = datetime.now(timezone.utc)
    headers = token(auth.load_secret(settings.api_secret_file), "analyst", ["*"])

    def read_at() -> datetime:
        body = httpx.get(f"{settings.api_url}/api/v1/inventory/{SKU_A}", headers=headers, timeout=30).json()
        return datetime.fromisoformat(body["freshness"]["read_at"])

    _wait(lambda: read_at() >= seeded, timeout=30)
    yield settings
    stack.down(settings, ("api", "stream"), log=lambda _: None)
    # The seeded end-of-day rows sit on the shared watermark day, where a later module's stock
    # optimisation would find them without the suppliers they name: they are taken back.
    client = connect(settings)
    client.command("DELETE FROM fact_inventory WHERE store_id IN %(s)s", parameters={"s": list(STORES)})
    client.close()


@pytest.fixture(scope="module")
def secret(api) -> bytes:
    return auth.load_secret(api.api_secret_file)


@pytest.fixture(scope="module")
def http(api):
    with httpx.Client(base_url=api.api_url, timeout=60) as client:
        yield client


def token(secret: bytes, role: str, stores: list[str], **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth.issue_token(secret, f'{role}-test', role, stores, **kwargs)}"}


def _audit(settings, **where: str) -> list[dict[str, Any]]:
    client = connect(settings)
    try:
        cond = " AND ".join(f"{k} = {{{k}:String}}" for k in where)
        result = client.query(f"SELECT * FROM ops_api_audit WHERE {cond} ORDER BY at", parameters=where)
        return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
    finally:
        client.close()


def _inventory_end_offsets(settings) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    parts = [TopicPartition(INVENTORY.name, p) for p in range(INVENTORY.partitions)]
    ends = consumer.end_offsets(parts)
    consumer.close()
    return {tp.partition: off for tp, off in ends.items()}


# --- reads ---------------------------------------------------------------------------------------


def test_product_stock_equals_the_serving_view(api, secret, http):
    reply = http.get(f"/api/v1/inventory/{SKU_A}", headers=token(secret, "analyst", ["*"]))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    by_store = {row["store_id"]: row for row in body["stores"]}
    assert set(by_store) == {OWN, OTHER}
    for store in (OWN, OTHER):
        level, as_of = _view(api, store, SKU_A)
        assert by_store[store]["quantity_on_hand"] == level
        assert datetime.fromisoformat(by_store[store]["as_of"]) == as_of.replace(tzinfo=timezone.utc)
    assert body["total_quantity_on_hand"] == sum(by_store[s]["quantity_on_hand"] for s in by_store)
    assert body["as_of"] == max(row["as_of"] for row in body["stores"])
    # The natural key beside the catalogue's current name.
    client = connect(api)
    try:
        name = client.command(
            "SELECT product_name FROM dim_product FINAL WHERE is_current AND product_id = {p:String}",
            parameters={"p": SKU_A},
        )
    finally:
        client.close()
    assert name and body["product_name"] == name
    assert {row["product_name"] for row in body["stores"]} == {name}


VIEW_COLUMNS = ("store_id", "product_id", "quantity_on_hand", "as_of", "source", "reorder_point", "safety_stock",
                "order_quantity", "is_stockout", "is_below_reorder_point")  # fmt: skip


def _comparable(row: dict[str, Any]) -> tuple:
    """A stock row as v_stock_current's columns, whether it came from SQL or from the API's JSON."""
    as_of = row["as_of"]
    as_of = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of.replace(tzinfo=timezone.utc)
    return tuple(as_of if c == "as_of" else bool(row[c]) if c.startswith("is_") else row[c] for c in VIEW_COLUMNS)


def test_point_reads_equal_the_view_for_every_store_and_product(api, secret, http):
    """Every store x product of the module (both layers, each winning, neither, a store without stock):
    the API's answer (from its stock copy), reads.py's point query and its level read are exactly
    v_stock_current's row, per store and for all stores of a product."""
    client = connect(api)
    try:
        result = client.query(
            f"SELECT {', '.join(VIEW_COLUMNS)} FROM v_stock_current WHERE store_id IN {{s:Array(String)}}",
            parameters={"s": list(STORES)},
        )
        view = {(r[0], r[1]): dict(zip(VIEW_COLUMNS, r, strict=True)) for r in result.result_rows}
        reads = Reads(client, api.clickhouse_database)
        # The data covers the rule's cases.
        assert view[(OWN, SKU_C)]["source"] == "speed" and (OWN, SKU_C) not in BATCH_ROWS  # speed layer only
        assert view[(BATCH, SKU_D)]["source"] == "batch" and view[(BATCH, SKU_D)]["quantity_on_hand"] == 17
        assert view[(OTHER, SKU_D)]["source"] == "batch" and view[(OTHER, SKU_D)]["quantity_on_hand"] == 11
        assert view[(OTHER, SKU_A)]["source"] == "speed" and view[(OTHER, SKU_A)]["quantity_on_hand"] == 25
        headers = token(secret, "analyst", ["*"])
        for store in STORES:
            for sku in SKUS:
                expected = [_comparable(view[(store, sku)])] if (store, sku) in view else []
                assert [_comparable(r) for r in reads.product_stock(sku, Scope((store,)))] == expected, (store, sku)
                level = reads.stock_level(store, sku)
                assert level == ((expected[0][2], expected[0][3]) if expected else (0, None)), (store, sku)
                reply = http.get(f"/api/v1/inventory/{sku}?storeId={store}", headers=headers)
                assert reply.status_code == 200, reply.text
                schemas.ProductStock.model_validate(
                    reply.json(), strict=True
                )  # the body the OpenAPI document describes
                assert [_comparable(r) for r in reply.json()["stores"]] == expected, (store, sku)
        for sku in SKUS:
            expected = sorted(_comparable(row) for (_, p), row in view.items() if p == sku)
            mine = [r for r in reads.product_stock(sku, Scope(None)) if r["store_id"] in STORES]
            assert [_comparable(r) for r in mine] == expected
            body = http.get(f"/api/v1/inventory/{sku}", headers=headers).json()
            assert [_comparable(r) for r in body["stores"] if r["store_id"] in STORES] == expected
            assert body["freshness"]["max_staleness_ms"] == api.api_stock_max_age_ms
    finally:
        client.close()


def test_store_stock_pages_and_filters(api, secret, http):
    headers = token(secret, "store_manager", [OWN])
    full = http.get(f"/api/v1/stores/{OWN}/inventory", headers=headers).json()
    schemas.StoreStock.model_validate(full, strict=True)
    assert full["total"] == 3 and [i["product_id"] for i in full["items"]] == sorted([SKU_A, SKU_B, SKU_C])
    page = http.get(f"/api/v1/stores/{OWN}/inventory?limit=1&offset=1", headers=headers).json()
    assert page["total"] == 3 and [i["product_id"] for i in page["items"]] == [sorted([SKU_A, SKU_B, SKU_C])[1]]
    dairy = http.get(f"/api/v1/stores/{OWN}/inventory?category=dairy", headers=headers).json()
    assert {i["product_id"] for i in dairy["items"]} == {SKU_A, SKU_C}
    out = http.get(f"/api/v1/stores/{OWN}/inventory?risk=out_of_stock", headers=headers).json()
    assert [i["product_id"] for i in out["items"]] == [SKU_C]
    empty = http.get(f"/api/v1/stores/{EMPTY}/inventory", headers=token(secret, "analyst", ["*"]))
    assert empty.status_code == 200 and empty.json()["total"] == 0


def test_reorder_alerts_are_scoped_to_the_callers_stores(api, secret, http):
    own = http.get("/api/v1/inventory/reorder-alerts", headers=token(secret, "store_manager", [OWN])).json()
    schemas.Alerts.model_validate(own, strict=True)
    assert {a["store_id"] for a in own["alerts"]} == {OWN}
    assert {a["product_id"] for a in own["alerts"]} == {SKU_B, SKU_C}  # 3 <= 5 and 0 <= 4; 40 > 10
    chain = http.get("/api/v1/inventory/reorder-alerts?limit=1000", headers=token(secret, "analyst", ["*"])).json()
    mine = {(a["store_id"], a["product_id"]) for a in chain["alerts"] if a["store_id"] in (OWN, OTHER)}
    assert mine == {(OWN, SKU_B), (OWN, SKU_C), (OTHER, SKU_A)}


def test_forecast_answers_stock_and_empty_forecast_when_none_was_made(api, secret, http):
    reply = http.get(f"/api/v1/inventory/{SKU_A}/forecast?storeId={OWN}", headers=token(secret, "store_manager", [OWN]))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    schemas.Forecast.model_validate(body, strict=True)
    assert body["stock"]["quantity_on_hand"] == _view(api, OWN, SKU_A)[0]
    assert body["forecast"] == [] and body["recommendation"] is None


# --- the OpenAPI document, property-based (schemathesis) -----------------------------------------


# The document the app serves, built from the application itself so the generated tests are known
# at collection (schemathesis' lazy fixture loading does not run on this pytest); the first test
# checks that the running API serves exactly this document.
SCHEMA_DOC = create_app(load_settings({})).openapi()
SCHEMA = schemathesis.openapi.from_dict(SCHEMA_DOC)


def test_the_running_api_serves_the_document_the_generated_tests_use(api, http):
    assert http.get("/openapi.json").json() == SCHEMA_DOC


# What the generated requests must never break: no 5xx, and every answer (status, content type,
# body) is one the document describes. Bounded: a few dozen examples per operation.
CONFORMANCE = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@SCHEMA.parametrize()
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_generated_requests_get_answers_the_openapi_document_describes(case, api, secret):
    # A chain-wide integration key that may read and adjust: the generated products and stores are
    # unknown, so an adjustment is refused before Kafka; the audit trail records those refusals.
    headers = token(secret, "integration", ["*"], permissions=[auth.READ, auth.ADJUST])
    if case.method == "POST":
        headers["Idempotency-Key"] = str(uuid.uuid4())
    case.call_and_validate(base_url=api.api_url, headers=headers, checks=CONFORMANCE, timeout=60)


# --- authorisation matrix ------------------------------------------------------------------------

ENDPOINTS = {
    "product": lambda store: ("GET", f"/api/v1/inventory/{SKU_A}?storeId={store}", None),
    "store": lambda store: ("GET", f"/api/v1/stores/{store}/inventory", None),
    "alerts": lambda store: ("GET", f"/api/v1/inventory/reorder-alerts?storeId={store}", None),
    "forecast": lambda store: ("GET", f"/api/v1/inventory/{SKU_A}/forecast?storeId={store}", None),
    "adjust": lambda store: ("POST", f"/api/v1/inventory/{SKU_A}/adjust", {"storeId": store, "quantity": 1}),
}
# role -> (stores in its token, permissions or None) and whether it may read / adjust its stores.
ROLES = {
    "store_manager": ([OWN], None, True, True),
    "analyst": (["*"], None, True, False),
    "integration": ([OWN], ["inventory:read"], True, False),
}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("where", ["own", "other"])
def test_authorisation_matrix(api, secret, http, endpoint, role, where):
    stores, perms, may_read, may_adjust = ROLES[role]
    store = OWN if where == "own" else OTHER
    method, path, body = ENDPOINTS[endpoint](store)
    key = str(uuid.uuid4())
    headers = {**token(secret, role, stores, permissions=perms), "Idempotency-Key": key, "X-Request-ID": key}
    before = _inventory_end_offsets(api) if method == "POST" else None
    reply = http.request(method, path, json=body, headers=headers)
    in_scope = stores == ["*"] or store in stores
    allowed = in_scope and (may_adjust if method == "POST" else may_read)
    if allowed:
        assert reply.status_code == (202 if method == "POST" else 200), reply.text
    else:
        assert reply.status_code == 403, reply.text
        rows = _audit(api, request_id=key)
        assert [(r["outcome"], r["status"], r["role"]) for r in rows] == [("denied", 403, role)]
        if method == "POST":
            assert _inventory_end_offsets(api) == before  # nothing reached Kafka


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("credential", ["none", "forged", "expired", "garbage"])
def test_bad_credentials_answer_401_and_are_audited(api, secret, http, endpoint, credential):
    method, path, body = ENDPOINTS[endpoint](OWN)
    headers = {
        "none": {},
        "forged": token(b"x" * 40, "analyst", ["*"]),
        "expired": token(secret, "analyst", ["*"], lifetime_s=60, now=datetime.now().timestamp() - 3600),
        "garbage": {"Authorization": "Bearer not.a.jwt"},
    }[credential]
    key = str(uuid.uuid4())
    reply = http.request(method, path, json=body, headers={**headers, "X-Request-ID": key, "Idempotency-Key": key})
    assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
    rows = _audit(api, request_id=key)
    assert [(r["outcome"], r["status"], r["subject"]) for r in rows] == [("unauthenticated", 401, "")]


# --- bad input -----------------------------------------------------------------------------------

BAD = [
    ("/api/v1/inventory/SKU0000000/adjust", {"storeId": OWN, "quantity": 1}, 404, "productSku"),
    (f"/api/v1/inventory/{SKU_A}/adjust", {"storeId": OWN + "0", "quantity": 1}, 403, "storeId"),
    (f"/api/v1/inventory/{SKU_A}/adjust", {"storeId": OWN, "quantity": 100_001}, 422, "quantity"),
    (f"/api/v1/inventory/{SKU_A}/adjust", {"storeId": OWN, "quantity": -1000}, 422, "quantity"),
    (f"/api/v1/inventory/{SKU_A}/adjust", {"storeId": OWN, "quantity": 5, "reason": "shrinkage"}, 422, "quantity"),
    (f"/api/v1/inventory/{SKU_A}/adjust", {"storeId": OWN, "quantity": "5"}, 422, "quantity"),
    (f"/api/v1/inventory/{SKU_A}/adjust", {"quantity": 5}, 422, "storeId"),
    (f"/api/v1/inventory/{SKU_A}/adjust", {"storeId": OWN, "quantity": 5, "extra": 1}, 422, "extra"),
    (f"/api/v1/inventory/{SKU_A}/adjust", b'{"storeId": "x", "quantity": ', 400, "body"),
    (f"/api/v1/inventory/{SKU_A}/adjust", {"storeId": "store'; DROP TABLE x", "quantity": 1}, 422, "storeId"),
]


@pytest.mark.parametrize(("path", "body", "status", "field"), BAD)
def test_bad_adjustments_name_the_field_and_reach_no_kafka(api, secret, http, path, body, status, field):
    before = _inventory_end_offsets(api)
    key = str(uuid.uuid4())
    headers = {**token(secret, "store_manager", [OWN]), "Idempotency-Key": key, "X-Request-ID": key}
    if isinstance(body, bytes):
        reply = http.post(path, content=body, headers={**headers, "Content-Type": "application/json"})
    else:
        reply = http.post(path, json=body, headers=headers)
    assert reply.status_code == status, reply.text
    assert reply.json()["field"] == field
    assert _inventory_end_offsets(api) == before
    rows = _audit(api, request_id=key)
    assert len(rows) == 1 and rows[0]["status"] == status and rows[0]["outcome"] in ("rejected", "denied")


def test_unknown_product_and_store_reads_are_404(api, secret, http):
    headers = token(secret, "analyst", ["*"])
    assert http.get("/api/v1/inventory/SKU0000000", headers=headers).json()["field"] == "productSku"
    reply = http.get(f"/api/v1/stores/{OWN}0/inventory", headers=headers)
    assert reply.status_code == 404 and reply.json()["field"] == "storeId"
    reply = http.get("/api/v1/inventory/SKU%00x", headers=headers)
    assert reply.status_code == 422 and reply.json()["field"] == "productSku"


# --- writes: the whole path ----------------------------------------------------------------------


def _settled(settings, store: str, sku: str) -> int:
    """The view's level once it includes every adjustment the API accepted earlier in this module."""
    accepted = [r for r in _audit(settings, store_id=store, product_id=sku) if r["outcome"] == "accepted"]
    if accepted:
        _wait(lambda: _view(settings, store, sku)[0] == accepted[-1]["new_quantity"])
    return _view(settings, store, sku)[0]


def test_adjustment_flows_through_the_stream_once_even_when_retried(api, secret, http):
    before_level = _settled(api, OWN, SKU_A)
    key = f"restock-{uuid.uuid4()}"
    headers = {**token(secret, "store_manager", [OWN]), "Idempotency-Key": key}
    payload = {"storeId": OWN, "quantity": 10, "reason": "restock", "reference": "PO-123"}
    first = http.post(f"/api/v1/inventory/{SKU_A}/adjust?wait=30", json=payload, headers=headers)
    assert first.status_code == 202, first.text
    body = first.json()
    schemas.Adjusted.model_validate(body, strict=True)
    assert body["previous_quantity"] == before_level and body["new_quantity"] == before_level + 10
    assert body["visible"] is True and body["quantity_on_hand"] == before_level + 10

    again = http.post(f"/api/v1/inventory/{SKU_A}/adjust", json=payload, headers=headers)
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["event_id"] == body["event_id"]
    other_body = http.post(f"/api/v1/inventory/{SKU_A}/adjust", json={**payload, "quantity": 11}, headers=headers)
    assert other_body.status_code == 422 and other_body.json()["field"] == "Idempotency-Key"

    # The API and the view agree; the event is in Kafka exactly once.
    reply = http.get(f"/api/v1/inventory/{SKU_A}?storeId={OWN}", headers=headers).json()
    assert reply["stores"][0]["quantity_on_hand"] == _view(api, OWN, SKU_A)[0] == before_level + 10
    consumer = KafkaConsumer(bootstrap_servers=api.kafka_bootstrap, consumer_timeout_ms=3000)
    parts = [TopicPartition(INVENTORY.name, p) for p in range(INVENTORY.partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    # Other modules leave hostile records (not JSON at all) on the shared topic: only this event's count.
    event_id = body["event_id"].encode()
    copies = [json.loads(r.value) for r in consumer if r.value and event_id in r.value]
    consumer.close()
    assert len(copies) == 1 and copies[0]["reason"] == "delivery" and copies[0]["reference_id"] == "PO-123"

    rows = _audit(api, event_id=body["event_id"])
    assert [(r["outcome"], r["old_quantity"], r["new_quantity"]) for r in rows] == [
        ("accepted", before_level, before_level + 10),
        ("replayed", before_level, before_level + 10),
        ("rejected", None, None),  # the same key with another body
    ]
    assert rows[0]["store_id"] == OWN and rows[0]["product_id"] == SKU_A and rows[0]["reference"] == "PO-123"


def test_consecutive_adjustments_build_on_each_other_before_the_stream_applies_them(api, secret, http):
    headers = token(secret, "store_manager", [OWN])
    before = _settled(api, OWN, SKU_B)
    answers = [
        http.post(
            f"/api/v1/inventory/{SKU_B}/adjust",
            json={"storeId": OWN, "quantity": q, "reason": "adjustment"},
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        ).json()
        for q in (4, -2, 7)
    ]
    assert [a["new_quantity"] for a in answers] == [before + 4, before + 2, before + 9]
    _wait(lambda: _view(api, OWN, SKU_B)[0] == before + 9)


# --- TLS -----------------------------------------------------------------------------------------


def test_api_and_warehouse_over_tls_verify_with_the_ca_and_refuse_plain_http_and_unknown_cas(api, secret, tmp_path):
    """A second warehouse endpoint and a second API, both HTTPS with the local CA (made with
    `cryptography` as `make up` makes it), the API reading that warehouse: the whole chain verified."""
    from retail_platform import tls
    from retail_platform.runtime.warehouse import Warehouse
    from retail_platform.warehouse import migrations

    api_port, warehouse_port = api.api_port + 443, api.clickhouse_port + 443
    env = {
        **api.source,
        "RETAIL_API_URL": f"https://127.0.0.1:{api_port}",
        "RETAIL_CLICKHOUSE_URL": f"https://127.0.0.1:{warehouse_port}",
        "RETAIL_CLICKHOUSE_DATA_DIR": str(tmp_path / "warehouse"),
        "RETAIL_TLS_DIR": str(tmp_path / "tls"),
        "RETAIL_STATE_DIR": str(tmp_path / "state"),
        "RETAIL_API_SECRET_FILE": str(api.api_secret_file),
    }
    tls_settings = load_settings(env)
    warehouse = Warehouse(tls_settings)
    warehouse.prepare()  # makes the CA and the warehouse's certificate
    ca = tls_settings.tls_dir / "ca.crt"
    other_ca, _ = tls.make_ca(tmp_path / "other", "Someone else's CA")
    warehouse_spec = warehouse.processes(tmp_path / "run")[0]
    api_spec = ProcessSpec("api-tls", InventoryApi(tls_settings).processes(tmp_path / "run")[0].argv,
                           tmp_path / "run", env=env)  # fmt: skip
    trusted = ssl.create_default_context(cafile=str(ca))
    process.start(warehouse_spec)
    try:
        process.wait_until(warehouse_spec, warehouse.healthy, timeout=60, what="healthy")
        with connect(tls_settings, database="") as admin:
            migrations.apply_all(admin, database=tls_settings.clickhouse_database)
        with connect(tls_settings) as client:  # verified against ca.crt
            _dimensions(client)
            client.insert("rt_stock", [[OWN, SKU_A, 12, 12, "delivery", datetime.now(timezone.utc), "e1", 1, 0]],
                          column_names=["store_id", "product_id", "quantity", "quantity_change", "reason",
                                        "event_time", "event_id", "version", "batch_id"])  # fmt: skip
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            connect(tls_settings, ca_cert=str(other_ca)).command("SELECT 1")
        with pytest.raises(Exception):  # noqa: B017 - plain HTTP to the TLS port gets no ClickHouse answer
            connect(dataclasses.replace(tls_settings, clickhouse_url=f"http://127.0.0.1:{warehouse_port}")).command(
                "SELECT 1"
            )

        InventoryApi(tls_settings).prepare()  # the API's certificate, signed by the same CA
        process.start(api_spec)
        url = f"https://127.0.0.1:{api_port}"
        healthy = lambda: httpx.get(f"{url}/health", verify=trusted).status_code == 200  # noqa: E731
        process.wait_until(api_spec, healthy, timeout=60, what="healthy")
        headers = token(secret, "analyst", ["*"])
        reply = httpx.get(f"{url}/api/v1/inventory/{SKU_A}?storeId={OWN}", headers=headers, verify=trusted)
        assert reply.status_code == 200, reply.text
        assert [(r["store_id"], r["quantity_on_hand"]) for r in reply.json()["stores"]] == [(OWN, 12)]
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{url}/health", verify=ssl.create_default_context(cafile=str(other_ca)))
        with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port: no answer
            httpx.get(f"http://127.0.0.1:{api_port}/health")
    finally:
        process.stop(api_spec)
        process.stop(warehouse_spec)
