"""What guards the console, in headless Chromium against the local stack.

Its headers and the bucket's CORS rules; file content holding markup shows as text with no
script run (proven by the absence of dialogs, elements and CSP violations); a wrong key, an
unreachable API, a file too large, a cancelled transfer and a failed upload each show one clear
message; controls are labelled and reachable by keyboard; the key travels only in its header.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests

from chalicelib.api.multipart_uploads import CANCELLED
from devstack.browser import throttle_uploads
from devstack.sample import write_hired_employees
from devstack.settings import LOCAL_BUCKET
from tests.browser.conftest import (
    EVIL,
    MAX_UPLOAD_BYTES,
    STACK_KEY,
    alert_text,
    dismiss,
    wait_for_phases,
)

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import BrowserContext, Page

    from devstack.client import ApiClient
    from devstack.stack import LocalStack

TRANSFER = re.compile(r"([0-9.]+) KiB of ([0-9.]+) KiB · ([0-9.]+) KiB/s · ([0-9]+) s left")


def test_page_is_public_and_guarded_by_its_headers(stack: LocalStack) -> None:
    reply = requests.get(stack.console_url, timeout=10)
    assert reply.status_code == 200
    csp = reply.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert stack.s3_url in csp  # presigned requests go to the bucket's origin, and only there
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert '<base href="/">' in reply.text
    assert "<script>" not in reply.text  # no inline script at all
    script = requests.get(f"{stack.api_url}/console/main.js", timeout=10)
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert requests.get(f"{stack.api_url}/console/nope.js", timeout=10).status_code == 404
    # The page is public; the API still is not.
    assert requests.get(f"{stack.api_url}/api/v1/uploads", timeout=10).status_code == 401


def test_bucket_cors_admits_the_console_origin_only(stack: LocalStack) -> None:
    rules = boto3.client("s3").get_bucket_cors(Bucket=LOCAL_BUCKET)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == sorted(stack.console_origins())
    preflight = {"Access-Control-Request-Method": "PUT"}
    url = f"{stack.s3_url}/{LOCAL_BUCKET}/raw/jobs/x.csv"
    ok = requests.options(url, headers={**preflight, "Origin": stack.api_url}, timeout=10)
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == stack.api_url
    assert "ETag" in ok.headers["Access-Control-Expose-Headers"]
    other = requests.options(url, headers={**preflight, "Origin": "http://127.0.0.1:1"}, timeout=10)
    assert other.status_code == 403


def test_wrong_key_shows_its_error(context: BrowserContext, stack: LocalStack) -> None:
    tab = context.new_page()  # a tab of its own: sessionStorage is per tab
    try:
        tab.goto(stack.console_url)
        assert tab.is_visible("#key-panel")
        tab.fill("#key-input", "not-the-key")
        tab.click("#key-form button[type=submit]")
        message = alert_text(tab)
        assert "refused the key" in message
        assert "403" in message
        assert tab.is_visible("#key-panel")  # asked again
    finally:
        tab.close()


def test_markup_in_files_shows_as_text_and_runs_nothing(
    page: Page, dialogs: list[str], loaded: dict[str, Any], api: ApiClient
) -> None:
    # A file whose name is markup goes in like any other name, and shows as the text it is.
    page.goto(page.url.split("#")[0] + "#upload")
    name = f"{EVIL} jobs.csv"
    page.set_input_files(
        "#file-input", files=[{"name": name, "mimeType": "text/csv", "buffer": b"9999,Markup\n"}]
    )
    row = page.locator("#queue tbody tr").last
    assert row.get_attribute("data-name") == name
    assert row.locator("select").first.input_value() == "jobs"  # guessed from the name
    page.click("#send-all")
    assert wait_for_phases(page, [name])[name] == "loaded"
    assert row.locator("td.name span").first.inner_text() == name
    listed = api._call("GET", "/api/v1/uploads", params={"table": "jobs"})["uploads"]
    assert listed[0]["filename"] == name
    page.goto(page.url.split("#")[0] + "#uploads")
    page.wait_for_selector(f"#uploads tbody tr[data-upload-id='{listed[0]['upload_id']}']")
    shown = page.locator(f"#uploads tbody tr[data-upload-id='{listed[0]['upload_id']}'] td").nth(3)
    assert shown.inner_text() == name
    # Every place that showed the markup holds it as text: no element was made from it.
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    page.goto(page.url.split("#")[0] + "#reports")
    page.wait_for_selector("#hires-chart g.bar")
    assert page.evaluate("document.querySelectorAll('img, b').length") == 0
    assert page.locator("#hires-chart g.bar text.label", has_text="<img").count() == 1
    assert page.evaluate("window.__violations") == []
    assert dialogs == []


def test_controls_are_labelled_and_reachable_by_keyboard(page: Page) -> None:
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, button, progress, a[href]')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                         && !e.textContent.trim())
            .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == []
    page.goto(page.url.split("#")[0] + "#upload")
    page.focus("nav a[data-view=upload]")
    reached = []
    for _ in range(8):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert "file-input" in reached  # the file picker, by keyboard alone
    page.focus("nav a[data-view=reports]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-reports:not([hidden])")


def test_file_too_large_shows_one_clear_message(page: Page) -> None:
    page.goto(page.url.split("#")[0] + "#upload")
    dismiss(page)
    big = b"1,Engineer\n" * (MAX_UPLOAD_BYTES // 11 + 10)
    page.set_input_files(
        "#file-input", files=[{"name": "jobs_big.csv", "mimeType": "text/csv", "buffer": big}]
    )
    page.click("#send-all")
    message = alert_text(page)
    assert message.startswith("jobs_big.csv is too large to upload")
    assert str(MAX_UPLOAD_BYTES) in message
    wait_for_phases(page, ["jobs_big.csv"])
    dismiss(page)


def test_unreachable_api_shows_one_clear_message(page: Page, stack: LocalStack) -> None:
    pattern = f"{stack.api_url}/api/v1/**"
    page.route(pattern, lambda route: route.abort("connectionrefused"))
    try:
        page.goto(page.url.split("#")[0] + "#uploads")
        page.click("#uploads-refresh")
        message = alert_text(page)
        assert "cannot be reached" in message
    finally:
        page.unroute(pattern)
    dismiss(page)


def test_progress_shows_bytes_rate_time_left_and_cancel_works(
    page: Page, api: ApiClient, tmp_path: Path
) -> None:
    path = write_hired_employees(tmp_path / "hired_employees.csv", 20_000)  # about 900 KB
    limit = 150_000  # bytes per second: the transfer takes about six seconds
    page.goto(page.url.split("#")[0] + "#upload")
    throttle_uploads(page, limit)
    try:
        page.set_input_files("#file-input", str(path))
        page.click("#send-all")
        row = page.locator("#queue tbody tr[data-phase=sending]")
        page.wait_for_function(
            "() => (document.querySelector('#queue tr[data-phase=sending] progress') || {})"
            ".value > 200000"
        )
        text = row.locator("td.transfer").inner_text()
        shown = TRANSFER.search(text)
        assert shown, text
        sent_kib, total_kib, rate_kib, left_s = (float(g) for g in shown.groups())
        assert total_kib == pytest.approx(path.stat().st_size / 1024, abs=0.1)
        assert 0 < sent_kib < total_kib
        assert 0.5 * limit / 1024 < rate_kib < 1.5 * limit / 1024  # the line's speed, measured
        assert left_s >= 1
        row.get_by_role("button", name="Cancel hired_employees.csv").click()
        page.wait_for_selector("#queue tbody tr[data-phase=cancelled]")
    finally:
        throttle_uploads(page, None)
    link = page.locator("#queue tr[data-phase=cancelled] a.details-link").get_attribute("href")
    status = api.status((link or "").rsplit("/", 1)[-1])
    assert status["state"] == "failed"
    assert status["error"] == CANCELLED
    raw = f"raw/hired_employees/{status['upload_id']}/"
    assert boto3.client("s3").list_objects_v2(Bucket=LOCAL_BUCKET, Prefix=raw)["KeyCount"] == 0


def test_a_cancelled_upload_offers_no_redrive_and_no_dashes(page: Page, api: ApiClient) -> None:
    failed = next(
        u for u in api._call("GET", "/api/v1/uploads")["uploads"] if u["state"] == "failed"
    )
    assert api.status(failed["upload_id"])["retryable"] is False
    page.goto(page.url.split("#")[0] + f"#uploads/{failed['upload_id']}")
    page.wait_for_selector("#upload-detail:not([hidden])")
    fields = page.inner_text("#detail-fields")
    assert CANCELLED in fields
    assert "none counted: it failed before its rows were read" in fields
    assert "none: it failed before it was split" in fields
    assert "- in all" not in fields and "of - done" not in fields
    assert "A re-drive cannot help" in fields
    assert page.is_hidden("#detail-retry")
    state = page.locator(f"#uploads tbody tr[data-upload-id='{failed['upload_id']}'] .badge")
    assert state.inner_text() == "failed"


def test_the_key_travels_only_in_its_header(
    page: Page, context: BrowserContext, stack: LocalStack, sent: list[tuple[str, dict[str, str]]]
) -> None:
    api_calls = [(url, headers) for url, headers in sent if "/api/v1/" in url]
    assert len(api_calls) > 20
    assert all(headers.get("x-api-key") == STACK_KEY for _, headers in api_calls)
    assert not any(STACK_KEY in url for url, _ in sent)  # never in an address
    to_s3 = [headers for url, headers in sent if url.startswith(stack.s3_url)]
    assert to_s3 and not any("x-api-key" in headers for headers in to_s3)  # S3 never sees it
    assert context.cookies() == []
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("Object.keys(localStorage).length") == 0
