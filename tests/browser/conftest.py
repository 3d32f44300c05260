"""Browser fixtures: Debian's chromium driven by Playwright (never a downloaded browser),
a dashboard on a free loopback port over a temporary SQLite store, and a page whose
every request to anything but that server is blocked and recorded (the offline check)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser.support import ServerThread, build_world

CHROMIUM = Path(os.environ.get("TRUCELINE_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} not found: the browser tests need Debian's chromium; install it with "
                           "`sudo apt-get install -y chromium` (scripts/test does this when run as root)")
    return CHROMIUM


@pytest.fixture(scope="module")
def bworld(tmp_path_factory) -> dict[str, Any]:
    return build_world(tmp_path_factory.mktemp("browser"), n_per_day=60, days=3)


@pytest.fixture(scope="module")
def server(bworld) -> Iterator[ServerThread]:
    from truceline.web import create_app

    app = create_app(events=bworld["events"], db_url=bworld["db_url"], context=bworld["ctx"],
                     state_path=bworld["state"])
    with ServerThread(app) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser_ctx(chromium_path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="tl-chromium-") as profile:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=str(chromium_path), headless=True, args=ARGS,
            viewport={"width": 1400, "height": 850}, device_scale_factor=1)
        yield ctx
        ctx.close()


@pytest.fixture
def page(browser_ctx, server) -> Iterator[Any]:
    """A fresh page (cookies cleared); requests off the test server are blocked and listed."""
    browser_ctx.clear_cookies()
    pg = browser_ctx.new_page()
    outside: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(server.url) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    pg.route("**/*", route)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.outside_requests = outside  # type: ignore[attr-defined]
    pg.js_errors = errors  # type: ignore[attr-defined]
    yield pg
    pg.close()
    assert outside == [], f"the page tried to reach the network: {outside}"
    assert errors == [], f"JavaScript errors: {errors}"


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
