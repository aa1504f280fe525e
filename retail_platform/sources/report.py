"""What a run loaded and what it did not: ``FileLoad`` rows for ops_source_loads, ``Reject`` rows for
dq_source_rejects, and the summary the task log prints.

Counts reconcile per file: ``rows_read = rows_loaded + rows_quarantined``; blank lines and repeated
header rows are not rows and are counted apart (``FileLoad.check`` refuses a load that does not add up,
so a code path that drops rows cannot go unnoticed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from clickhouse_connect.driver.client import Client

LOADED, SKIPPED, FAILED = "loaded", "skipped", "failed"


@dataclass(frozen=True)
class Reject:
    line: int
    raw: str
    reason: str  # <code>:<field>, e.g. bad_number:quantity
    detail: str = ""
    file: str | None = None  # label when not the load's file, e.g. legacy.db#sales


@dataclass
class FileLoad:
    run_id: str
    kind: str
    file: str
    size_bytes: int
    sha256: str
    status: str = LOADED
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    blank_lines: int = 0
    header_lines: int = 0
    details: dict[str, int] = field(default_factory=dict)
    affected_days: list[date] = field(default_factory=list)
    message: str = ""
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    finished_at: datetime | None = None

    def check(self) -> None:
        if self.status == LOADED and self.rows_read != self.rows_loaded + self.rows_quarantined:
            raise AssertionError(
                f"{self.kind}/{self.file}: {self.rows_read} rows read but {self.rows_loaded} loaded + "
                f"{self.rows_quarantined} quarantined"
            )

    def finish(self) -> FileLoad:
        self.finished_at = datetime.now(timezone.utc)
        return self


COLUMNS = [
    "run_id", "source_kind", "file", "size_bytes", "sha256", "status", "rows_read", "rows_loaded",
    "rows_quarantined", "blank_lines", "header_lines", "details", "affected_days", "message", "started_at",
    "finished_at",
]  # fmt: skip


def record_loads(client: Client, database: str, loads: Sequence[FileLoad]) -> None:
    if not loads:
        return
    rows = [
        [f.run_id, f.kind, f.file, f.size_bytes, f.sha256, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined,
         f.blank_lines, f.header_lines, f.details, sorted(set(f.affected_days)), f.message, f.started_at,
         f.finished_at or datetime.now(timezone.utc)]
        for f in loads
    ]  # fmt: skip
    client.insert("ops_source_loads", rows, column_names=COLUMNS, database=database)


REJECT_COLUMNS = ["source_kind", "file", "file_sha256", "line_number", "raw_line", "reason", "detail", "run_id"]


def record_rejects(client: Client, database: str, load: FileLoad, rejects: Iterable[Reject]) -> int:
    """Insert a file's rejected rows; returns how many."""
    rows = [
        [load.kind, r.file or load.file, load.sha256, r.line, r.raw, r.reason, r.detail, load.run_id] for r in rejects
    ]
    if rows:
        client.insert(
            "dq_source_rejects",
            rows,
            column_names=REJECT_COLUMNS,
            database=database,
        )
    return len(rows)


def loaded_before(client: Client, database: str, kind: str, sha256: str) -> bool:
    """Whether this content was loaded by an earlier run (the registry of processed files)."""
    rows = client.query(
        f"SELECT count() FROM {database}.ops_source_loads "
        "WHERE source_kind = %(kind)s AND sha256 = %(sha)s AND status = 'loaded'",
        parameters={"kind": kind, "sha": sha256},
    ).result_rows
    return bool(rows[0][0])


def reason_counts(rejects: Iterable[Reject]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rejects:
        counts[r.reason] = counts.get(r.reason, 0) + 1
    return dict(sorted(counts.items()))


def summary(loads: Sequence[FileLoad]) -> str:
    """A readable table of a run's files for the task log."""
    if not loads:
        return "batch sources: no files in the landing zone"
    lines = [f"{'kind':<14} {'status':<8} {'read':>7} {'loaded':>7} {'quar.':>6}  file / message"]
    for f in loads:
        note = f"  ({f.message})" if f.message else ""
        lines.append(
            f"{f.kind:<14} {f.status:<8} {f.rows_read:>7} {f.rows_loaded:>7} {f.rows_quarantined:>6}  {f.file}{note}"
        )
    totals = {s: sum(1 for f in loads if f.status == s) for s in (LOADED, SKIPPED, FAILED)}
    lines.append(f"files: {totals[LOADED]} loaded, {totals[SKIPPED]} skipped, {totals[FAILED]} failed")
    return "\n".join(lines)
