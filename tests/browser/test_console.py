"""The console's main flows in headless Chromium against the local stack.

Files go up through the page (a drop event, presigned POSTs, multipart parts) and reach
``loaded``; what the page shows is compared with the API's own replies and with ``ingest
rejected``'s summary; a backup is made and restored after a confirmation.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from devstack.settings import LOCAL_BUCKET
from tests.browser.conftest import EVIL, STACK_KEY, table_rows, wait_for_phases

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Page

    from devstack.client import ApiClient
    from devstack.stack import LocalStack

YEAR = 2021


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
