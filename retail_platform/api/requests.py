"""Parsing what callers send: the adjustment body, paging and filter parameters, headers.

Everything here is pure (no service), so it is tested with generated and hostile inputs. A problem
is a ``BadRequest`` naming the field, turned into a 400/422 answer by the app."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retail_platform.api.idempotency import MAX_KEY_LENGTH
from retail_platform.api.identifiers import MAX_LENGTH, BadIdentifier, check_identifier
from retail_platform.api.reads import RISK_LEVELS

MAX_BODY_BYTES = 4096
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
MAX_QUANTITY = 100_000  # the inventory_update contract's bound on quantity_change
MAX_LIMIT = 1000
MAX_WAIT_S = 30.0
# The API's reasons and the contract's: "restock" is a delivery. A sale is not an adjustment: sales
# come from the tills as sales_transaction events, and an API sale would skew the sales figures.
REASONS: dict[str, str] = {"restock": "delivery", "delivery": "delivery", "adjustment": "adjustment",
                           "shrinkage": "shrinkage"}  # fmt: skip
# Contract field -> the API's name for it, so a contract rejection names what the caller sent.
API_FIELD = {"quantity_change": "quantity", "new_quantity": "quantity", "store_id": "storeId",
             "product_id": "productSku", "reference_id": "reference", "reason": "reason"}  # fmt: skip


class BadRequest(ValueError):
    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


class AdjustBody(BaseModel):
    """POST /api/v1/inventory/{productSku}/adjust."""

    model_config = ConfigDict(extra="forbid", strict=True)

    storeId: str = Field(min_length=1, max_length=MAX_LENGTH, description="store whose stock changes")
    quantity: int = Field(
        ge=-MAX_QUANTITY, le=MAX_QUANTITY, description="units added (positive) or removed (negative); not 0"
    )
    reason: Literal["restock", "delivery", "adjustment", "shrinkage"] = Field(
        default="adjustment", description="restock/delivery add stock, shrinkage removes it, adjustment either"
    )
    reference: str | None = Field(default=None, max_length=MAX_LENGTH, description="e.g. a purchase order")


@dataclass(frozen=True)
class Adjustment:
    store_id: str
    quantity: int
    reason: str  # the contract's reason
    reference: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"storeId": self.store_id, "quantity": self.quantity, "reason": self.reason,
                "reference": self.reference}  # fmt: skip


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadRequest(key if key in AdjustBody.model_fields else "body", "the key appears twice")
            seen.add(key)
    return obj


def parse_adjustment(raw: bytes) -> Adjustment:
    """The adjustment a body asks for, or BadRequest naming the field."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest("body", f"larger than {MAX_BODY_BYTES} bytes", status=413)
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except BadRequest:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("body", "is not a JSON object (UTF-8)", status=400) from None
    if not isinstance(data, dict):
        raise BadRequest("body", "must be a JSON object", status=400)
    try:
        body = AdjustBody.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]] or ["body"]
        if first["type"] == "extra_forbidden":
            # Named as sent when it is a plain name (it is echoed back and audited), else "?".
            raise BadRequest(loc[0] if _PLAIN_NAME.match(loc[0]) else "?", "unknown field") from None
        field = loc[0] if loc[0] in AdjustBody.model_fields else "body"
        raise BadRequest(field, first["msg"]) from None
    if body.quantity == 0:
        raise BadRequest("quantity", "must not be 0")
    try:
        check_identifier("storeId", body.storeId)
        if body.reference is not None:
            check_identifier("reference", body.reference)
    except BadIdentifier as exc:
        raise BadRequest(exc.field, exc.problem) from None
    return Adjustment(body.storeId, body.quantity, REASONS[body.reason], body.reference)


def identifier(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_identifier(field, value)
    except BadIdentifier as exc:
        raise BadRequest(exc.field, exc.problem) from None


def bounded_int(field: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise BadRequest(field, f"must be a whole number between {low} and {high}")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(field, f"must be between {low} and {high}")
    return value


def wait_seconds(raw: str | None) -> float:
    """Read-your-writes: how long the caller will wait for its event to be queryable (0 = not)."""
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest("wait", f"must be a number of seconds between 0 and {MAX_WAIT_S:g}") from None
    if not 0.0 <= value <= MAX_WAIT_S:  # also rejects NaN
        raise BadRequest("wait", f"must be between 0 and {MAX_WAIT_S:g} seconds")
    return value


def risk_level(raw: str | None) -> str | None:
    if raw is not None and raw not in RISK_LEVELS:
        raise BadRequest("risk", f"must be one of {', '.join(RISK_LEVELS)}")
    return raw


def category(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not raw or len(raw) > MAX_LENGTH or not raw.isprintable():
        raise BadRequest("category", f"must be 1-{MAX_LENGTH} printable characters")
    return raw


def idempotency_key(raw: str | None) -> str:
    if raw is None:
        raise BadRequest("Idempotency-Key", "header is required (a unique value per adjustment)", status=400)
    if not raw or len(raw) > MAX_KEY_LENGTH or not raw.isascii() or not raw.isprintable():
        raise BadRequest("Idempotency-Key", f"must be 1-{MAX_KEY_LENGTH} printable ASCII characters", status=400)
    return raw


def bearer(raw: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if raw is None:
        return None
    scheme, _, token = raw.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
