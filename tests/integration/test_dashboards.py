"""The dashboards in a real browser: Superset (started once for the module, provisioned from the
repository's bundle and access file) over the real warehouse endpoint, opened by headless Chromium.

Needs: the warehouse endpoint, Superset, /usr/bin/chromium. Each big number on every dashboard is
compared with the same aggregate queried from the warehouse directly, for the admin and for a store
manager (whose figure is the aggregate over their stores only); every chart must load without an
error; a store manager's chart data holds only their stores. Screenshots land in
<state>/screenshots/."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from retail_platform.bi import access, browser
from retail_platform.bi.bundle import filter_id
from retail_platform.bi.catalog import DASHBOARDS, DATASETS, EXECUTIVE, STORE_COLUMN, Chart, Dashboard
from retail_platform.runtime import stack
from retail_platform.settings import Settings
from retail_platform.warehouse.client import connect
from tests.integration.databases import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.warehouse, pytest.mark.superset]

STORES = ("store_001", "store_002", "store_003", "store_004")  # store_004: nobody's in access.yaml
REGIONS = {"store_001": "North", "store_002": "North", "store_003": "South", "store_004": "South"}
PRODUCTS = ("P-100", "P-200", "P-300")
NAMES = {"P-100": "Whole Milk 1L", "P-200": "Greek Yogurt 500g", "P-300": "Butter 250g"}
NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)


def _window(hours_ago: float) -> datetime:
    t = NOW - timedelta(hours=hours_ago)
    return t.replace(minute=t.minute - t.minute % 5, tzinfo=None)


def _seed(settings: Settings) -> None:
    """Speed-layer rows (what the stream writes) for four stores in two regions: distinct figures per
    store, so a sum over the wrong stores cannot equal the right one; sales in this calendar week and
    the one before, so the Executive's trends have a previous period to compare with."""
    monday = datetime.combine(NOW.date() - timedelta(days=NOW.weekday()), datetime.min.time(), timezone.utc)
    windows = [_window(hours) for hours in (0.5, 3, 30)] + [
        _window((NOW - start).total_seconds() / 3600) for start in (monday, monday - timedelta(hours=12))
    ]
    client = connect(settings)
    try:
        sales, stock, policy = [], [], []
        for s_no, store in enumerate(STORES, start=1):
            for p_no, product in enumerate(PRODUCTS, start=1):
                for window in windows:
                    units = s_no * 10 + p_no
                    sales.append([store, product, window, units, Decimal(f"{units * 2.5 + s_no:.2f}"), 2])
                event_time = NOW - timedelta(minutes=10 * p_no)
                quantity = (s_no * 7 + p_no * 3) % 25  # some at or below the reorder point
                stock.append([store, product, quantity, -1, "sale", event_time, f"e-{store}-{product}",
                              int(event_time.timestamp() * 1e6) << 128, 1])  # fmt: skip
                policy.append([store, product, 8, 40, 3, "catalog"])
        client.insert(
            "rt_sales_5min", sales,
            column_names=["store_id", "product_id", "window_start", "units", "revenue", "transactions"],
        )  # fmt: skip
        client.insert(
            "rt_stock", stock,
            column_names=["store_id", "product_id", "quantity", "quantity_change", "reason", "event_time",
                          "event_id", "version", "batch_id"],
        )  # fmt: skip
        client.insert(
            "dim_product", [[p, NOW - timedelta(days=400), NAMES[p], "Dairy", "SUP-1", 1, 2] for p in PRODUCTS],
            column_names=["product_id", "valid_from", "product_name", "category", "supplier_id", "unit_cost",
                          "unit_price"],
        )  # fmt: skip
        client.insert(
            "dim_store",
            [[store, store.replace("_", " ").title(), "supermarket", "City", REGIONS[store], "GB",
              NOW.date() - timedelta(days=400)] for store in STORES],
            column_names=["store_id", "store_name", "store_type", "city", "region", "country", "opened_on"],
        )  # fmt: skip
        # Anomalies as the stream records them: per store a stock episode still open (P-200) and, for
        # the first two stores, a sales velocity episode that opened and ended an hour earlier (P-100).
        anomalies = []
        for s_no, store in enumerate(STORES, start=1):
            opened, level = NOW - timedelta(minutes=20 + s_no), 10.0 * s_no
            anomalies.append([f"a-{store}-open", "stock_unexplained", "open", opened, store, "P-200",
                              level, level + 18, level + 13, level + 23, f"i-{store}-1", "q", 1])  # fmt: skip
            if s_no <= 2:
                for status, at in (("open", NOW - timedelta(hours=2)), ("closed", NOW - timedelta(hours=1))):
                    anomalies.append([f"a-{store}-ended", "velocity_high", status, at, store, "P-100",
                                      900.0, 120.0, 30.0, 450.0, f"s-{store}-{status}", "q", 1])  # fmt: skip
        client.insert(
            "rt_anomalies", anomalies,
            column_names=["anomaly_id", "kind", "status", "event_time", "store_id", "product_id", "observed",
                          "expected", "lower", "upper", "source_event_id", "query_id", "batch_id"],
        )  # fmt: skip
        client.insert(
            "rt_reorder_policy", policy,
            column_names=["store_id", "product_id", "reorder_point", "order_quantity", "safety_stock",
                          "policy_source"],
        )  # fmt: skip
    finally:
        client.close()


