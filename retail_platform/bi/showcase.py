"""The end of `make demo`: where each dashboard is, who can log in, and a screenshot of each as it
renders now in a real browser (under <state>/demo/screenshots/, or a folder given)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from retail_platform.bi import access, browser
from retail_platform.bi.catalog import DASHBOARDS
from retail_platform.settings import Settings


def dashboard_url(settings: Settings, slug: str) -> str:
    return f"{settings.superset_url}/superset/dashboard/{slug}/"


def show(settings: Settings, out_dir: Path | None = None, log: Callable[[str], None] = print) -> list[Path]:
    out = out_dir or settings.state_dir / "demo" / "screenshots"
    log(f"  Superset     {settings.superset_url}  (admin {settings.superset_user} / {settings.superset_password})")
    for user in access.load():
        stores = f", stores {', '.join(user.stores)}" if user.stores else ""
        log(f"    user {user.username:<18} role {user.role}{stores}  (password {settings.superset_demo_password})")
    shots = []
    with browser.chromium() as chromium:
        page = browser.login(chromium, settings.superset_url, settings.superset_user, settings.superset_password)
        for dash in DASHBOARDS:
            view = browser.open_dashboard(page, settings.superset_url, dash.slug, len(dash.charts))
            shot = browser.screenshot(page, out / f"{dash.slug}.png")
            shots.append(shot)
            state = "ok" if not view.errors else f"{len(view.errors)} chart error(s): {view.errors[0][:120]}"
            log(
                f"  {dash.title:<18} {dashboard_url(settings, dash.slug)}  "
                f"({len(view.charts)} charts in {view.seconds:.1f} s, {state}; screenshot {shot})"
            )
    return shots
