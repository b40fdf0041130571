"""A real browser for the dashboard and GraphiQL tests: the system's Chromium driven by Playwright.

Never `playwright install`: the browser is Debian's `chromium` (`.ci/run` installs it), or the one
OMS_CHROMIUM names. Without it, or without the page's libraries (`make install` runs `npm ci` in
dashboard/), the browser tests skip, and tests/conftest.py prints a banner saying how many and why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.dashboard_page import FrontEnd

# Every skip reason starts with this, so the summary banner can find and count them.
SKIP_PREFIX = "browser test skipped"
# Without the background-networking flags Chromium keeps calling Google services, which on a
# closed network means a flood of failing connections.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
LOCAL_PREFIXES = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")


def chromium_path() -> str | None:
    configured = os.environ.get("OMS_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return f"{SKIP_PREFIX}: Playwright is not installed (make install)"
    if chromium_path() is None:
        return f"{SKIP_PREFIX}: no Chromium (apt-get install chromium, or set OMS_CHROMIUM)"
    if not FrontEnd().installed():
        return f"{SKIP_PREFIX}: dashboard/node_modules is missing (install Node.js + npm, then make install)"
    return None


requires_browser = pytest.mark.skipif(missing() is not None, reason=missing() or "")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            await browser.close()


async def offline_page(browser: Any, *, viewport: dict[str, int] | None = None) -> tuple[Any, Any, list[str]]:
    """A fresh context and page that may reach 127.0.0.1 only: any other request is aborted and
    listed. Page errors (uncaught exceptions, CSP violations) are collected in the same list."""
    context = await browser.new_context(viewport=viewport or {"width": 1400, "height": 1000})
    page = await context.new_page()
    problems: list[str] = []

    async def only_local(route: Any) -> None:
        url = route.request.url
        if url.startswith(LOCAL_PREFIXES):
            await route.continue_()
        else:
            problems.append(f"blocked {url}")
            await route.abort()

    await context.route("**/*", only_local)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: problems.append(f"console: {message.text}")
        if message.type == "error" and "Content Security Policy" in message.text
        else None,
    )
    return context, page, problems


def summary_banner(terminalreporter: Any) -> None:
    """The loud line at the end of a run whose browser tests did not run (conftest's hook)."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr or "")
        if SKIP_PREFIX in reason:
            reason = reason[reason.index(SKIP_PREFIX):]
            reasons[reason] = reasons.get(reason, 0) + 1
    if not reasons:
        return
    total = sum(reasons.values())
    line = "!" * 100
    terminalreporter.write_line(line, red=True, bold=True)
    terminalreporter.write_line(f"!!! {total} BROWSER TEST(S) SKIPPED: the dashboard and GraphiQL were NOT tested", red=True, bold=True)
    for reason, count in sorted(reasons.items()):
        terminalreporter.write_line(f"!!!   {count} x {reason}", red=True, bold=True)
    terminalreporter.write_line(line, red=True, bold=True)
