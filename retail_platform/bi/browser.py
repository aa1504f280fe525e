"""Open Superset's dashboards in a real, headless Chromium (Debian's /usr/bin/chromium driven by
Playwright; no browser is downloaded): log in, wait for every chart, read what each chart shows
and the data Superset sent it, take a screenshot. Used by the integration tests and `make demo`."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # playwright is imported when a browser starts, not with this module
    from playwright.sync_api import Browser, Page, Response, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Tall enough that every chart is on screen (charts outside the viewport may wait to load).
VIEWPORT: ViewportSize = {"width": 1600, "height": 2400}


class BrowserError(RuntimeError):
    """The browser could not start, log in or load a dashboard; the message says what happened."""


@dataclass
class ChartView:
    title: str
    text: str  # what the chart shows, without its title
    drawn: bool = False  # a canvas or svg (ECharts draws text into its canvas)

    @property
    def big_number(self) -> str:
        """The figure of a big-number chart (its first line)."""
        return self.text.strip().splitlines()[0].strip() if self.text.strip() else ""


@dataclass
class DashboardView:
    slug: str
    charts: dict[str, ChartView]
    data: list[dict[str, Any]] = field(default_factory=list)  # chart data replies (JSON)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def rows(self) -> list[dict[str, Any]]:
        return [row for reply in self.data for result in reply.get("result", []) for row in result.get("data", [])]


@contextmanager
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise BrowserError(f"{CHROMIUM} is missing; run `make setup` (it installs Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def login(browser: Browser, base_url: str, username: str, password: str) -> Page:
    """A new page logged in as ``username``; BrowserError with Superset's own message if refused."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(f"{base_url}/login/")
    page.fill("[data-test=username-input]", username)
    page.fill("[data-test=password-input]", password)
    page.click("[data-test=login-button]")
    deadline = time.monotonic() + 30
    while "/login" in page.url:
        message = page.locator(".ant-message-notice, .ant-alert, [role=alert]")
        if message.count():
            raise BrowserError(f"Superset refused {username}: {message.first.inner_text().strip()}")
        if time.monotonic() > deadline:
            raise BrowserError(f"logging in as {username} did not leave the login page within 30 s")
        page.wait_for_timeout(200)
    # The login form navigates by script after its redirect: let that settle, or it would later
    # take the page away from the dashboard opened next.
    page.wait_for_load_state("networkidle")
    return page


def rison(value: Any) -> str:
    """Rison, the URL notation Superset reads its ``native_filters`` parameter in (strings always
    quoted: ``'`` and ``!`` escaped with ``!``)."""
    if isinstance(value, dict):
        return "(" + ",".join(f"{rison(str(k))}:{rison(v)}" for k, v in value.items()) + ")"
    if isinstance(value, (list, tuple)):
        return "!(" + ",".join(rison(v) for v in value) + ")"
    if value is None or isinstance(value, bool):
        return {None: "!n", True: "!t", False: "!f"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("!", "!!").replace("'", "!'") + "'"


def _for_a_filter(response: Response) -> bool:
    """Whether a data request was a native filter's value list (its viz type is the filter's)."""
    try:
        body = response.request.post_data_json or {}
    except ValueError:
        return False
    form_data = body.get("form_data") if isinstance(body, dict) else None
    return isinstance(form_data, dict) and str(form_data.get("viz_type", "")).startswith("filter_")


def open_dashboard(
    page: Page,
    base_url: str,
    slug: str,
    expected_charts: int,
    timeout: float = 120,
    filters: dict[str, dict[str, Any]] | None = None,
) -> DashboardView:
    """Open a dashboard and wait until each of its charts has its data and has rendered.

    ``filters``: native filter id -> {"column": ..., "values": [...]}, applied as Superset's own
    ``native_filters`` URL state (what its filter bar produces when a user picks those values)."""
    replies: list[Any] = []

    def on_response(response: Response) -> None:
        if "/api/v1/chart/data" in response.url:
            replies.append(response)

    page.on("response", on_response)
    t0 = time.monotonic()
    try:
        query = ""
        if filters:
            state = {
                fid: {
                    "id": fid,
                    "extraFormData": {"filters": [{"col": f["column"], "op": "IN", "val": list(f["values"])}]},
                    "filterState": {"value": list(f["values"])},
                    "ownState": {},
                }
                for fid, f in filters.items()
            }
            query = "?native_filters=" + urllib.parse.quote(rison(state), safe="!'():,*")
        page.goto(f"{base_url}/superset/dashboard/{slug}/{query}")
        deadline = t0 + timeout
        while True:
            holders = page.locator("[data-test=chart-grid-component]").count()
            loading = page.locator("[data-test=chart-grid-component] .loading").count()
            # Native filters query their value lists too: count the replies of charts only.
            charted = sum(1 for r in replies if not _for_a_filter(r))
            if holders >= expected_charts and charted >= expected_charts and loading == 0:
                break
            if time.monotonic() > deadline:
                raise BrowserError(
                    f"dashboard {slug}: {holders}/{expected_charts} charts, {charted} chart data replies, "
                    f"{loading} still loading after {timeout:.0f}s"
                )
            page.wait_for_timeout(250)
        if f"/dashboard/{slug}/" not in page.url:
            raise BrowserError(f"dashboard {slug}: the browser was sent to {page.url}")
        view = DashboardView(slug, {}, seconds=time.monotonic() - t0)
        for reply in replies:
            try:
                body = reply.json()
            except Exception:  # not JSON: an error page
                body = {"errors": [reply.text()[:300]]}
            if reply.status != 200 or body.get("errors"):
                view.errors.append(f"chart data {reply.status}: {json.dumps(body)[:300]}")
            view.data.append(body)
        # Data arrived is not drawn yet: read until every chart shows something, twice the same.
        previous: dict[str, ChartView] = {}
        while True:
            current = _read_charts(page)
            if current == previous and all(c.text or c.drawn for c in current.values()):
                break
            if time.monotonic() > deadline:
                empty = [t for t, c in current.items() if not (c.text or c.drawn)]
                raise BrowserError(f"dashboard {slug}: charts {empty} drew nothing within {timeout:.0f}s")
            previous = current
            page.wait_for_timeout(300)
        view.charts = current
        view.seconds = time.monotonic() - t0
        for holder in page.locator("[data-test=chart-grid-component]").all():
            if holder.locator(".ant-alert-error, [data-test=error-tooltip]").count():
                view.errors.append(f"a chart shows an error: {holder.inner_text()[:300]}")
        return view
    finally:
        page.remove_listener("response", on_response)


def _read_charts(page: Page) -> dict[str, ChartView]:
    charts = {}
    for holder in page.locator("[data-test=chart-grid-component]").all():
        title = holder.locator("[data-test=editable-title]").first.inner_text().strip()
        text = holder.inner_text().strip()
        # The header holds the title and, when a native filter applies, its badge (a count): skip it.
        header = holder.locator("[data-test=slice-header]")
        head = header.first.inner_text().strip() if header.count() else title
        body = text[len(head) :] if head and text.startswith(head) else text
        if body is text and text.startswith(title):
            body = text[len(title) :]
        drawn = holder.locator("canvas, svg.echarts, .echarts-for-react").count() > 0
        charts[title] = ChartView(title, body.strip(), drawn)
    return charts


def screenshot(page: Page, path: Path, width: int = 1280) -> Path:
    """The whole dashboard at a laptop's width (the tall loading viewport is only for loading)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 720})
    page.wait_for_timeout(500)  # charts redraw at the new width
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
    return path
