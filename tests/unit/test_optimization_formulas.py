"""Inventory formulas against hand-computed cases (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_platform.optimization import formulas as f


def test_z_of_the_service_level():
    # Standard normal quantiles: P(Z <= 1.6449) = 0.95, P(Z <= 2.3263) = 0.99, P(Z <= 0) = 0.5.
    assert f.z_for_service_level(0.95) == pytest.approx(1.6449, abs=1e-4)
    assert f.z_for_service_level(0.99) == pytest.approx(2.3263, abs=1e-4)
    assert f.z_for_service_level(0.5) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        f.z_for_service_level(1.0)


def test_safety_stock_demand_only():
    # Z x sigma x sqrt(L) = 1.645 x 10 x sqrt(4) = 1.645 x 10 x 2 = 32.9
    assert f.safety_stock_demand_only(1.645, 10.0, 4.0) == pytest.approx(32.9)


def test_safety_stock_with_lead_time_variability():
    # Z x sqrt(L sigma_d^2 + d^2 sigma_L^2) = 2 x sqrt(4 x 3^2 + 10^2 x 1^2) = 2 x sqrt(36 + 100)
    #   = 2 x sqrt(136) = 2 x 11.66190 = 23.32381
    assert f.safety_stock(2.0, 3.0, 4.0, 10.0, 1.0) == pytest.approx(23.32381, abs=1e-5)
    # Without lead-time variability it is the demand-only form: 2 x sqrt(4 x 9) = 2 x 6 = 12 = 2 x 3 x 2.
    assert f.safety_stock(2.0, 3.0, 4.0, 10.0, 0.0) == pytest.approx(f.safety_stock_demand_only(2.0, 3.0, 4.0))


def test_safety_stock_is_vectorised():
    # Row 2: 1 x sqrt(9 x 2^2 + 0) = 1 x 6 = 6.
    out = f.safety_stock(1.0, np.array([3.0, 2.0]), np.array([4.0, 9.0]), np.array([10.0, 5.0]), np.array([1.0, 0.0]))
    assert out == pytest.approx([math.sqrt(136), 6.0])


def test_safety_stock_with_the_forecasts_level_error():
    # Z x sqrt(L sigma_d^2 + d^2 sigma_L^2 + (r d L)^2) = 2 x sqrt(4 x 3^2 + 10^2 x 1^2 + (0.1 x 10 x 4)^2)
    #   = 2 x sqrt(36 + 100 + 16) = 2 x sqrt(152) = 2 x 12.32883 = 24.65766
    assert f.safety_stock(2.0, 3.0, 4.0, 10.0, 1.0, 0.1) == pytest.approx(24.65766, abs=1e-5)
    # The level error grows with L, not sqrt(L): alone (sigma_d = sigma_L = 0) it is Z x r x d x L = 2 x 0.1 x 10 x 9.
    assert f.safety_stock(2.0, 0.0, 9.0, 10.0, 0.0, 0.1) == pytest.approx(18.0)
    for bad in (-0.01, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="level_error"):
            f.safety_stock(2.0, 3.0, 4.0, 10.0, 1.0, bad)


def _amounts(high: float) -> st.SearchStrategy[float]:
    """0 or a magnitude whose square does not underflow: the inputs' physical range (units, days)."""
    return st.one_of(st.just(0.0), st.floats(1e-6, high))


@given(
    z=_amounts(4.0),
    sigma_d=_amounts(1e4),
    lead=_amounts(60.0),
    d=_amounts(1e4),
    sigma_l=_amounts(20.0),
    r=_amounts(2.0),
    more=_amounts(2.0),
)
def test_safety_stock_level_error_only_adds(z, sigma_d, lead, d, sigma_l, r, more):
    """r = 0 is seed 000's form; a larger r never lowers the safety stock; and the level-error part alone
    is a floor (the parts are independent, so their variances add)."""
    base = f.safety_stock(z, sigma_d, lead, d, sigma_l)
    with_r = f.safety_stock(z, sigma_d, lead, d, sigma_l, r)
    assert f.safety_stock(z, sigma_d, lead, d, sigma_l, 0.0) == base
    assert with_r >= base * (1 - 1e-12)
    assert f.safety_stock(z, sigma_d, lead, d, sigma_l, r + more) >= with_r * (1 - 1e-12)
    assert with_r >= z * r * d * lead * (1 - 1e-12)
    assert with_r == pytest.approx(math.sqrt(base**2 + (z * r * d * lead) ** 2), rel=1e-9, abs=1e-9)


