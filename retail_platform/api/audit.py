"""The audit trail: one row in ``ops_api_audit`` per state change and per denied request.

Written synchronously before the answer leaves, so a caller never sees a change or a refusal that
is not recorded. Strings are cut to a bounded length (a hostile user agent does not bloat the
table)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from clickhouse_connect.driver.client import Client

MAX_TEXT = 512


@dataclass
class AuditRecord:
    request_id: str
    action: str
    method: str
    path: str
    outcome: str
    status: int
    subject: str = ""
    role: str = ""
    store_id: str = ""
    product_id: str = ""
    quantity_change: int | None = None
    old_quantity: int | None = None
    new_quantity: int | None = None
    reason: str = ""
    reference: str = ""
    event_id: str = ""
    idempotency_key: str = ""
    detail: str = ""
    client_address: str = ""
    user_agent: str = ""


COLUMNS = ["audit_id", "at", *AuditRecord.__dataclass_fields__]


class AuditTrail:
    def __init__(self, client: Client, database: str) -> None:
        self.client = client
        self.table = f"{database}.ops_api_audit"

    def record(self, rec: AuditRecord) -> None:
        values = [v[:MAX_TEXT] if isinstance(v, str) else v for v in asdict(rec).values()]
        row = [uuid.uuid4(), datetime.now(timezone.utc), *values]
        self.client.insert(self.table, [row], column_names=COLUMNS)
