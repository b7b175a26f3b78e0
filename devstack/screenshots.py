"""``make screenshots``: the console's pictures in docs/img/console-*.png, as a person uses it.

Starts the local stack on free ports, drops the demo's sample files on the page in headless
Chromium, waits until they are loaded, then photographs each view at 1280x800, a `;` file read
with the defaults (its warnings and the option they name), and the reports, uploads and backups
in a 390 px window. Exits non-zero if a file does not load.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from devstack.browser import browser_context, throttle_uploads
from devstack.sample import write_samples
from devstack.settings import LocalStackSettings
from devstack.stack import LocalStack

if TYPE_CHECKING:
    from playwright.sync_api import FilePayload, Page

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"
KEY = "local-only-api-key"
BUSY = ("queued", "sending", "processing")


def _wait_loaded(page: Page, timeout: float = 120.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        phases: list[str] = page.eval_on_selector_all(
            "#queue tbody tr", "rows => rows.map(r => r.dataset.phase)"
        )
        if phases and not any(p in BUSY for p in phases):
            return phases
        if time.monotonic() > deadline:
            raise TimeoutError(f"uploads still busy: {phases}")
        time.sleep(0.3)


def _enter_key(page: Page, url: str, key: str) -> None:
    page.goto(url)
    page.fill("#key-input", key)
    page.click("#key-form button[type=submit]")


def take(out: Path, data_dir: Path) -> list[Path]:
    """Photograph every view against a fresh stack; return the files written."""
    files = write_samples(data_dir / "input", hires=5000)
    settings = LocalStackSettings(
        api_port=0, s3_port=0, api_key=KEY, data_dir=str(data_dir), workers=2
    )
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with LocalStack(settings, extra_env={"INGEST_CHUNK_ROWS": "1000"}) as stack:
        url = stack.console_url
        with browser_context(1280, 800) as context:
            page = context.new_page()
            _enter_key(page, url, "not-the-key")
            page.wait_for_selector("#alert:not([hidden])")
            shots.append(out / "console-wrong-key.png")
            page.screenshot(path=shots[-1])
            page.fill("#key-input", KEY)
            page.click("#key-form button[type=submit]")
            page.wait_for_selector("#key-panel", state="hidden")
            page.set_input_files(
                "#file-input", [str(files.hired_employees), str(files.jobs), str(files.departments)]
            )
            # A slow line, so that the picture catches the biggest file on its way.
            throttle_uploads(page, 60_000)
            page.click("#send-all")
            page.wait_for_function(
                """() => {
                    const row = "#queue tr[data-name='hired_employees.csv'][data-phase=sending]";
                    const bar = document.querySelector(`${row} progress`);
                    return bar && bar.value > bar.max * 0.4;
                }"""
            )
            shots.append(out / "console-upload.png")
            page.screenshot(path=shots[-1])
            throttle_uploads(page, None)
            if any(p != "loaded" for p in _wait_loaded(page)):
                raise RuntimeError("a sample file did not load")
            shots.append(out / "console-upload-done.png")
            page.screenshot(path=shots[-1])
            hires = page.locator("#queue tr[data-name='hired_employees.csv'] a.details-link")
            page.goto(hires.evaluate("a => a.href"))
            page.wait_for_selector("#rejected-summary:not([hidden])")
            shots.append(out / "console-uploads.png")
            page.screenshot(path=shots[-1], full_page=True)
            page.goto(f"{url}#upload")
            page.click("#clear-done")
            semicolons: FilePayload = {
                "name": "departments export.csv",
                "mimeType": "text/csv",
                "buffer": b"1;Accounting\n2;Business Development\n3;Engineering\n",
            }
            page.set_input_files("#file-input", files=[semicolons])
            page.click("#send-all")
            if _wait_loaded(page) != ["loaded"]:
                raise RuntimeError("the semicolon file did not load")
            page.wait_for_selector("#queue button.again:not([hidden])")
            shots.append(out / "console-warnings.png")
            page.screenshot(path=shots[-1])
            page.click("#alert-close")
            page.goto(f"{url}#reports")
            page.wait_for_selector("#above-chart g.bar")
            shots.append(out / "console-reports.png")
            page.screenshot(path=shots[-1], full_page=True)
            page.goto(f"{url}#backups")
            page.click("#backup-form button[type=submit]")
            page.wait_for_selector("#backup-result:has-text('written')")
            page.locator("#backups button", has_text="Restore").last.click()
            shots.append(out / "console-backups.png")
            page.screenshot(path=shots[-1])
            page.click("#restore-cancel")
        with browser_context(390, 844) as narrow:
            phone = narrow.new_page()
            _enter_key(phone, f"{url}#reports", KEY)
            phone.wait_for_selector("#above-chart g.bar")
            shots.append(out / "console-narrow.png")
            phone.screenshot(path=shots[-1])
            phone.goto(f"{url}#uploads")
            phone.wait_for_selector("#uploads tbody tr[data-upload-id]")
            shots.append(out / "console-narrow-uploads.png")
            phone.screenshot(path=shots[-1])
            phone.goto(f"{url}#backups")
            phone.wait_for_selector("#backups tbody tr[data-backup-id]")
            shots.append(out / "console-narrow-backups.png")
            phone.screenshot(path=shots[-1])
    return shots


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="console-shots-") as data_dir:
        for path in take(OUT, Path(data_dir)):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
