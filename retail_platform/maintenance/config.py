"""Maintenance parameters: job arguments and DAG params map onto ``MaintenanceConfig``.

Defaults are generous on purpose: deleting data is the one irreversible thing maintenance does, so
an operator shortens a window deliberately (DAG params of a triggered run, or the job's arguments).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

from retail_platform.maintenance.realtime_tables import RT_SALES_TTL_DAYS

# Delta refuses VACUUM below 7 days unless told otherwise: a shorter window can delete files that a
# running reader (the stream, a long batch job) or time travel still needs.
DELTA_MIN_VACUUM_HOURS = 168

# Warehouse tables whose duplicates a forced merge removes (ReplacingMergeTree): the facts (a plain
# re-insert of a day converges only on merge), the serving aggregates (each refresh leaves a month in
# several parts that every dashboard's FINAL read must merge) and the current stock (one row per
# store/product).
OPTIMIZE_FINAL_TABLES = (
    "fact_sales",
    "fact_inventory",
    "agg_sales_daily",
    "agg_store_daily",
    "agg_chain_daily",
    "rt_stock",
)
# Warehouse tables without a TTL whose old months are dropped, and their windows in days. The other
# ops_* and rt_* tables expire through their own TTL (migrations 0004, 0006, 0009), except
# rt_restock_state (maintenance.realtime_tables). ops_stream_days (partitioned by the events' day)
# goes with bronze's 730 days: a day past it can no longer be recomputed.
WAREHOUSE_RETENTION_DAYS = {
    "rt_quarantine": 180,
    "rt_restock_alerts": 365,
    "dq_results": 730,
    "ops_stream_days": 730,
}


@dataclass(frozen=True)
class MaintenanceConfig:
    bronze_retention_days: int | None = 730  # raw-data/*: days older than this are deleted; None keeps all
    quarantine_retention_days: int | None = 90
    silver_retention_days: int | None = None  # silver feeds the facts' recomputation: kept unless asked
    optimize_recent_days: int | None = None  # OPTIMIZE only the last N days of day-partitioned tables
    vacuum_retention_hours: int = DELTA_MIN_VACUUM_HOURS
    vacuum_full_weekday: int = 6  # VACUUM FULL (lists storage) on Sundays, LITE (from the log) otherwise
    zones: tuple[str, ...] = ("raw-data", "silver", "quarantine")
    warehouse_optimize_days: int = 62  # partitions holding any of the last N days get OPTIMIZE FINAL
    optimize_final_tables: tuple[str, ...] = OPTIMIZE_FINAL_TABLES
    warehouse_retention_days: Mapping[str, int] = field(default_factory=lambda: dict(WAREHOUSE_RETENTION_DAYS))
    ttl_guard_days: int | None = 28  # unclosed days with rt_sales_5min rows older than this fail the run
    restock_state_keep_batches: int = 1000  # rt_restock_state: batches per query kept whole

    def __post_init__(self) -> None:
        for name in ("bronze_retention_days", "quarantine_retention_days", "silver_retention_days"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 day (or None to keep everything), got {value}")
        if self.optimize_recent_days is not None and self.optimize_recent_days < 1:
            raise ValueError(f"optimize_recent_days must be at least 1, got {self.optimize_recent_days}")
        if self.vacuum_retention_hours < 0:
            raise ValueError(f"vacuum_retention_hours must not be negative, got {self.vacuum_retention_hours}")
        if not -1 <= self.vacuum_full_weekday <= 6:
            raise ValueError(
                f"vacuum_full_weekday must be 0 (Monday) to 6 (Sunday), or -1 for never, got {self.vacuum_full_weekday}"
            )
        if self.warehouse_optimize_days < 1:
            raise ValueError(f"warehouse_optimize_days must be at least 1, got {self.warehouse_optimize_days}")
        if self.ttl_guard_days is not None and not 1 <= self.ttl_guard_days < RT_SALES_TTL_DAYS:
            raise ValueError(f"ttl_guard_days must be 1 to {RT_SALES_TTL_DAYS - 1}, got {self.ttl_guard_days}")
        if self.restock_state_keep_batches < 1:
            raise ValueError(f"restock_state_keep_batches must be at least 1, got {self.restock_state_keep_batches}")
        for table, days in self.warehouse_retention_days.items():
            if days < 1:
                raise ValueError(f"warehouse retention of {table} must be at least 1 day, got {days}")

    def retention_days(self, kind: str) -> int | None:
        """The retention window of a lake table kind (bronze, silver, quarantine)."""
        return {
            "bronze": self.bronze_retention_days,
            "silver": self.silver_retention_days,
            "quarantine": self.quarantine_retention_days,
        }.get(kind)

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> MaintenanceConfig:
        """From DAG params (or any mapping): known keys only; "", None and "none" mean "not set"
        for the optional windows, so a form left blank keeps everything rather than failing."""
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"unknown maintenance parameters: {sorted(unknown)}")
        values: dict[str, object] = {}
        for name, raw in params.items():
            values[name] = _coerce(name, raw)
        return cls(**values)  # type: ignore[arg-type]


_OPTIONAL_INTS = {
    "bronze_retention_days",
    "quarantine_retention_days",
    "silver_retention_days",
    "optimize_recent_days",
    "ttl_guard_days",
}


def _optional_int(raw: object) -> int | None:
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none", "null")):
        return None
    return int(raw)  # type: ignore[call-overload]


def _coerce(name: str, raw: object) -> object:
    if name in _OPTIONAL_INTS:
        return _optional_int(raw)
    if name in (
        "vacuum_retention_hours",
        "vacuum_full_weekday",
        "warehouse_optimize_days",
        "restock_state_keep_batches",
    ):
        return int(raw)  # type: ignore[call-overload]
    if name in ("zones", "optimize_final_tables"):
        return tuple(str(raw).split(",")) if isinstance(raw, str) else tuple(raw)  # type: ignore[arg-type]
    if name == "warehouse_retention_days":
        return {str(k): int(v) for k, v in dict(raw).items()}  # type: ignore[call-overload]
    return raw


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The lake job's options (spark_jobs/maintenance.py); names mirror the config fields."""
    d = MaintenanceConfig()
    parser.add_argument("--bronze-retention-days", type=_optional_int, default=d.bronze_retention_days)
    parser.add_argument("--quarantine-retention-days", type=_optional_int, default=d.quarantine_retention_days)
    parser.add_argument("--silver-retention-days", type=_optional_int, default=d.silver_retention_days)
    parser.add_argument(
        "--optimize-recent-days", type=_optional_int, default=d.optimize_recent_days, help="default: all days"
    )
    parser.add_argument("--vacuum-retention-hours", type=int, default=d.vacuum_retention_hours)
    parser.add_argument(
        "--vacuum-full-weekday", type=int, default=d.vacuum_full_weekday, help="0=Monday .. 6=Sunday, -1 never"
    )
    parser.add_argument("--zones", default=",".join(d.zones), help="comma-separated lake zones to scan")