@pytest.fixture(scope="module")
def bi(warehouse: Settings) -> Iterator[Settings]:
    with scratch_database(warehouse, "dashboards") as settings:
        _seed(settings)
        stack.up(settings, ("superset",), log=lambda _: None)
        try:
            yield settings
        finally:
            stack.down(settings, ("superset",), log=lambda _: None)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser.chromium() as b:
        yield b


@pytest.fixture(scope="module")
def pages(bi: Settings, chromium: Any) -> Iterator[dict[str, Any]]:
    """One logged-in page per user, opened on first use (Superset limits logins per minute)."""

    class Pages(dict):
        def __missing__(self, username: str) -> Any:
            password = bi.superset_password if username == bi.superset_user else bi.superset_demo_password
            self[username] = browser.login(chromium, bi.superset_url, username, password)
            return self[username]

    opened = Pages()
    yield opened
    for page in opened.values():
        page.close()


def _managers() -> dict[str, tuple[str, ...]]:
    return {u.username: u.stores for u in access.load() if u.role == "store_manager"}


def _expected(settings: Settings, chart: Chart, stores: tuple[str, ...] | None = None, where: str | None = None) -> Any:
    """The chart's figure straight from the warehouse: its aggregate over its view, with its own
    condition, a dashboard filter's (``where``) and, for a store manager, only their stores."""
    conditions = [c for c in (chart.where, where) if c]
    if stores is not None and DATASETS[chart.dataset].has_store:
        conditions.append(f"{STORE_COLUMN} IN ({', '.join(repr(s) for s in stores)})")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    client = connect(settings)
    try:
        return client.query(f"SELECT {chart.metrics[0]} FROM {chart.dataset}{where}").result_rows[0][0]
    finally:
        client.close()


def _formatted(value: Any, chart: Chart) -> str:
    """Superset's d3 format of a big number, for the formats the catalog uses."""
    d3_format = chart.number_format
    if value is None or (isinstance(value, float) and math.isnan(value)):
        # An empty avg() is nan in ClickHouse; Superset receives null. A trend with no value in any
        # period (the margin before the first closed day) gets Superset's empty-result message.
        return "No results were returned for this query" if chart.kind == "big_number_trend" else "No data"
    if d3_format not in (",.0f", ",.1f", ",.2f", ".1%", ".2%"):
        raise AssertionError(f"add the d3 format {d3_format} to this test")
    return format(float(value), d3_format)


def _open(
    pages: dict[str, Any], settings: Settings, username: str, dash: Dashboard, **filters: Any
) -> browser.DashboardView:
    view = browser.open_dashboard(pages[username], settings.superset_url, dash.slug, len(dash.charts), filters=filters)
    browser.screenshot(pages[username], settings.state_dir / "screenshots" / f"{username}-{dash.slug}.png")
    assert not view.errors, f"{dash.title} as {username}: {view.errors}"
    assert set(view.charts) == {c.title for c in dash.charts}, f"{dash.title}: charts on the page differ"
    return view


@pytest.mark.parametrize("dash", DASHBOARDS, ids=lambda d: d.slug)
def test_admin_sees_every_chart_and_big_numbers_equal_the_warehouse(
    bi: Settings, pages: dict[str, Any], dash: Dashboard
) -> None:
    view = _open(pages, bi, bi.superset_user, dash)
    for chart in dash.charts:
        if chart.is_big_number:
            expected = _expected(bi, chart)
            assert view.charts[chart.title].big_number == _formatted(expected, chart), chart.title
    if dash.slug == "executive":
        # Not vacuous: the streamed revenue reaches the page (a zero would also equal an empty view).
        total = _expected(bi, Chart("total", "", "rt_sales_5min", "big_number", ("SUM(revenue)",)))
        assert total > 0 and view.charts["Revenue"].big_number == f"{float(total):,.2f}"
        # Under the figure, the newest week against the week before (both seeded).
        for chart in dash.charts:
            if chart.kind == "big_number_trend" and chart.dataset == "v_store_daily":
                assert chart.compare_suffix in view.charts[chart.title].text, view.charts[chart.title].text


