"""The console in headless Chromium against the local stack: one stack and one browser tab per
module. Skipped, saying why, only when no browser can be had here (``make browser`` installs
Debian's Chromium; ``make test`` runs it first)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.config import LocalStackSettings
from devstack import browser
from devstack.client import ApiClient
from devstack.stack import LocalStack

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import BrowserContext, Page

STACK_KEY = "browser-test-key"
MAX_UPLOAD_BYTES = 1_000_000  # so that "file too large" can be shown with a small file
# Records what must never happen on the page: dialogs (alert), CSP violations.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    why = browser.missing()
    if why:
        pytest.skip(f"no browser can be had here: {why}")
    saved = dict(os.environ)
    settings = LocalStackSettings(
        api_port=0,
        s3_port=0,
        api_key=STACK_KEY,
        data_dir=str(tmp_path_factory.mktemp("console-stack")),
        workers=2,
    )
    extra = {"INGEST_CHUNK_ROWS": "5000", "INGEST_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)}
    local = LocalStack(settings, extra_env=extra).start()
    try:
        yield local
    finally:
        local.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> ApiClient:
    return ApiClient(stack.api_url, STACK_KEY)


@pytest.fixture(scope="module")
def context(stack: LocalStack) -> Iterator[BrowserContext]:
    with browser.browser_context() as ctx:
        ctx.set_default_timeout(20_000)
        ctx.add_init_script(WATCH)
        yield ctx


@pytest.fixture(scope="module")
def dialogs() -> list[str]:
    return []


@pytest.fixture(scope="module")
def sent() -> list[tuple[str, dict[str, str]]]:
    """Every request the console's tab made: URL and headers."""
    return []


@pytest.fixture(scope="module")
def page(
    context: BrowserContext,
    stack: LocalStack,
    dialogs: list[str],
    sent: list[tuple[str, dict[str, str]]],
) -> Page:
    """The console with the right key entered once."""
    tab = context.new_page()
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.on("request", lambda r: sent.append((r.url, r.headers)))
    tab.goto(stack.console_url)
    tab.fill("#key-input", STACK_KEY)
    tab.click("#key-form button[type=submit]")
    tab.wait_for_selector("#key-panel", state="hidden")
    return tab


def table_rows(page: Page, selector: str) -> list[list[str]]:
    """The text of each body row's cells."""
    rows: Any = page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))",
    )
    return [list(r) for r in rows]