def test_reorder_point():
    # d x L + SS = 10 x 4 + 23.32381 = 63.32381
    assert f.reorder_point(10.0, 4.0, 23.32381) == pytest.approx(63.32381)


def test_eoq():
    # D = 365 x 10 = 3650 units/year, S = 20, H = 0.25 x 4.00 = 1.00 per unit-year:
    # sqrt(2 x 3650 x 20 / 1) = sqrt(146000) = 382.0995
    assert f.eoq(10.0, 20.0, 1.0) == pytest.approx(382.0995, abs=1e-4)
    # No demand, or no holding cost: nothing to optimise, 0.
    assert f.eoq(np.array([0.0, 10.0]), 20.0, np.array([1.0, 0.0])) == pytest.approx([0.0, 0.0])


def test_case_rounding():
    # 50 units in cases of 12: up to 5 cases = 60, down to 4 cases = 48; an exact multiple stays.
    assert f.round_up_to_case(50, 12) == 60
    assert f.round_up_to_case(48, 12) == 48
    assert f.round_down_to_case(59, 12) == 48
    assert f.round_up_to_case(0, 12) == 0


def test_shelf_life_cap():
    # d = 10/day, L = 2, shelf life 5 days, IP = 30: the stock left at arrival is 30 - 10 x 2 = 10 units,
    # which sell first; 10 x 5 = 50 units sell within the shelf life, so the order may hold 50 - 10 = 40.
    assert f.shelf_life_cap(10.0, 2.0, 5.0, 30.0) == pytest.approx(40.0)
    # IP below the lead-time demand leaves nothing over: the cap is the whole 50.
    assert f.shelf_life_cap(10.0, 2.0, 5.0, 5.0) == pytest.approx(50.0)
    # Not perishable (shelf life 0): no cap.
    assert f.shelf_life_cap(10.0, 2.0, 0.0, 30.0) == math.inf


def test_order_quantity():
    # IP = 30 <= ROP = 63.3: due. max(EOQ 382.1, ROP - IP = 33.3) = 382.1, up to cases of 12: 32 cases = 384.
    assert f.order_quantity(30.0, 63.3, 382.1, 12.0) == 384
    # The shelf-life cap of 40 units rounds down to whole cases: 3 x 12 = 36, never above the cap.
    assert f.order_quantity(30.0, 63.3, 382.1, 12.0, 40.0) == 36
    # A cap below one case gives 0.
    assert f.order_quantity(30.0, 63.3, 382.1, 12.0, 11.0) == 0
    # Above the reorder point nothing is ordered.
    assert f.order_quantity(70.0, 63.3, 382.1, 12.0) == 0
    # A large shortfall wins over the EOQ: ROP - IP = 100 - (-20) = 120 > EOQ 50 -> 120 = 10 cases.
    assert f.order_quantity(-20.0, 100.0, 50.0, 12.0) == 120


def test_days_until_reorder():
    # (IP - ROP) / d = (100 - 63.3) / 10 = 3.67 -> due in 3 whole days.
    assert f.days_until_reorder(100.0, 63.3, 10.0) == 3
    assert f.days_until_reorder(60.0, 63.3, 10.0) == 0
    # No demand while above the reorder point: never (-1).
    assert f.days_until_reorder(100.0, 63.3, 0.0) == -1


def test_fit_to_capacity():
    # Orders 60 + 40 = 100 into 50 free units: factor 0.5 -> 30 and 20, down to cases of 12 and 10:
    # 24 and 20 (44 <= 50).
    assert f.fit_to_capacity(np.array([60.0, 40.0]), np.array([12.0, 10.0]), 50.0).tolist() == [24.0, 20.0]
    # Orders that fit are unchanged; no free space means no orders.
    assert f.fit_to_capacity(np.array([60.0, 40.0]), np.array([12.0, 10.0]), 100.0).tolist() == [60.0, 40.0]
    assert f.fit_to_capacity(np.array([60.0]), np.array([12.0]), -5.0).tolist() == [0.0]


def test_protection_interval():
    # L + R = 4 + 1 = 5 days.
    assert f.protection_interval(4.0, 1) == 5.0
