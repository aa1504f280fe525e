"""Data-quality thresholds: pass, fail, not applicable, and the failure message."""

from __future__ import annotations

import pytest

from retail_platform.batch import quality as q


def test_input_checks_measure_shares_of_the_days_rows():
    checks = {c.name: c for c in q.input_checks("sales_transaction", 1000, 1000, 990, 985)}
    assert checks["completeness:sales_transaction"].value == 1.0
    assert checks["uniqueness:sales_transaction"].value == 0.99
    assert checks["validity:sales_transaction"].value == pytest.approx(985 / 990)
    assert all(c.passed for c in checks.values())


def test_thresholds_fail_bad_days():
    checks = {c.name: c for c in q.input_checks("inventory_update", 100, 90, 50, 40)}
    assert not checks["completeness:inventory_update"].passed
    assert not checks["uniqueness:inventory_update"].passed
    assert not checks["validity:inventory_update"].passed


def test_an_empty_day_is_not_applicable_rather_than_failed():
    checks = q.input_checks("sales_transaction", 0, 0, 0, 0)
    assert all(c.passed and c.value is None for c in checks)


def test_fact_uniqueness_must_be_exact():
    assert q.fact_checks(10, 10)[0].passed
    assert not q.fact_checks(10, 9)[0].passed


def test_reconciliation_against_the_speed_layer():
    ok = q.reconciliation_checks(1000, 5000.0, 1000, 5000.0)
    assert all(c.passed and c.value == 0 for c in ok)
    off = {c.name: c for c in q.reconciliation_checks(1000, 5000.0, 900, 5000.0)}
    assert not off["reconciliation:units"].passed and off["reconciliation:revenue"].passed
    na = q.reconciliation_checks(1000, 5000.0, None, None)
    assert all(c.passed and c.value is None and "no speed-layer rows" in c.detail for c in na)


def test_relative_difference():
    assert q.relative_difference(0, 0) == 0
    assert q.relative_difference(100, 99) == pytest.approx(0.01)
    assert q.relative_difference(0, 5) == 1


def test_failure_message_names_every_failed_check():
    checks = q.input_checks("sales_transaction", 100, 50, 100, 100) + q.fact_checks(10, 9)
    with pytest.raises(q.DataQualityError) as err:
        q.raise_on_failure("2026-01-01", checks)
    text = str(err.value)
    assert "2026-01-01" in text and "completeness:sales_transaction" in text and "uniqueness:fact_sales" in text
    assert "validity" not in text
    q.raise_on_failure("2026-01-01", q.fact_checks(1, 1))  # nothing failed: no error
