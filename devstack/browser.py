"""Headless Chromium for the console's browser tests and screenshots, driven by Playwright.

Uses the system's Chromium (Debian's ``chromium`` package, ``make browser`` installs it), never
a browser build downloaded by Playwright. Each run gets a fresh profile in a temporary folder
and the flags that keep Chromium from reaching anything but the pages it is sent to.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import BrowserContext, Page

CHROMIUM_PATHS = (Path("/usr/bin/chromium"), Path("/usr/bin/chromium-browser"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> Path | None:
    """The system Chromium, or None when there is none."""
    return next((p for p in CHROMIUM_PATHS if p.is_file()), None)


def missing() -> str | None:
    """Why no browser can be had here (None when one can)."""
    if chromium() is None:
        return "no Chromium at /usr/bin/chromium (make browser installs Debian's)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make setup installs it)"
    return None


@contextmanager
def browser_context(width: int = 1280, height: int = 800) -> Iterator[BrowserContext]:
    """A fresh headless Chromium profile with one viewport size; closed on exit.

    Raises:
        RuntimeError: no Chromium is installed.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium()
    if executable is None:
        raise RuntimeError(missing() or "no Chromium")
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(executable),
                headless=True,
                args=list(FLAGS),
                viewport={"width": width, "height": height},
                accept_downloads=True,
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def throttle_uploads(page: Page, bytes_per_second: int | None) -> None:
    """Limit what the page sends to ``bytes_per_second`` (None lifts it), as a slow line would,
    through the DevTools protocol's network emulation."""
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second or -1,
        },
    )
