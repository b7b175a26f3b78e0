"""The console in headless Chromium against the local stack: one stack and one browser tab for
the folder's tests, which run in order as one person's session would. Skipped, saying why, only
when no browser can be had here (``make browser`` installs Debian's Chromium; ``make test`` runs
it first)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from devstack import browser
from devstack.client import ApiClient
from devstack.sample import write_samples
from tests.stacks import running_stack

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from playwright.sync_api import BrowserContext, Page

    from devstack.stack import LocalStack

STACK_KEY = "browser-test-key"
EVIL = "<img src=x onerror=alert(1)>"
TABLE_ORDER = ("departments", "jobs", "hired_employees")
MAX_UPLOAD_BYTES = 1_000_000  # so that "file too large" can be shown with a small file
# Records what must never happen on the page: dialogs (alert), CSP violations.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    why = browser.missing()
    if why:
        pytest.skip(f"no browser can be had here: {why}")
    extra = {"INGEST_CHUNK_ROWS": "5000", "INGEST_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)}
    data_dir = tmp_path_factory.mktemp("console-stack")
    with running_stack(data_dir, key=STACK_KEY, workers=2, env=extra) as local:
        yield local


@pytest.fixture(scope="package")
def api(stack: LocalStack) -> ApiClient:
    return ApiClient(stack.api_url, STACK_KEY)


@pytest.fixture(scope="package")
def context(stack: LocalStack) -> Iterator[BrowserContext]:
    with browser.browser_context() as ctx:
        ctx.set_default_timeout(20_000)
        ctx.add_init_script(WATCH)
        yield ctx


@pytest.fixture(scope="package")
def dialogs() -> list[str]:
    return []


@pytest.fixture(scope="package")
def sent() -> list[tuple[str, dict[str, str]]]:
    """Every request the console's tab made: URL and headers."""
    return []


@pytest.fixture(scope="package")
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


def wait_for_phases(page: Page, names: list[str], timeout: float = 40.0) -> dict[str, str]:
    """Each queued file's phase once none of ``names`` is still sending or processing."""
    deadline = time.monotonic() + timeout
    while True:
        phases: dict[str, str] = page.eval_on_selector_all(
            "#queue tbody tr",
            "rows => Object.fromEntries(rows.map(r => [r.dataset.name, r.dataset.phase]))",
        )
        if all(phases.get(n) not in (None, "queued", "sending", "processing") for n in names):
            return phases
        assert time.monotonic() < deadline, f"still busy: {phases}"
        time.sleep(0.3)


def alert_text(page: Page) -> str:
    page.wait_for_selector("#alert:not([hidden])")
    return page.inner_text("#alert-text")


def dismiss(page: Page) -> None:
    if page.is_visible("#alert"):
        page.click("#alert-close")


@pytest.fixture(scope="package")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("console-samples")
    files = write_samples(folder, hires=6000)
    with files.departments.open("a", encoding="utf-8") as handle:
        handle.write(f'13,"{EVIL}"\n')  # a department whose name is markup
    hires = files.hired_employees.read_text(encoding="utf-8")
    files.hired_employees.write_text(
        f"9001,{EVIL},not-a-date,13,1\r\n9002,<b>Bold</b>,2021-05-05T10:00:00Z,13,1\r\n" + hires,
        encoding="utf-8",
    )
    return {t: files.for_table(t) for t in TABLE_ORDER}


@pytest.fixture(scope="package")
def loaded(page: Page, samples: dict[str, Path], api: ApiClient) -> dict[str, dict[str, Any]]:
    """The sample files dropped on the page, in reverse order, and followed until loaded."""
    page.goto(page.url.split("#")[0] + "#upload")
    # Dropped as a person drags them from a file manager: a drop event carrying the files.
    dropped = page.evaluate_handle(
        """files => {
            const data = new DataTransfer();
            for (const [name, text] of files) data.items.add(new File([text], name));
            return data;
        }""",
        [[samples[t].name, samples[t].read_bytes().decode()] for t in reversed(TABLE_ORDER)],
    )
    page.dispatch_event("#drop-zone", "dragover", {"dataTransfer": dropped})
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": dropped})
    names = [samples[t].name for t in TABLE_ORDER]
    sizes = page.eval_on_selector_all(
        "#queue tbody tr", "rows => rows.map(r => r.cells[2].textContent)"
    )
    assert len(sizes) == 3
    guessed = page.eval_on_selector_all(
        "#queue tbody tr",
        "rows => rows.map(r => [r.dataset.name, r.querySelector('select').value])",
    )
    assert {n: t for n, t in guessed} == {samples[t].name: t for t in TABLE_ORDER}
    page.click("#send-all")
    phases = wait_for_phases(page, names)
    assert phases == dict.fromkeys(names, "loaded")
    by_table = {u["table"]: u for u in api._call("GET", "/api/v1/uploads")["uploads"]}
    return {t: api.status(by_table[t]["upload_id"]) for t in TABLE_ORDER}