def from_arguments(args: argparse.Namespace) -> MaintenanceConfig:
    return MaintenanceConfig(
        bronze_retention_days=args.bronze_retention_days,
        quarantine_retention_days=args.quarantine_retention_days,
        silver_retention_days=args.silver_retention_days,
        optimize_recent_days=args.optimize_recent_days,
        vacuum_retention_hours=args.vacuum_retention_hours,
        vacuum_full_weekday=args.vacuum_full_weekday,
        zones=tuple(z for z in args.zones.split(",") if z),
    )


def to_arguments(config: MaintenanceConfig) -> list[str]:
    """The job's command line for a config (the inverse of ``from_arguments``)."""

    def opt(value: int | None) -> str:
        return "none" if value is None else str(value)

    return [
        "--bronze-retention-days",
        opt(config.bronze_retention_days),
        "--quarantine-retention-days",
        opt(config.quarantine_retention_days),
        "--silver-retention-days",
        opt(config.silver_retention_days),
        "--optimize-recent-days",
        opt(config.optimize_recent_days),
        "--vacuum-retention-hours",
        str(config.vacuum_retention_hours),
        "--vacuum-full-weekday",
        str(config.vacuum_full_weekday),
        "--zones",
        ",".join(config.zones),
    ]


__all__: Sequence[str] = ("MaintenanceConfig", "add_arguments", "from_arguments", "to_arguments")
