"""What the API answers, as the OpenAPI document describes it.

The handlers build their JSON themselves (the rows come from the warehouse as dicts); these models
only document the bodies, so a client generator and the schema-driven tests
(tests/integration/test_inventory_api.py, schemathesis) know every status and every field. A field
the warehouse can leave empty (no policy, no recent sales, a product the catalogue never had) is
nullable here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from retail_platform.api.reads import RISK_LEVELS

RiskLevel = Literal[RISK_LEVELS]  # type: ignore[valid-type]


class Problem(BaseModel):
    """Every refusal: what is wrong, and the request field concerned when there is one."""

    detail: str
    field: str | None = Field(None, description="the parameter, header or body field the refusal is about")


class StockRow(BaseModel):
    """One store's stock of a product: a row of v_stock_current with its risk level."""

    store_id: str
    product_id: str
    product_name: str | None
    quantity_on_hand: int
    as_of: str = Field(description="event time of the level (ISO 8601, UTC)")
    source: Literal["speed", "batch"]
    reorder_point: int
    safety_stock: int
    order_quantity: int
    is_stockout: bool
    is_below_reorder_point: bool
    days_of_cover: float | None
    risk_level: RiskLevel


class Freshness(BaseModel):
    as_of: str | None = Field(description="event time of the newest stock event in the answer")
    read_at: str = Field(description="when the warehouse was read for this answer: every event queryable then is in")
    max_staleness_ms: int = Field(description="how much older than the answer read_at may be (0: read for it)")


class ProductStock(BaseModel):
    product_id: str
    product_name: str | None
    as_of: str | None
    freshness: Freshness
    total_quantity_on_hand: int
    stores: list[StockRow]


class StoreStockRow(StockRow):
    category: str | None


class StoreStock(BaseModel):
    store_id: str
    as_of: str | None
    total: int
    limit: int
    offset: int
    items: list[StoreStockRow]


class Alert(StockRow):
    recommended_quantity: int


class Alerts(BaseModel):
    as_of: str | None
    alerts: list[Alert]


class Forecast(BaseModel):
    product_id: str
    product_name: str | None
    store_id: str
    as_of: str | None
    stock: StockRow | None
    forecast: list[dict[str, Any]] = Field(description="the newest forecast's days (ml_demand_forecast)")
    recommendation: dict[str, Any] | None = Field(description="the current reorder recommendation, if any")


class Adjusted(BaseModel):
    """202: the inventory_update event is in the log; with ``wait``, whether the view shows it yet."""

    event_id: str
    event_time: str
    store_id: str
    product_id: str
    quantity_change: int
    previous_quantity: int
    new_quantity: int
    reason: str
    visible: bool | None = None
    quantity_on_hand: int | None = None
    as_of: str | None = None


def responses(ok: int, model: type[BaseModel], *refusals: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: its success body and the refusals it can answer."""
    described: dict[int | str, dict[str, Any]] = {ok: {"model": model}}
    for status in refusals:
        described[status] = {"model": Problem}
    return described


READ_REFUSALS = (401, 403, 404, 422)
WRITE_REFUSALS = (400, 401, 403, 404, 413, 422, 503)


# GET /api/v1/inventory/{productSku} reads its parameters itself (app.product_stock says why); the
# document lists them as FastAPI would have for ``productSku: str, storeId: str | None = None``.
PRODUCT_STOCK_PARAMETERS: list[dict[str, Any]] = [
    {"name": "productSku", "in": "path", "required": True, "schema": {"type": "string", "title": "Productsku"}},
    {
        "name": "storeId",
        "in": "query",
        "required": False,
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Storeid"},
    },
]