def test_a_region_filter_changes_a_figure_to_the_warehouses_figure_for_that_region(
    bi: Settings, pages: dict[str, Any]
) -> None:
    """The Executive's region filter applied (as Superset's filter bar leaves it in the URL): the
    revenue shown is the warehouse's revenue of that region's stores, not the chain's."""
    region = next(f for f in EXECUTIVE.filters if f.column == "region")
    revenue = next(c for c in EXECUTIVE.charts if c.title == "Revenue")
    view = _open(
        pages, bi, bi.superset_user, EXECUTIVE, **{filter_id(region): {"column": "region", "values": ["South"]}}
    )
    south = _expected(bi, revenue, where="region = 'South'")
    assert 0 < south < _expected(bi, revenue)
    assert view.charts["Revenue"].big_number == _formatted(south, revenue)


@pytest.mark.parametrize(
    "dash", [d for d in DASHBOARDS if d.slug in ("executive", "store-manager")], ids=lambda d: d.slug
)
def test_a_store_manager_sees_their_stores_figures_in_the_browser(
    bi: Settings, pages: dict[str, Any], dash: Dashboard
) -> None:
    manager, stores = "manager_north", _managers()["manager_north"]
    view = _open(pages, bi, manager, dash)
    seen = {row[STORE_COLUMN] for row in view.rows() if STORE_COLUMN in row}
    assert seen == set(stores), f"{manager} saw stores {sorted(seen)} on {dash.title}, expected {stores}"
    named = [(row["product_id"], row["product_name"]) for row in view.rows() if "product_name" in row]
    if dash.slug == "store-manager":  # live stock and alerts name each product as the catalogue does
        assert named and all(name == NAMES[product] for product, name in named), named
    for chart in dash.charts:
        if chart.is_big_number:
            expected = _expected(bi, chart, stores)
            assert view.charts[chart.title].big_number == _formatted(expected, chart), chart.title


@pytest.mark.parametrize("manager", sorted(_managers()))
def test_every_chart_of_every_dashboard_holds_only_the_managers_stores(
    bi: Settings, pages: dict[str, Any], manager: str
) -> None:
    """Each dashboard opened by the manager in the browser: every chart loads, and the data
    Superset sent to every chart holds rows of their stores only."""
    stores = set(_managers()[manager])
    seen: set[str] = set()
    for dash in DASHBOARDS:
        view = _open(pages, bi, manager, dash)
        chart_stores = {row[STORE_COLUMN] for row in view.rows() if STORE_COLUMN in row}
        assert chart_stores <= stores, f"{manager} got {sorted(chart_stores - stores)} on {dash.title}"
        seen |= chart_stores
    assert seen == stores


def test_a_store_manager_cannot_open_sql_lab(bi: Settings, pages: dict[str, Any]) -> None:
    manager = pages[sorted(_managers())[0]]
    assert manager.request.get(f"{bi.superset_url}/api/v1/sqllab/").status in (401, 403)
    executing = manager.request.post(f"{bi.superset_url}/api/v1/sqllab/execute/", data={"sql": "SELECT 1"})
    assert executing.status in (400, 401, 403)
    # The data engineer may (so the check above is about the role, not a broken SQL Lab).
    assert pages["engineer"].request.get(f"{bi.superset_url}/api/v1/sqllab/").ok


def test_a_wrong_password_gets_a_clear_message(bi: Settings, chromium: Any) -> None:
    with pytest.raises(browser.BrowserError, match="refused"):
        browser.login(chromium, bi.superset_url, bi.superset_user, bi.superset_password + "-wrong")


def test_reimporting_the_bundle_keeps_one_copy(bi: Settings) -> None:
    """`up` again: the bundle is imported again (overwrite) and nothing is duplicated."""
    stack.down(bi, ("superset",), log=lambda _: None)
    stack.up(bi, ("superset",), log=lambda _: None)
    import sqlite3

    with sqlite3.connect(bi.state_dir / "superset" / "superset.db") as db:
        dashboards = db.execute("SELECT count(*) FROM dashboards").fetchone()[0]
        charts = db.execute("SELECT count(*) FROM slices").fetchone()[0]
        rules = db.execute("SELECT count(*) FROM row_level_security_filters").fetchone()[0]
    assert dashboards == len(DASHBOARDS)
    assert charts == sum(len(d.charts) for d in DASHBOARDS)
    assert rules == 1 + len({s for stores in _managers().values() for s in stores})
