"""The stock optimisation's configuration: one frozen value, passed explicitly (no environment).

The DAG builds it from its params (``service_level`` can be overridden per run); the closed-loop
simulation and the tests build their own. ``POLICY_VERSION`` names the formulas and rules: it is written
on every recommendation row, so a change of rules is visible in the history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# (s, Q) continuous review with daily review period, see formulas.py. v2: the safety stock covers the
# forecast's error over the protection interval (backtested level error, upper half of the interval).
POLICY_VERSION = "sq-v2"
POLICY_SOURCE = "stock_optimization"  # rt_reorder_policy.policy_source of the rows this package writes


@dataclass(frozen=True)
class OptimizationConfig:
    """Parameters of the reorder policy and of the classifications.

    * ``service_level``: target cycle service level (probability that a replenishment cycle ends without
      a stock-out); sets Z of the safety stock (0.95 -> Z = 1.645).
    * ``order_cost`` (currency per purchase order) and ``holding_rate`` (holding cost per year as a
      share of unit cost): the EOQ's S and H / unit_cost. Same values as the simulated catalogue.
    * ``review_period_days``: recommendations are computed once a day, so an order placed today must
      cover the lead time plus the day until the next run can react (protection interval L + R).
    * ``history_days``: demand history used for sigma, ABC/XYZ and the baseline forecaster.
    * ABC: cumulative revenue share bounds of classes A and B (items are A while the share of the
      items ranked above them is below ``abc_a``). XYZ: coefficient of variation bounds of X and Y.
    * slow movers: sold on less than ``slow_min_selling_day_share`` of the days, or stock on hand lasts
      more than ``slow_max_days_of_cover`` days of forecast demand.
    * anomalies: ``anomaly_z`` standard deviations from the forecast; stock discrepancies above
      ``stock_discrepancy_min_units`` units and ``stock_discrepancy_share`` of the expected level.
    """

    service_level: float = 0.95
    order_cost: float = 20.0
    holding_rate: float = 0.25
    review_period_days: int = 1
    history_days: int = 56
    abc_a: float = 0.80
    abc_b: float = 0.95
    xyz_x: float = 0.5
    xyz_y: float = 1.0
    slow_min_selling_day_share: float = 0.30
    slow_max_days_of_cover: float = 90.0
    anomaly_z: float = 3.0
    stock_discrepancy_min_units: int = 5
    stock_discrepancy_share: float = 0.2
    policy_version: str = POLICY_VERSION

    def __post_init__(self) -> None:
        if not 0.5 <= self.service_level < 1.0:
            raise ValueError(f"service_level={self.service_level}: expected a probability in [0.5, 1)")
        if self.order_cost <= 0 or self.holding_rate <= 0:
            raise ValueError("order_cost and holding_rate must be positive")
        if self.review_period_days < 1 or self.history_days < 7:
            raise ValueError("review_period_days >= 1 and history_days >= 7 are required")
        if not 0 < self.abc_a < self.abc_b <= 1 or not 0 < self.xyz_x < self.xyz_y:
            raise ValueError("ABC/XYZ bounds must increase")

    def with_overrides(self, overrides: dict[str, Any] | None) -> OptimizationConfig:
        """A copy with the given fields replaced (e.g. a DAG run's params); unknown names are refused."""
        if not overrides:
            return self
        unknown = set(overrides) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown optimisation parameters: {', '.join(sorted(unknown))}")
        return replace(self, **overrides)
