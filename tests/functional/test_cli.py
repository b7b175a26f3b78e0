"""The ``ingest`` client against the local stack, as a user runs it.

Commands run in-process through ``main(argv)`` with stdout and stderr captured (so not a
terminal: progress comes as plain lines); one test runs the installed ``ingest`` script with
no AWS settings at all, and one pretends stderr is a terminal to capture the progress bars.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from rich.console import Console

from chalicelib import providers
from chalicelib.api.multipart_uploads import CANCELLED
from ingest_cli.api import Api
from ingest_cli.cli import main
from ingest_cli.errors import (
    EXIT_FAILED,
    EXIT_NOTHING_LOADED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Interrupted,
)
from ingest_cli.progress import Feedback
from ingest_cli.transfer import send
from tests.functional.conftest import STACK_KEY

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from devstack.client import ApiClient
    from devstack.stack import LocalStack

UPLOAD_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}")
DEPARTMENTS = "1,Sales\n2,Engineering\n"
JOBS = "1,Dev\r\n2,Manager\r\n"
HIRES = (
    "1,Ann,2021-01-10T00:00:00Z,1,1\n"
    "2,Bob,2021-02-10T00:00:00Z,2,1\n"
    "3,Cy,2021-04-10T00:00:00Z,1,2\n"
    "4,Di,2021-07-10T00:00:00Z,2,2\n"
    "5,Ed,2021/07/10,1,1\n"
    "6,Fi,2021-10-10T00:00:00Z,1,\n"
    "7,Gu,2021-11-10T00:00:00Z,2\n"
    "8,Ha,2021-12-10T00:00:00Z,2,1\n"
    "2,Bob,2021-05-10T00:00:00Z,1,1\n"
    "x,Io,2021-03-01T00:00:00Z,1,1\n"
)
# Worked out by hand: rows 5, 6, 7 and 10 are invalid and row 2 is superseded by row 9 (id 2
# again), so ids 1, 3, 4, 8 and 2 (as row 9: Sales/Dev in Q2) are loaded.
REASONS = [
    {"reason": "id: duplicate id, superseded by row N", "rows": 1, "first_rows": [2]},
    {
        "reason": "datetime: … is not a UTC timestamp like 2021-07-27T16:02:08Z",
        "rows": 1,
        "first_rows": [5],
    },
    {"reason": "job_id: missing value", "rows": 1, "first_rows": [6]},
    {"reason": "record: expected 5 fields, got 4", "rows": 1, "first_rows": [7]},
    {"reason": "id: … is not an integer", "rows": 1, "first_rows": [10]},
]
BY_QUARTER = [
    {"department": "Engineering", "job": "Dev", "q1": 0, "q2": 0, "q3": 0, "q4": 1},
    {"department": "Engineering", "job": "Manager", "q1": 0, "q2": 0, "q3": 1, "q4": 0},
    {"department": "Sales", "job": "Dev", "q1": 1, "q2": 1, "q3": 0, "q4": 0},
    {"department": "Sales", "job": "Manager", "q1": 0, "q2": 1, "q3": 0, "q4": 0},
]
ABOVE_MEAN = {"year": 2021, "mean": 2.5, "rows": [{"id": 1, "department": "Sales", "hired": 3}]}
LONG = 1_000_000  # a record over 64 KiB is rejected unread: a cheap way to make a big file


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.err.splitlines()

    def json(self) -> Any:
        return json.loads(self.out)


def ingest(stack: LocalStack, *args: str, key: str | None = STACK_KEY) -> Result:
    """Run ``ingest --api-url <stack> [--api-key KEY] ARGS`` in-process."""
    argv = ["--api-url", stack.api_url, *(["--api-key", key] if key else []), *args]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("input")
    for name, text in [("departments", DEPARTMENTS), ("jobs", JOBS), ("hired_employees", HIRES)]:
        (folder / f"{name}.csv").write_bytes(text.encode())
    return folder


@pytest.fixture(scope="module")
def uploaded(stack: LocalStack, inputs: Path) -> Result:
    """``ingest upload <folder>``: the three files, followed until loaded."""
    return ingest(stack, "upload", str(inputs))


@pytest.fixture(scope="module")
def hires_id(uploaded: Result) -> str:
    ids = UPLOAD_ID.findall(uploaded.out)
    assert len(ids) == 3, uploaded
    return ids[-1]


def test_upload_of_a_folder_sends_tables_in_order_and_shows_progress_and_counts(
    uploaded: Result,
) -> None:
    assert uploaded.code == 0, uploaded.err
    lines = uploaded.lines
    # Progress goes to stderr as plain lines, since stderr is not a terminal here.
    started = [line.split(":")[0] for line in lines if "(one POST)" in line]
    assert started == ["departments.csv", "jobs.csv", "hired_employees.csv"]
    size = len(HIRES)
    assert f"hired_employees.csv: uploading {size} bytes" in lines
    assert any(
        re.fullmatch(rf"hired_employees\.csv: uploaded {size} bytes in [0-9.]+ s \(.+/s\)", line)
        for line in lines
    )
    # A phase is shown while the file is processed; its chunk count only once a poll saw the
    # split done before the load ended (polls follow a pipeline that may finish between two).
    progress = r"hired_employees\.csv: (queued|splitting|validating|loading)(, [0-3]/3 chunks)?"
    assert any(re.fullmatch(progress, line) for line in lines), lines
    assert any(
        re.fullmatch(
            r"hired_employees\.csv: loaded: 10 rows, 5 valid, 5 rejected \(3 chunks, [0-9.]+ s\)",
            line,
        )
        for line in lines
    )
    assert lines[-1].startswith("why rows of hired_employees.csv were rejected: ingest rejected ")
    # The results go to stdout: a table with one line per file, in upload order.
    rows = [line.split() for line in uploaded.out.splitlines()[2:]]
    assert [(r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows] == [
        ("departments", "departments.csv", "loaded", "2", "2", "0"),
        ("jobs", "jobs.csv", "loaded", "2", "2", "0"),
        ("hired_employees", "hired_employees.csv", "loaded", "10", "5", "5"),
    ]


def test_upload_json_prints_the_final_statuses(
    stack: LocalStack, inputs: Path, uploaded: Result
) -> None:
    result = ingest(stack, "upload", str(inputs / "jobs.csv"), "--json")
    assert result.code == 0, result.err
    (status,) = result.json()
    assert (status["table"], status["state"], status["rows_valid"]) == ("jobs", "loaded", 2)
    assert (status["chunks_total"], status["chunks_done"]) == (1, 1)


def test_upload_no_wait_prints_only_the_id_and_status_wait_follows_it(
    stack: LocalStack, inputs: Path, uploaded: Result
) -> None:
    result = ingest(stack, "upload", str(inputs / "departments.csv"), "--no-wait")
    assert result.code == 0, result.err
    uid = result.out.strip()
    assert UPLOAD_ID.fullmatch(uid)
    assert not any(": loaded:" in line for line in result.lines)  # it did not wait
    followed = ingest(stack, "status", uid, "--wait", "--json")
    assert followed.code == 0
    assert (followed.json()["state"], followed.json()["rows_valid"]) == ("loaded", 2)


def test_an_ordinary_file_name_goes_in_with_its_table_guessed_and_is_listed_as_given(
    stack: LocalStack, inputs: Path, uploaded: Result, tmp_path: Path
) -> None:
    path = tmp_path / "hired employees (1).csv"
    path.write_bytes(HIRES.encode())
    result = ingest(stack, "upload", str(path))
    assert result.code == 0, result.err
    assert any("hired employees (1).csv: upload " in line for line in result.lines)
    uid = UPLOAD_ID.findall(result.out)[0]
    # Ids sort by the second they were made in, so find this one rather than take the first.
    (newest,) = [u for u in ingest(stack, "uploads", "--json").json() if u["upload_id"] == uid]
    assert (newest["filename"], newest["table"], newest["state"]) == (
        "hired employees (1).csv",
        "hired_employees",
        "loaded",
    )


def test_a_semicolon_file_sent_with_the_defaults_warns_and_names_the_delimiter(
    stack: LocalStack, uploaded: Result, tmp_path: Path
) -> None:
    path = tmp_path / "departments.csv"
    path.write_text(DEPARTMENTS.replace(",", ";"))
    result = ingest(stack, "upload", str(path))
    assert result.code == EXIT_NOTHING_LOADED, result.err
    assert any(
        line.startswith("departments.csv: warning: every one of the file's 2 rows was rejected")
        for line in result.lines
    )
    assert any("option delimiter ';'" in line for line in result.lines)
    assert "departments.csv: upload the file again with --delimiter ';'" in result.lines
    uid = UPLOAD_ID.findall(result.out)[0]
    again = ingest(stack, "status", uid, "--wait")
    assert again.code == EXIT_NOTHING_LOADED
    assert "upload the file again with --delimiter ';'" in again.out
    fixed = ingest(stack, "upload", str(path), "--delimiter", ";")
    assert fixed.code == 0, fixed.err
    assert not any("warning" in line for line in fixed.lines)


def test_a_header_only_file_warns_of_no_data_rows(
    stack: LocalStack, uploaded: Result, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text("id,job\n")
    result = ingest(stack, "upload", str(path))
    assert result.code == EXIT_NOTHING_LOADED, result.err
    assert (
        "jobs.csv: warning: the file holds a header line and no data rows (blank lines are not "
        "rows): nothing was loaded"
    ) in result.lines


def test_an_empty_file_in_a_folder_is_named_and_the_others_still_go(
    stack: LocalStack, uploaded: Result, tmp_path: Path
) -> None:
    (tmp_path / "departments.csv").write_bytes(b"")
    (tmp_path / "jobs.csv").write_text(JOBS)
    result = ingest(stack, "upload", str(tmp_path))
    assert result.code == EXIT_NOTHING_LOADED, result.err
    assert (
        "departments.csv: skipped: the file is empty (0 bytes): there is nothing to upload"
        in result.lines
    )
    assert any(line.startswith("jobs.csv: loaded: 2 rows, 2 valid") for line in result.lines)
    assert "size must be" not in result.err


def test_status_shows_one_upload_readably_or_as_the_apis_json(
    stack: LocalStack, api: ApiClient, hires_id: str
) -> None:
    shown = ingest(stack, "status", hires_id)
    assert shown.code == 0
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in shown.out.splitlines())
    assert fields["state"] == "loaded"
    assert fields["rows"] == "10 in all, 5 valid, 5 rejected"
    assert fields["chunks"] == "3 of 3 done"
    assert fields["why"] == f"ingest rejected {hires_id}"
    as_json = ingest(stack, "status", hires_id, "--json").json()
    expected = api.status(hires_id)
    assert {k: v for k, v in as_json.items() if k != "rejected_url"} == {
        k: v for k, v in expected.items() if k != "rejected_url"
    }


def test_uploads_lists_newest_first_and_filters_by_table(
    stack: LocalStack, uploaded: Result
) -> None:
    listed = ingest(stack, "uploads", "--table", "departments", "--json").json()
    assert listed and {u["table"] for u in listed} == {"departments"}
    assert [u["upload_id"] for u in listed] == sorted(
        (u["upload_id"] for u in listed), reverse=True
    )
    table = ingest(stack, "uploads", "-n", "2")
    assert table.code == 0
    assert len(table.out.splitlines()) == 2 + 2  # header, rule, two uploads
    assert table.out.splitlines()[0].split()[:4] == ["created", "(UTC)", "upload", "table"]


def test_rejected_summarises_by_reason_and_saves_the_apis_report(
    stack: LocalStack, api: ApiClient, hires_id: str, tmp_path: Path
) -> None:
    saved = tmp_path / "rejected.jsonl"
    result = ingest(stack, "rejected", hires_id, "-o", str(saved), "--json")
    assert result.code == 0, result.err
    assert result.json() == {
        "upload_id": hires_id,
        "table": "hired_employees",
        "rows_rejected": 5,
        "reasons": sorted(REASONS, key=lambda r: r["first_rows"]),
        "saved_to": str(saved),
    }
    server = requests.get(str(api.status(hires_id)["rejected_url"]), timeout=10).text
    assert saved.read_text() == server
    assert not (tmp_path / "rejected.jsonl.part").exists()


def test_rejected_prints_a_table_of_reasons_and_the_first_rows(
    stack: LocalStack, hires_id: str
) -> None:
    result = ingest(stack, "rejected", hires_id, "--examples", "2")
    assert result.code == 0
    out = result.out
    assert out.startswith("5 rejected rows of hired_employees.csv (hired_employees, upload ")
    for reason in REASONS:
        assert re.search(
            rf"{re.escape(reason['reason'])}\s+1\s+20%\s+{reason['first_rows'][0]}", out
        )
    assert "First 2 rejected rows" in out
    assert "2,Bob,2021-02-10T00:00:00Z,2,1" in out and "x,Io" not in out


def test_rejected_of_a_clean_upload_says_so(stack: LocalStack, uploaded: Result) -> None:
    departments = UPLOAD_ID.findall(uploaded.out)[0]
    result = ingest(stack, "rejected", departments)
    assert (result.code, result.out.strip()) == (
        0,
        f"upload {departments} (departments): no rejected rows",
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hires-by-quarter", {"year": 2021, "rows": BY_QUARTER}),
        ("departments-above-mean", ABOVE_MEAN),
    ],
)
def test_report_json_and_csv_carry_the_apis_rows(
    stack: LocalStack, uploaded: Result, name: str, expected: dict[str, Any]
) -> None:
    as_json = ingest(stack, "report", name, "--year", "2021", "--json")
    assert (as_json.code, as_json.json()) == (0, expected)
    as_csv = ingest(stack, "report", name, "--year", "2021", "--csv")
    header, *rows = as_csv.out.splitlines()
    columns = header.split(",")
    assert rows == [",".join(str(row[c]) for c in columns) for row in expected["rows"]]


def test_report_tables_are_aligned_with_totals(stack: LocalStack, uploaded: Result) -> None:
    by_quarter = ingest(stack, "report", "hires-by-quarter", "--year", "2021")
    assert by_quarter.out.splitlines()[0] == "Hires by quarter, 2021"
    body = by_quarter.out.splitlines()[3:]
    assert [line.split() for line in body] == [
        ["Engineering", "Dev", "0", "0", "0", "1", "1"],
        ["Engineering", "Manager", "0", "0", "1", "0", "1"],
        ["Sales", "Dev", "1", "1", "0", "0", "2"],
        ["Sales", "Manager", "0", "1", "0", "0", "1"],
    ]
    assert len({len(line) for line in body}) == 1  # aligned columns
    above = ingest(stack, "report", "departments-above-mean", "--year", "2021")
    assert above.out.splitlines()[0] == "Departments that hired more than the mean (2.5) in 2021"
    assert above.out.splitlines()[3].split() == ["1", "Sales", "3", "+20%"]
    limited = ingest(stack, "report", "hires-by-quarter", "--year", "2021", "-n", "1")
    assert limited.out.splitlines()[-1] == "1 of 4 rows; --csv for all"


@pytest.mark.parametrize("name", ["hires-by-quarter", "departments-above-mean"])
def test_report_plot_writes_a_png_chart(
    stack: LocalStack, uploaded: Result, tmp_path: Path, name: str
) -> None:
    chart = tmp_path / "charts" / f"{name}.png"
    result = ingest(stack, "report", name, "--year", "2021", "--plot", str(chart))
    assert result.code == 0, result.err
    assert result.lines == [f"chart written to {chart}"]
    data = chart.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000


def test_report_plot_of_an_empty_year_still_draws_a_chart(
    stack: LocalStack, uploaded: Result, tmp_path: Path
) -> None:
    chart = tmp_path / "empty.png"
    result = ingest(stack, "report", "hires-by-quarter", "--year", "1999", "--plot", str(chart))
    assert result.code == 0 and chart.read_bytes().startswith(b"\x89PNG")


NO_SUCH_UPLOAD = "20200101T000000Z-000000000000"
WRONG_KEY = (
    "wrong API key (HTTP 403 from GET /api/v1/uploads); pass --api-key or set INGEST_API_KEY"
)
ERRORS = [
    (["uploads"], "wrong-key", EXIT_FAILED, WRONG_KEY),
    (["uploads"], None, EXIT_FAILED, "missing x-api-key header (HTTP 401"),
    (["status", NO_SUCH_UPLOAD], STACK_KEY, EXIT_FAILED, f"no upload with id '{NO_SUCH_UPLOAD}'"),
    (["status", "../../reports"], STACK_KEY, EXIT_FAILED, "malformed upload id"),
    (["report", "hires-by-quarter", "--year", "20"], STACK_KEY, EXIT_FAILED, "year must be"),
    (["uploads", "--table", "payroll"], STACK_KEY, EXIT_FAILED, "unknown table 'payroll'"),
    (["report", "hires-by-quarter", "--year", "2021", "--csv", "--json"], STACK_KEY, EXIT_USAGE,
     "choose one of --csv and --json"),
    (["report", "payroll", "--year", "2021"], STACK_KEY, EXIT_USAGE, "Invalid value for 'REPORT'"),
    (["upload", "/no/such/file.csv"], STACK_KEY, EXIT_USAGE, "does not exist"),
    (["restore", "b1", "--table", "jobs"], STACK_KEY, EXIT_USAGE, "pass --yes to confirm"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "key", "code", "fragment"), ERRORS)
def test_errors_are_one_line_on_stderr_with_an_exit_code(
    stack: LocalStack,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    key: str | None,
    code: int,
    fragment: str,
) -> None:
    # The stack set INGEST_API_KEY for the app in this process; a user without one has none.
    monkeypatch.delenv("INGEST_API_KEY", raising=False)
    result = ingest(stack, *args, key=key)
    assert result.code == code
    assert result.out == ""
    assert fragment in result.err
    assert "Traceback" not in result.err
    if code != EXIT_USAGE:  # click adds a usage line to its own errors
        assert len(result.lines) == 1 and result.lines[0].startswith("error: ")


def test_an_unreachable_api_is_exit_code_3_with_a_hint(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--api-url", "http://127.0.0.1:9", "--api-key", "k", "uploads"])
    assert code == EXIT_UNREACHABLE
    assert err.getvalue().splitlines() == [
        "error: cannot reach the API at http://127.0.0.1:9: Connection refused; "
        "is the stack running (make serve)? check --api-url or INGEST_API_URL"
    ]


def test_rejected_before_the_upload_is_loaded_explains_why(
    stack: LocalStack, api: ApiClient
) -> None:
    grant = api._call(
        "POST", "/api/v1/uploads", json={"table": "jobs", "filename": "j.csv", "size": 5}
    )
    result = ingest(stack, "rejected", grant["upload_id"])
    assert result.code == EXIT_FAILED
    assert result.lines == [
        f"error: upload {grant['upload_id']} is waiting; its rejects file is written "
        f"when it is loaded; wait for it: ingest status {grant['upload_id']} --wait"
    ]


def test_multipart_upload_through_the_client(
    stack: LocalStack, uploaded: Result, tmp_path: Path
) -> None:
    lines, n, valid = [], 0, 0
    while sum(map(len, lines)) < 5 * 1024**2 + 100_000:
        n += 1
        valid += n % 3 == 0
        lines.append(f"{n + 100},Job {n}\n" if n % 3 == 0 else f"{n + 100},{'x' * LONG}\n")
    big = tmp_path / "big_jobs.csv"
    big.write_text("".join(lines))
    result = ingest(
        stack, "upload", str(big), "--table", "jobs", "--multipart", "--part-size", "5", "--json"
    )
    assert result.code == 0, result.err
    assert "(2 parts)" in result.lines[0]
    (status,) = result.json()
    assert (status["state"], status["rows_total"], status["rows_valid"]) == ("loaded", n, valid)


class Interrupting(Feedback):
    """Feedback whose transfer is interrupted, as by Ctrl-C, when the first bytes go out."""

    def __init__(self) -> None:
        self.text = io.StringIO()
        super().__init__(Console(file=self.text))

    @contextmanager
    def transfer(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        def advance(n: int) -> None:
            raise KeyboardInterrupt

        yield advance


@pytest.mark.parametrize("multipart", [False, True])
def test_ctrl_c_while_sending_cancels_the_upload_on_the_server(
    stack: LocalStack, tmp_path: Path, multipart: bool
) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text(JOBS)
    api = Api(stack.api_url, STACK_KEY)
    feedback = Interrupting()
    with pytest.raises(Interrupted) as raised:
        send(api, path, "jobs", feedback, multipart=multipart, workers=1)
    assert raised.value.message == "interrupted while sending jobs.csv; the upload was cancelled"
    (uid,) = UPLOAD_ID.findall(feedback.text.getvalue())
    status = api.status(uid)
    assert (status["state"], status["error"]) == ("failed", CANCELLED)
    pending = boto3.client("s3").list_multipart_uploads(Bucket="ingest-local").get("Uploads", [])
    assert not [u for u in pending if uid in u["Key"]]


def test_progress_bars_are_drawn_when_stderr_is_a_terminal(
    stack: LocalStack, inputs: Path, uploaded: Result, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat the captured stream as a terminal
    result = ingest(stack, "upload", str(inputs / "jobs.csv"))
    assert result.code == 0
    assert "━" in result.err  # the bars
    assert f"{len(JOBS)}/{len(JOBS)} bytes" in result.err
    assert "1/1" in result.err and "chunks" in result.err


def test_the_installed_script_needs_no_aws_settings(stack: LocalStack, inputs: Path) -> None:
    script = Path(sys.executable).with_name("ingest")
    assert script.exists(), "run make setup: it installs the ingest command"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INGEST_"))}
    env.update(INGEST_API_URL=stack.api_url, INGEST_API_KEY=STACK_KEY)
    done = subprocess.run(
        [str(script), "upload", str(inputs / "departments.csv"), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["state"] == "loaded"
    wrong = subprocess.run(
        [str(script), "--api-key", "nope", "uploads"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert wrong.returncode == 1
    assert wrong.stderr.count("\n") == 1 and "wrong API key" in wrong.stderr


def test_backup_and_restore_round_trip_through_the_real_routes(
    stack: LocalStack, uploaded: Result, api: ApiClient
) -> None:
    before = api.report("hires-by-quarter", 2021)
    made = ingest(stack, "backup", "all", "--json")
    assert made.code == 0, made
    backup = made.json()
    assert stack.app_module is not None
    warehouse = providers.warehouse()
    counts = {t: warehouse.execute(f'SELECT COUNT(*) FROM "{t}"')[0][0] for t in backup["tables"]}
    assert {t: backup["tables"][t]["rows"] for t in backup["tables"]} == counts
    assert set(counts) == {"departments", "jobs", "hired_employees"}
    listed = ingest(stack, "backups", "--json")
    assert listed.json()[0]["backup_id"] == backup["backup_id"]
    # Change the table behind the backup's back, then put it back from the backup.
    assert ingest(stack, "upload", str(_write_jobs(stack, "1,Renamed\n"))).code == 0
    assert api.report("hires-by-quarter", 2021) != before
    restored = ingest(stack, "restore", backup["backup_id"], "--table", "jobs", "--yes", "--json")
    assert (restored.code, restored.json()["rows_restored"]) == (0, counts["jobs"])
    assert api.report("hires-by-quarter", 2021) == before


def _write_jobs(stack: LocalStack, text: str) -> Path:
    path = Path(stack.settings.data_dir) / "jobs.csv"
    path.write_text(text, encoding="utf-8")
    return path
