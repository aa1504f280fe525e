"""The inventory API as a FastAPI application.

FastAPI rather than Litestar: the platform already ships it (Airflow 3's API server is FastAPI, so
the same pinned version serves both), and its OpenAPI document and /docs come for free.

Handlers are plain ``def``s: they call the warehouse and Kafka with blocking clients, so FastAPI
runs them in its thread pool. The exception is a product's stock, the hot path: it is answered from
the process's short-lived copy of the serving stock (snapshot.py) on the event loop, and goes to the
warehouse (in the thread pool) only when that copy is too old or missing; its successes from the
copy are answered before FastAPI by fast_path.py, with the bytes this endpoint renders. Every handler authenticates
first, checks the store scope server-side, and records denied requests and state changes in the
audit trail before answering."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from retail_platform.api import auth, idempotency, requests, schemas
from retail_platform.api.audit import AuditRecord, AuditTrail
from retail_platform.api.auth import AuthError, Principal
from retail_platform.api.fast_path import StockFastPath
from retail_platform.api.reads import Reads, Scope, jsonable, utc
from retail_platform.api.requests import BadRequest
from retail_platform.api.snapshot import Copy, Floor, StockSnapshot
from retail_platform.api.writes import EventWriter, Pending, build_event
from retail_platform.events import contracts
from retail_platform.retry import poll
from retail_platform.settings import Settings, get_settings

RYW_POLL_S = 0.25
# Rendered stock answers a copy keeps (one per product and store scope asked; a copy lives a second).
MAX_COPIED_ANSWERS = 65_536
FLOOR_FILE = "stock-floor"  # under <state>/api: the read-your-writes moment the worker processes share

# A product's stock rows, and the freshness of the read: when the warehouse was read for it
# (read_at) and how much older than the answer that read may be (max_staleness_ms).
Stock = tuple[list[dict[str, Any]], dict[str, Any]]


class Refusal(Exception):
    """An answer other than success: status, message, the field concerned, audit outcome."""

    def __init__(self, status: int, message: str, field: str | None = None, outcome: str = "rejected") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.outcome = outcome


@dataclass
class Services:
    reads: Reads
    audit: AuditTrail
    writer: EventWriter
    keys: idempotency.IdempotencyStore
    secret: bytes
    pending: Pending
    snapshot: StockSnapshot | None = None  # None: every stock read goes to the warehouse
    verify: auth.TokenVerifier = field(init=False)

    def __post_init__(self) -> None:
        self.verify = auth.TokenVerifier(self.secret)

    def copy(self) -> Copy | None:
        """The stock copy if it may answer now (young enough, read after the last confirmed write)."""
        return self.snapshot.current() if self.snapshot is not None else None

    def stock(self, sku: str, scope: Scope, copy: Copy | None = None) -> Stock:
        """A product's stock rows in the scope's stores (v_stock_current's rows) and how fresh they are:
        from ``copy`` when given and it holds the product, else from the warehouse now (blocking)."""
        if copy is None or self.snapshot is None or sku not in copy.by_product:
            read_at = datetime.now(timezone.utc)
            return self.reads.product_stock(sku, scope), {"read_at": read_at.isoformat(), "max_staleness_ms": 0}
        rows = copy.by_product[sku]
        if scope.stores is not None:
            rows = [r for r in rows if r["store_id"] in scope.stores]
        bound = round(self.snapshot.max_age_s * 1000)
        return rows, {"read_at": copy.read_at.isoformat(), "max_staleness_ms": bound}

    def copied_answer(self, sku: str, scope: Scope, copy: Copy) -> bytes | None:
        """A product's stock answer (``stock_answer``) from ``copy``, rendered once per copy and
        scope; None when the copy cannot answer alone: the product is not in it, or a store was
        asked for and it holds no row of it (the warehouse says whether that store exists)."""
        key = (sku, scope.stores)
        answer = copy.answers.get(key)
        if answer is None and sku in copy.by_product:
            rows, freshness = self.stock(sku, scope, copy)
            if not rows and scope.stores is not None:
                return None
            answer = stock_answer(sku, rows, freshness)
            if len(copy.answers) < MAX_COPIED_ANSWERS:
                copy.answers[key] = answer
        return answer

    def fast_stock(self, token: str | None, sku: str, store: str | None) -> bytes | None:
        """The answer to GET stock when it is a success from the stock copy (fast_path.py); None for
        anything else (no copy, a token that fails or may not see the store, ...), which the endpoint
        then answers in full, audit and all."""
        if token is None or (copy := self.copy()) is None:
            return None
        try:
            principal = self.verify(token)
        except AuthError:
            return None
        if not principal.may(auth.READ) or (store is not None and not principal.may_see(store)):
            return None
        return self.copied_answer(sku, _scope(principal, store), copy)


def open_services(settings: Settings) -> Services:
    from retail_platform.kafka_security import client_options
    from retail_platform.warehouse.client import connect

    # Reads use the read-only BI account (the warehouse fixes readonly=1 for it); the audit trail
    # writes with the ETL account. The clients share no session, so threads may use them at once.
    reader = connect(settings, read_only=True, autogenerate_session_id=False)
    writer = connect(settings, autogenerate_session_id=False)
    reads = Reads(reader, settings.clickhouse_database)
    max_age = settings.api_stock_max_age_ms / 1000
    api_state = settings.state_dir / "api"
    return Services(
        reads=reads,
        audit=AuditTrail(writer, settings.clickhouse_database),
        writer=EventWriter(settings.kafka_bootstrap, **client_options(settings)),
        keys=idempotency.IdempotencyStore(api_state / "idempotency.sqlite3"),
        secret=auth.load_secret(settings.api_secret_file, create=True),
        pending=Pending(api_state / "pending.sqlite3"),
        snapshot=StockSnapshot(reads.all_stock, max_age, floor=Floor(api_state / FLOOR_FILE)) if max_age > 0 else None,
    )


@dataclass
class Call:
    """One request's context: who asked, what for, and its audit record."""

    request: Request
    services: Services
    action: str
    record: AuditRecord
    principal: Principal | None = None

    def authenticate(self, permission: str) -> Principal:
        token = requests.bearer(self.request.headers.get("authorization"))
        if token is None:
            raise Refusal(401, "a bearer token is required (Authorization: Bearer <token>)", outcome="unauthenticated")
        try:
            principal = self.services.verify(token)
        except AuthError as exc:
            raise Refusal(401, str(exc), outcome="unauthenticated") from None
        self.principal = principal
        self.record.subject, self.record.role = principal.subject, principal.role
        if not principal.may(permission):
            raise Refusal(403, f"role {principal.role} may not {permission.split(':')[1]} inventory", outcome="denied")
        return principal

    def store(self, store_id: str) -> None:
        assert self.principal is not None
        self.record.store_id = store_id
        if not self.principal.may_see(store_id):
            raise Refusal(403, f"store {store_id} is outside this token's stores", "storeId", outcome="denied")


def _record(request: Request, action: str) -> AuditRecord:
    return AuditRecord(
        request_id=request.state.request_id,
        action=action,
        method=request.method,
        path=request.url.path,
        outcome="",
        status=0,
        client_address=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
    )


def _answer(call: Call, status: int, body: dict[str, Any], audit: bool, headers: dict[str, str] | None = None):
    if audit:
        call.record.status = status
        call.services.audit.record(call.record)
    return JSONResponse(body, status_code=status, headers=headers)


def _refused(call: Call, refusal: Refusal) -> JSONResponse:
    body: dict[str, Any] = {"detail": refusal.message}
    if refusal.field:
        body["field"] = refusal.field
    call.record.outcome = refusal.outcome
    call.record.detail = refusal.message
    # Every denial is audited; for a write, every refusal is.
    audit = refusal.outcome in ("denied", "unauthenticated") or call.action == "adjust"
    headers = {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else None
    return _answer(call, refusal.status, body, audit, headers)


def _as_of(rows: list[dict[str, Any]]) -> str | None:
    """Freshness: the event time of the newest stock event included in the answer."""
    times = [r["as_of"] for r in rows if r.get("as_of") is not None]
    return utc(max(times)).isoformat() if times else None


def stock_answer(sku: str, rows: list[dict[str, Any]], freshness: dict[str, Any]) -> bytes:
    """GET stock's 200 body, as JSONResponse renders JSON."""
    as_of = _as_of(rows)
    body = {"product_id": sku, "product_name": rows[0]["product_name"] if rows else None,
            "as_of": as_of, "freshness": {"as_of": as_of, **freshness}, "total_quantity_on_hand":
            sum(r["quantity_on_hand"] for r in rows), "stores": _clean(rows)}  # fmt: skip
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: jsonable(v) for k, v in row.items()} for row in rows]


