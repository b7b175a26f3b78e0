"""The console as a person uses it, in headless Chromium against the local stack.

Files go up through the page (presigned POST, and multipart parts), reach ``loaded``, and what
the page shows is compared with the API's own replies and with ``ingest rejected``'s summary.
File content holding markup must show as text with no script run, proven by the absence of
dialogs, elements and CSP violations. The tests run in order on one tab, as one session would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests

from chalicelib.config import LOCAL_BUCKET
from chalicelib.multipart import CANCELLED
from devstack.browser import throttle_uploads
from devstack.sample import write_hired_employees, write_samples
from tests.browser.conftest import MAX_UPLOAD_BYTES, STACK_KEY, table_rows

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import BrowserContext, Page

    from devstack.client import ApiClient
    from devstack.stack import LocalStack

EVIL = "<img src=x onerror=alert(1)>"
YEAR = 2021
TABLE_ORDER = ("departments", "jobs", "hired_employees")
TRANSFER = re.compile(r"([0-9.]+) KiB of ([0-9.]+) KiB · ([0-9.]+) KiB/s · ([0-9]+) s left")


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


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
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


def test_dropped_files_reach_loaded_with_the_apis_counts(
    page: Page, loaded: dict[str, dict[str, Any]]
) -> None:
    for table, status in loaded.items():
        assert status["state"] == "loaded"
        row = page.locator(f"#queue tbody tr[data-name='{table}.csv']")
        text = row.inner_text()
        assert (
            f"{status['rows_total']:,} rows: {status['rows_valid']:,} valid, "
            f"{status['rows_rejected']:,} rejected"
        ) in text
        assert f"chunks {status['chunks_total']} of {status['chunks_total']}" in text
    assert loaded["hired_employees"]["chunks_total"] > 1


def test_reload_keeps_the_key_and_the_uploads(page: Page, loaded: dict[str, Any]) -> None:
    page.reload()
    page.wait_for_selector("main[data-ready=true]")
    assert not page.is_visible("#key-panel")
    phases = page.eval_on_selector_all("#queue tbody tr", "rows => rows.map(r => r.dataset.phase)")
    assert phases == ["loaded"] * 3


def test_report_table_and_charts_equal_the_api(
    page: Page, api: ApiClient, loaded: dict[str, Any]
) -> None:
    page.goto(page.url.split("#")[0] + "#reports")
    page.fill("#report-year", str(YEAR))
    page.click("#report-form button[type=submit]")
    hires = api.report("hires-by-quarter", YEAR)
    page.wait_for_function(
        "n => document.querySelectorAll('#hires tbody tr').length === n", arg=len(hires["rows"])
    )
    expected = [
        [r["department"], r["job"], *(str(r[q]) for q in ("q1", "q2", "q3", "q4"))]
        + [str(sum(r[q] for q in ("q1", "q2", "q3", "q4")))]
        for r in hires["rows"]
    ]
    shown = [
        [c.replace(",", "") if i > 1 else c for i, c in enumerate(r)]
        for r in table_rows(page, "#hires")
    ]
    assert shown == expected
    assert EVIL in {r[0] for r in shown}  # the markup department, as text
    departments = list(dict.fromkeys(r["department"] for r in hires["rows"]))
    bars = page.eval_on_selector_all(
        "#hires-chart g.bar", "gs => gs.map(g => [g.dataset.department, +g.dataset.total])"
    )
    assert [b[0] for b in bars] == departments  # one bar per department, in the table's order
    totals = {d: 0 for d in departments}
    for r in hires["rows"]:
        totals[r["department"]] += sum(r[q] for q in ("q1", "q2", "q3", "q4"))
    assert {d: t for d, t in bars} == totals

    # Sorted by total (most first): the chart follows the table, ties in the API's order.
    page.click("#hires th[data-key=total] button")
    ordered = [r[0] for r in table_rows(page, "#hires")]
    bars = page.eval_on_selector_all(
        "#hires-chart g.bar", "gs => gs.map(g => g.dataset.department)"
    )
    assert bars == list(dict.fromkeys(ordered))
    page.click("#hires th[data-key=department] button")  # back to department order

    # Filtered: the table and the chart keep the same departments.
    page.fill("#hires-filter", "Sales")
    kept = list(dict.fromkeys(r[0] for r in table_rows(page, "#hires")))
    assert kept and all("sales" in (r[0] + r[1]).lower() for r in table_rows(page, "#hires"))
    bars = page.eval_on_selector_all(
        "#hires-chart g.bar", "gs => gs.map(g => g.dataset.department)"
    )
    assert bars == kept
    page.fill("#hires-filter", "")

    above = api.report("departments-above-mean", YEAR)
    rows = table_rows(page, "#above")
    assert [[r[0], r[1], r[2].replace(",", "")] for r in rows] == [
        [str(r["id"]), r["department"], str(r["hired"])] for r in above["rows"]
    ]
    bars = page.eval_on_selector_all(
        "#above-chart g.bar", "gs => gs.map(g => [g.dataset.department, +g.dataset.hired])"
    )
    assert bars == [[r["department"], r["hired"]] for r in above["rows"]]
    mean = page.get_attribute("#above-chart line.mean", "data-mean")
    assert mean is not None and float(mean) == pytest.approx(above["mean"])


def test_rejected_summary_matches_the_cli(
    page: Page, stack: LocalStack, loaded: dict[str, dict[str, Any]]
) -> None:
    upload_id = loaded["hired_employees"]["upload_id"]
    page.goto(page.url.split("#")[0] + "#uploads")
    page.select_option("#uploads-table", "jobs")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#uploads tbody tr')]"
        ".every(r => r.cells[2].textContent === 'jobs')"
    )
    page.select_option("#uploads-table", "")
    page.goto(page.url.split("#")[0] + f"#uploads/{upload_id}")
    page.wait_for_selector("#rejected-summary:not([hidden])")
    cli = subprocess.run(
        [sys.executable, "-m", "ingest_cli", "rejected", upload_id, "--json"],
        env={"INGEST_API_URL": stack.api_url, "INGEST_API_KEY": STACK_KEY, "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(cli.stdout)
    reasons = table_rows(page, "#rejected-reasons")
    assert [[r[0], int(r[1].replace(",", "")), r[3]] for r in reasons] == [
        [r["reason"], r["rows"], ", ".join(map(str, r["first_rows"]))] for r in summary["reasons"]
    ]
    assert f"{summary['rows_rejected']:,} rejected rows" in page.inner_text("#rejected-title")
    examples = table_rows(page, "#rejected-examples")
    assert examples[0][:2] == ["1", f"9001,{EVIL},not-a-date,13,1"]
    download = page.get_attribute("#rejected-download", "download")
    assert download == f"{upload_id}-rejected.jsonl"
    with page.expect_download() as got:
        page.click("#rejected-download")
    lines = [json.loads(x) for x in got.value.path().read_text().splitlines() if x.strip()]
    assert len(lines) == summary["rows_rejected"]


def test_markup_in_files_shows_as_text_and_runs_nothing(
    page: Page, dialogs: list[str], loaded: dict[str, Any]
) -> None:
    # A file whose name is markup: the API refuses the name, and the page shows the message.
    page.goto(page.url.split("#")[0] + "#upload")
    page.set_input_files(
        "#file-input", files=[{"name": f"{EVIL}.csv", "mimeType": "text/csv", "buffer": b"1,x\n"}]
    )
    row = page.locator("#queue tbody tr").last
    assert row.get_attribute("data-name") == f"{EVIL}.csv"
    row.locator("select").select_option("jobs")
    page.click("#send-all")
    assert EVIL in alert_text(page)
    dismiss(page)
    row.locator("button").click()  # remove it from the list
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


def test_multipart_upload_in_parallel_parts(page: Page, api: ApiClient, tmp_path: Path) -> None:
    # Over 5 MiB, so two parts of at least S3's 5 MiB: five jobs, and 90 records too long to read
    # (over 64 KiB each, rejected unread), which keeps the pipeline's share of the test short.
    path = tmp_path / "jobs_long.csv"
    path.write_text(
        "".join(f"{100000 + i},Job {i}\n" for i in range(5))
        + "".join(f"{200000 + i},{'x' * 70_000}\n" for i in range(90)),
        encoding="utf-8",
    )
    assert path.stat().st_size > 6 * 1024**2
    page.goto(page.url.split("#")[0] + "#upload")
    page.check("#force-multipart")
    page.set_input_files("#file-input", str(path))
    page.click("#send-all")
    page.wait_for_selector("#queue tr[data-name='jobs_long.csv'][data-phase=processing]")
    page.uncheck("#force-multipart")
    assert wait_for_phases(page, ["jobs_long.csv"])["jobs_long.csv"] == "loaded"
    row = page.locator("#queue tbody tr[data-name='jobs_long.csv']")
    assert "sent in 2 parts" in row.inner_text()
    link = row.locator("a.details-link").get_attribute("href") or ""
    status = api.status(link.rsplit("/", 1)[-1])
    raw = f"raw/jobs/{status['upload_id']}/jobs_long.csv"
    etag = boto3.client("s3").head_object(Bucket=LOCAL_BUCKET, Key=raw)["ETag"]
    assert etag.strip('"').endswith("-2")  # S3's mark of an object completed from two parts
    assert (status["rows_valid"], status["rows_rejected"]) == (5, 90)
    assert "95 rows: 5 valid, 90 rejected" in row.inner_text()


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


def test_failed_upload_detail_and_redrive_message(page: Page, api: ApiClient) -> None:
    failed = next(
        u for u in api._call("GET", "/api/v1/uploads")["uploads"] if u["state"] == "failed"
    )
    page.goto(page.url.split("#")[0] + f"#uploads/{failed['upload_id']}")
    page.wait_for_selector("#detail-retry:not([hidden])")
    assert CANCELLED in page.inner_text("#detail-fields")
    state = page.locator(f"#uploads tbody tr[data-upload-id='{failed['upload_id']}'] .badge")
    assert state.inner_text() == "failed"
    page.click("#detail-retry")
    message = alert_text(page)
    assert message.startswith(f"The upload {failed['upload_id']} was not re-driven:")
    dismiss(page)


def test_backup_then_restore_after_naming_table_and_rows(
    page: Page, api: ApiClient, loaded: dict[str, Any]
) -> None:
    before = api.report("hires-by-quarter", YEAR)
    page.goto(page.url.split("#")[0] + "#backups")
    page.select_option("#backup-table", "all")
    page.select_option("#backup-format", "parquet")
    page.click("#backup-form button[type=submit]")
    page.wait_for_selector("#backup-result:has-text('written')")
    newest = api._call("GET", "/api/v1/backups")["backups"][0]
    rows = newest["tables"]["hired_employees"]["rows"]
    assert re.search(rf"hired_employees {rows:,} rows", page.inner_text("#backup-result"))
    restore = page.get_by_role(
        "button", name=f"Restore hired_employees from backup {newest['backup_id']}"
    )
    restore.click()
    question = page.inner_text("#restore-question")
    assert "hired_employees" in question
    assert f"{rows:,} rows" in question
    page.click("#restore-confirm")
    page.wait_for_selector(f"#backup-result:has-text('Restored hired_employees: {rows:,} rows')")
    assert api.report("hires-by-quarter", YEAR) == before


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
