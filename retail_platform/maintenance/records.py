"""Rows of ``ops_maintenance_runs`` (migration 0009): one per action of a run on one target."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import Any

TABLE = "ops_maintenance_runs"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class ActionRecord:
    run_id: str
    layer: str  # lake | warehouse
    target: str  # lake path below the root, or warehouse table
    action: str  # optimize | vacuum | retention | optimize_final
    status: str = "ok"  # ok | skipped | error
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    files_removed: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    cutoff: date | None = None
    detail: str = ""
    started_at: datetime = field(default_factory=utc_now)
    finished_at: datetime | None = None

    def finish(self, status: str | None = None, detail: str | None = None) -> ActionRecord:
        if status is not None:
            self.status = status
        if detail is not None:
            self.detail = detail
        self.finished_at = utc_now()
        return self

    def row(self) -> dict[str, Any]:
        row = asdict(self)
        row["finished_at"] = self.finished_at or utc_now()
        return row


def write_records(client: Any, records: list[ActionRecord]) -> int:
    """Insert the records with a clickhouse-connect client; returns the rows written."""
    if not records:
        return 0
    rows = [r.row() for r in records]
    columns = list(rows[0])
    client.insert(TABLE, [[row[c] for c in columns] for row in rows], column_names=columns)
    return len(rows)


def summary(records: list[ActionRecord]) -> dict[str, Any]:
    """A compact account of a run for logs and the job's output."""
    return {
        "actions": len(records),
        "errors": [f"{r.layer}:{r.target}:{r.action}: {r.detail}" for r in records if r.status == "error"],
        "files_before": sum(r.files_before for r in records if r.action in ("optimize", "optimize_final")),
        "files_after": sum(r.files_after for r in records if r.action in ("optimize", "optimize_final")),
        "files_removed": sum(r.files_removed for r in records),
        "partitions_dropped": sum(len(r.partitions_dropped) for r in records),
    }