def _scope(principal: Principal, store_id: str | None) -> Scope:
    if store_id is not None:
        return Scope((store_id,))
    return Scope(None) if principal.all_stores else Scope(tuple(sorted(principal.stores)))


class RequestId:
    """Every request gets an id (the caller's X-Request-ID when it is a safe identifier, else a new
    UUID) in ``request.state.request_id``, echoed in the answer's X-Request-ID. A plain ASGI
    middleware: Starlette's ``@app.middleware("http")`` runs each request through an extra task and
    stream, a large share of a cheap answer's cost."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        try:
            request_id = requests.identifier("X-Request-ID", given) or str(uuid.uuid4())
        except BadRequest:
            request_id = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = svc = services or open_services(settings)
        if svc.snapshot is not None:
            svc.snapshot.start()
        yield
        if svc.snapshot is not None:
            svc.snapshot.stop()
        app.state.services.writer.close()
        app.state.services.keys.close()
        app.state.services.pending.close()

    app = FastAPI(
        title="Retail inventory API",
        version="1",
        summary="Real-time stock, adjustments as events, reorder alerts and forecasts, scoped per store.",
        lifespan=lifespan,
    )

    # Added first, so it runs inside RequestId (the last added is outermost): fast answers get an id too.
    app.add_middleware(StockFastPath)
    app.add_middleware(RequestId)

    def call(request: Request, action: str) -> Call:
        c = Call(request, request.app.state.services, action, _record(request, action))
        request.state.call = c  # the refusal handlers below answer (and audit) through it
        return c

    # Every endpoint refuses by raising: one place answers a refusal or a bad parameter, audits it
    # (every denial; every refused write) and names the field. The audit insert blocks, so it runs
    # in the thread pool like the endpoints themselves.
    @app.exception_handler(Refusal)
    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refusal)
        return await run_in_threadpool(_refused, request.state.call, exc)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadRequest)
        return await run_in_threadpool(_refused, request.state.call, Refusal(exc.status, exc.message, exc.field))

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:  # async: a def endpoint would cost a thread-pool hop
        return {"status": "ok"}

    read = schemas.READ_REFUSALS

    @app.get(
        "/api/v1/inventory/reorder-alerts",
        tags=["inventory"],
        summary="Products at or below their reorder point",
        responses=schemas.responses(200, schemas.Alerts, *read),
    )
    def reorder_alerts(request: Request, storeId: str | None = None, limit: str | None = None) -> JSONResponse:
        c = call(request, "read_alerts")
        principal = c.authenticate(auth.READ)
        store = requests.identifier("storeId", storeId)
        if store is not None:
            c.store(store)
        n = requests.bounded_int("limit", limit, 100, 1, requests.MAX_LIMIT)
        rows = c.services.reads.reorder_alerts(_scope(principal, store), n)
        return _answer(c, 200, {"as_of": _as_of(rows), "alerts": _clean(rows)}, audit=False)

    @app.get(
        "/api/v1/stores/{storeId:path}/inventory",
        tags=["stores"],
        summary="Stock of a store (paged)",
        responses=schemas.responses(200, schemas.StoreStock, *read),
    )
    def store_stock(
        request: Request,
        storeId: str,
        category: str | None = None,
        risk: str | None = None,
        limit: str | None = None,
        offset: str | None = None,
    ) -> JSONResponse:
        c = call(request, "read_store")
        c.authenticate(auth.READ)
        store = requests.identifier("storeId", storeId)
        assert store is not None
        c.store(store)
        n = requests.bounded_int("limit", limit, 100, 1, requests.MAX_LIMIT)
        skip = requests.bounded_int("offset", offset, 0, 0, 10_000_000)
        total, rows = c.services.reads.store_stock(
            store, category=requests.category(category), risk=requests.risk_level(risk), limit=n, offset=skip
        )
        if total == 0 and not c.services.reads.store_exists(store):
            raise Refusal(404, f"unknown store {store}", "storeId")
        body = {"store_id": store, "as_of": _as_of(rows), "total": total, "limit": n, "offset": skip,
                "items": _clean(rows)}  # fmt: skip
        return _answer(c, 200, body, audit=False)

    @app.get(
        "/api/v1/inventory/{productSku:path}/forecast",
        tags=["inventory"],
        summary="Forecast and reorder advice",
        responses=schemas.responses(200, schemas.Forecast, *read),
    )
    def forecast(request: Request, productSku: str, storeId: str | None = None) -> JSONResponse:
        c = call(request, "read_forecast")
        c.authenticate(auth.READ)
        sku = requests.identifier("productSku", productSku)
        store = requests.identifier("storeId", storeId)
        if store is None:
            raise Refusal(422, "storeId is required: a forecast is per store", "storeId")
        assert sku is not None
        c.record.product_id = sku
        c.store(store)
        if not c.services.reads.product_exists(sku):
            raise Refusal(404, f"unknown product {sku}", "productSku")
        stock, _ = c.services.stock(sku, Scope((store,)), c.services.copy())
        body = {
            "product_id": sku,
            "product_name": stock[0]["product_name"] if stock else None,
            "store_id": store,
            "as_of": _as_of(stock),
            "stock": _clean(stock)[0] if stock else None,
            "forecast": _clean(c.services.reads.forecast(store, sku)),
            "recommendation": _clean([r])[0] if (r := c.services.reads.recommendation(store, sku)) else None,
        }
        return _answer(c, 200, body, audit=False)

    @app.get(
        "/api/v1/inventory/{productSku:path}",
        tags=["inventory"],
        summary="Current stock of a product",
        responses=schemas.responses(200, schemas.ProductStock, *read),
        openapi_extra={"parameters": schemas.PRODUCT_STOCK_PARAMETERS},
    )
    async def product_stock(request: Request) -> Response:
        # The busiest endpoint, answered on the event loop from the stock copy (anything blocking goes
        # to the thread pool). Its parameters are read here, not declared in the signature: FastAPI's
        # per-request parameter resolution cost as much as the rest of the answer, and
        # requests.identifier checks them either way; the OpenAPI document lists them from schemas.
        productSku: str = request.path_params["productSku"]
        storeId: str | None = request.query_params.get("storeId")
        c = call(request, "read_stock")
        principal = c.authenticate(auth.READ)
        sku = requests.identifier("productSku", productSku)
        assert sku is not None
        c.record.product_id = sku
        store = requests.identifier("storeId", storeId)
        if store is not None:
            c.store(store)
        svc, scope = c.services, _scope(principal, store)
        copy = svc.copy()
        if copy is not None and (answer := svc.copied_answer(sku, scope, copy)) is not None:
            return Response(answer, media_type="application/json")
        if copy is not None and sku in copy.by_product:
            rows, freshness = svc.stock(sku, scope, copy)
        else:  # the copy is stale, missing or lacks the product: the warehouse answers (and says what is unknown)
            rows, freshness = await run_in_threadpool(svc.stock, sku, scope)
            if not rows and not await run_in_threadpool(svc.reads.product_exists, sku):
                raise Refusal(404, f"unknown product {sku}", "productSku")
        if store is not None and not rows and not await run_in_threadpool(svc.reads.store_exists, store):
            raise Refusal(404, f"unknown store {store}", "storeId")
        return Response(stock_answer(sku, rows, freshness), media_type="application/json")

    @app.post(
        "/api/v1/inventory/{productSku:path}/adjust",
        tags=["inventory"],
        summary="Adjust stock: produces an inventory_update event (202)",
        status_code=202,
        responses=schemas.responses(202, schemas.Adjusted, *schemas.WRITE_REFUSALS),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": requests.AdjustBody.model_json_schema()}},
            },
            "parameters": [
                {"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string"}},
                {
                    "name": "wait",
                    "in": "query",
                    "required": False,
                    "description": "read-your-writes: seconds to wait until the event is queryable (0-30)",
                    "schema": {"type": "number", "minimum": 0, "maximum": requests.MAX_WAIT_S},
                },
            ],  # fmt: skip
        },
    )
    async def adjust(request: Request, productSku: str) -> JSONResponse:
        raw = await request.body()
        return await run_in_threadpool(_adjust, request, productSku, raw)

    def _adjust(request: Request, productSku: str, raw: bytes) -> JSONResponse:
        c = call(request, "adjust")
        principal = c.authenticate(auth.ADJUST)
        sku = requests.identifier("productSku", productSku)
        assert sku is not None
        c.record.product_id = sku
        key = requests.idempotency_key(request.headers.get("idempotency-key"))
        c.record.idempotency_key = key
        wait = requests.wait_seconds(request.query_params.get("wait"))
        change = requests.parse_adjustment(raw)
        c.record.quantity_change, c.record.reason = change.quantity, change.reason
        c.record.reference = change.reference or ""
        c.store(change.store_id)
        return _apply(c, principal, sku, key, change, wait)

    def _apply(c: Call, principal: Principal, sku: str, key: str, change: requests.Adjustment, wait: float):
        svc = c.services
        fingerprint = idempotency.request_hash({"sku": sku, **change.as_dict()})
        event_id = idempotency.event_id_for(principal.subject, key)
        c.record.event_id = event_id
        with svc.pending.lock(change.store_id, sku):
            known = svc.keys.get(principal.subject, key)
            if known is not None:
                return _replay(c, known, fingerprint)
            if not svc.reads.product_exists(sku):
                raise Refusal(404, f"unknown product {sku}", "productSku")
            if not svc.reads.store_exists(change.store_id):
                raise Refusal(404, f"unknown store {change.store_id}", "storeId")
            level, as_of = svc.reads.stock_level(change.store_id, sku)
            before = svc.pending.base(change.store_id, sku, level, as_of)
            after = before + change.quantity
            c.record.old_quantity, c.record.new_quantity = before, after
            if after < 0:
                raise Refusal(422, f"would take stock below zero (on hand {before}, change {change.quantity})",
                              "quantity")  # fmt: skip
            moment = datetime.now(timezone.utc)
            event = build_event(event_id, moment, change.store_id, sku, change.quantity, after, change.reason,
                                change.reference)  # fmt: skip
            problem = contracts.validate(event, "inventory_update")
            if problem is not None:
                code, _, name = problem.partition(":")
                field = requests.API_FIELD.get(name, name or "body")
                raise Refusal(422, f"breaks the inventory_update contract ({problem})", field)
            try:
                svc.writer.send(event)
            except Exception as exc:  # the log did not confirm: nothing is recorded, the caller retries
                raise Refusal(503, f"the event log did not confirm the event ({type(exc).__name__}); retry "
                              "with the same Idempotency-Key", outcome="failed") from None  # fmt: skip
            svc.pending.produced(change.store_id, sku, moment.replace(microsecond=moment.microsecond // 1000 * 1000),
                                 after)  # fmt: skip
            body = {"event_id": event_id, "event_time": event["event_time"], "store_id": change.store_id,
                    "product_id": sku, "quantity_change": change.quantity, "previous_quantity": before,
                    "new_quantity": after, "reason": change.reason}  # fmt: skip
            stored = svc.keys.put(principal.subject, key, idempotency.Recorded(fingerprint, 202, body))
            if stored.request_hash != fingerprint:
                return _replay(c, stored, fingerprint)
        c.record.outcome = "accepted"
        body = dict(body)
        if wait > 0:
            body.update(_wait_visible(svc, change.store_id, sku, event["event_time"], wait))
        return _answer(
            c,
            202,
            body,
            audit=True,
            headers={"Location": f"/api/v1/inventory/{quote(sku)}?storeId={quote(change.store_id)}"},
        )

    def _replay(c: Call, known: idempotency.Recorded, fingerprint: str) -> JSONResponse:
        if known.request_hash != fingerprint:
            raise Refusal(422, "this Idempotency-Key was used for a different request", "Idempotency-Key")
        c.record.outcome = "replayed"
        c.record.new_quantity = known.response.get("new_quantity")
        c.record.old_quantity = known.response.get("previous_quantity")
        c.record.event_id = known.response.get("event_id", c.record.event_id)
        return _answer(c, known.status, known.response, audit=True, headers={"Idempotent-Replayed": "true"})

    return app


def _wait_visible(svc: Services, store_id: str, sku: str, event_time: str, wait: float) -> dict[str, Any]:
    """Read-your-writes: poll the serving view until it includes the event (or a newer one); from then
    on no stock copy read earlier answers (a later GET sees at least this level)."""
    target = contracts.utc_time(event_time)

    def visible(read: tuple[Any, Any]) -> bool:
        return read[1] is not None and target is not None and read[1] >= target

    read = poll(lambda: svc.reads.stock_level(store_id, sku), visible, timeout=wait, interval=RYW_POLL_S)
    level, as_of = read
    if as_of is None or not visible(read):
        return {"visible": False}
    if svc.snapshot is not None:
        svc.snapshot.require_after(svc.snapshot.clock())
    return {"visible": True, "quantity_on_hand": level, "as_of": as_of.isoformat()}


def serve_app() -> FastAPI:
    """The app of one worker process (uvicorn's factory): settings from this process's environment."""
    return create_app(get_settings())
