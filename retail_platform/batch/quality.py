"""Data-quality checks of one daily run (seed 000's dimensions: completeness, uniqueness, validity,
plus consistency between the batch and speed layers), their thresholds, and the failure they cause.

Each check is a measured value against a threshold; every check is recorded in ``dq_results``
whether it passes or not, then the run fails if any failed (``DataQualityError`` names them all).
A check that does not apply (no rows to measure, no speed-layer rows to reconcile) passes with a
null value and says why in ``detail``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Thresholds. Completeness and validity are shares of the day's bronze rows; duplicates are expected
# from at-least-once delivery and dropped, but a large share means a producer or a replay went wrong.
COMPLETENESS_MIN = 0.99  # rows with every required field present
VALIDITY_MIN = 0.98  # deduplicated rows that pass the contracts and conform to the dimensions
INPUT_UNIQUENESS_MIN = 0.95  # distinct event ids / rows in bronze
FACT_UNIQUENESS_MIN = 1.0  # distinct sale ids / rows in fact_sales for the day: exactly one row per line
RECONCILIATION_MAX = 0.01  # relative difference of units and of revenue, batch vs speed layer


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None  # None: not applicable
    threshold: float
    passed: bool
    detail: str = ""


class DataQualityError(RuntimeError):
    """A daily run whose data failed one or more checks (recorded in dq_results before raising)."""


def ratio(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to measure."""
    return None if whole == 0 else part / whole


def at_least(name: str, value: float | None, threshold: float, detail: str = "") -> Check:
    if value is None:
        return Check(name, None, threshold, True, detail or "not applicable: nothing to measure")
    return Check(name, value, threshold, value >= threshold, detail)


def at_most(name: str, value: float | None, threshold: float, detail: str = "") -> Check:
    if value is None:
        return Check(name, None, threshold, True, detail or "not applicable: nothing to measure")
    return Check(name, value, threshold, value <= threshold, detail)


def relative_difference(batch: float, speed: float) -> float:
    """|batch - speed| relative to the batch value (the record); 0 when both are 0."""
    if batch == speed:
        return 0.0
    return abs(batch - speed) / max(abs(batch), abs(speed))


def input_checks(event_type: str, rows: int, complete: int, distinct_ids: int, accepted: int) -> list[Check]:
    """Checks of one event type's bronze rows for the day (before anything is loaded)."""
    return [
        at_least(f"completeness:{event_type}", ratio(complete, rows), COMPLETENESS_MIN, f"{complete}/{rows} rows"),
        at_least(
            f"uniqueness:{event_type}", ratio(distinct_ids, rows), INPUT_UNIQUENESS_MIN, f"{distinct_ids}/{rows} ids"
        ),
        at_least(
            f"validity:{event_type}", ratio(accepted, distinct_ids), VALIDITY_MIN, f"{accepted}/{distinct_ids} valid"
        ),
    ]


def fact_checks(rows: int, distinct_sale_ids: int) -> list[Check]:
    return [
        at_least(
            "uniqueness:fact_sales.sale_id",
            ratio(distinct_sale_ids, rows),
            FACT_UNIQUENESS_MIN,
            f"{distinct_sale_ids}/{rows} sale ids",
        )
    ]


def reconciliation_checks(
    batch_units: int, batch_revenue: float, speed_units: int | None, speed_revenue: float | None
) -> list[Check]:
    """Batch totals of the day against the speed layer's (rt_sales_5min); n/a when it has no rows."""
    if speed_units is None or speed_revenue is None:
        reason = "not applicable: no speed-layer rows for the day"
        return [
            at_most("reconciliation:units", None, RECONCILIATION_MAX, reason),
            at_most("reconciliation:revenue", None, RECONCILIATION_MAX, reason),
        ]
    return [
        at_most(
            "reconciliation:units",
            relative_difference(batch_units, speed_units),
            RECONCILIATION_MAX,
            f"batch {batch_units} vs speed {speed_units} units",
        ),
        at_most(
            "reconciliation:revenue",
            relative_difference(batch_revenue, speed_revenue),
            RECONCILIATION_MAX,
            f"batch {batch_revenue:.2f} vs speed {speed_revenue:.2f}",
        ),
    ]


def raise_on_failure(day: str, checks: list[Check]) -> None:
    failed = [c for c in checks if not c.passed]
    if failed:
        lines = "\n  ".join(f"{c.name}: {c.value:.6f} vs threshold {c.threshold} ({c.detail})" for c in failed)
        raise DataQualityError(f"data quality failed for {day} ({len(failed)} check(s), see dq_results):\n  {lines}")
