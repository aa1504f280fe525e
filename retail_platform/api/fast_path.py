"""GET stock answered before FastAPI sees the request, when the answer is a success from the stock copy.

Why: the busiest endpoint's answer, once the copy holds it, is a dictionary look-up of bytes already
rendered (``Services.copied_answer``), yet routing it through FastAPI (its request object, route
matching, exception and response machinery) cost several times that, and set the API's ceiling on
this two-core machine (bench/inventory_api.py). This ASGI middleware recognises exactly one request
shape, ``GET /api/v1/inventory/{productSku}`` with at most a ``storeId`` parameter and a bearer token,
and answers it when ``Services.fast_stock`` has a success for it. Everything else, including every
refusal (they are audited) and every read the copy cannot answer, goes on to the application
unchanged, so the endpoint's own code remains the only definition of what is answered: the fast path
may only answer earlier with the same bytes (tests/unit/test_api_fast_path.py compares the two)."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from retail_platform.api.identifiers import check_identifier
from retail_platform.api.requests import bearer

PREFIX = "/api/v1/inventory/"
# Other routes under the prefix (a product key holding "/" is left to the router too).
OTHER_ROUTES = frozenset({"reorder-alerts"})


class StockAnswers(Protocol):
    def fast_stock(self, token: str | None, sku: str, store: str | None) -> bytes | None: ...


def stock_question(scope: Scope) -> tuple[str | None, str, str | None] | None:
    """(bearer token, product key, store id or None) of a GET stock request in the one shape the fast
    path answers; None for any other request."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    sku = path[len(PREFIX) :]
    if "/" in sku or sku in OTHER_ROUTES:
        return None
    store: str | None = None
    if scope["query_string"]:
        # As Starlette reads a query string (latin-1, blanks kept); one storeId and nothing else.
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if len(pairs) != 1 or pairs[0][0] != "storeId":
            return None
        store = pairs[0][1]
    try:
        check_identifier("productSku", sku)
        if store is not None:
            check_identifier("storeId", store)
    except ValueError:
        return None
    authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
    token = bearer(authorization.decode("latin-1")) if authorization is not None else None
    return token, sku, store


class StockFastPath:
    """ASGI middleware: answers GET stock from ``scope["app"].state.services`` when it can."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        question = stock_question(scope)
        services: StockAnswers | None = getattr(scope["app"].state, "services", None) if question else None
        answer = services.fast_stock(*question) if services is not None and question is not None else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(answer)).encode()), (b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})
