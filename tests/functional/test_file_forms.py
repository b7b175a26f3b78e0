"""Real-world files on the local stack: compressed, re-encoded, other delimiters, a header line.

Each form of one generated ``hired_employees`` file goes in by a presigned POST (options as
fields), by a copy into raw/ (options as object metadata, as ``aws s3 cp --metadata`` sets them)
or by ``ingest upload`` (options as flags), and must load the same rows, reject the same rows for
the same reasons and leave the same rows in the warehouse. Files the pipeline does not read, and
objects copied where no table is, must show up as failed uploads with their reason.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import io
import json
import os
import re
import threading
from typing import TYPE_CHECKING, Any

import boto3
import duckdb
import pytest
import requests
import zstandard

from chalicelib import providers
from devstack.client import ApiClient, ApiError
from devstack.sample import write_samples
from ingest_cli.cli import main
from tests.functional.conftest import STACK_KEY
from tests.functional.test_cli import ingest
from tests.stacks import running_stack
from tests.workbooks import workbook

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from devstack.stack import LocalStack

BUCKET = "ingest-local"
HEADER = "id,name,datetime,department_id,job_id"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(
        tmp_path_factory.mktemp("stack"),
        key=STACK_KEY,
        workers=4,
        env={"INGEST_CHUNK_ROWS": "60"},
    ) as local:
        yield local


@pytest.fixture(scope="module")
def plain(stack: LocalStack, api: ApiClient, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The reference file (CRLF, quoted names with commas, some bad rows), with its tables."""
    samples = write_samples(tmp_path_factory.mktemp("samples"), hires=300, seed=11)
    for table in ("departments", "jobs"):
        assert api.wait(api.upload(table, samples.for_table(table)))["state"] == "loaded"
    return samples.hired_employees.read_bytes()


def _delimited(data: bytes, delimiter: str) -> bytes:
    rows = csv.reader(io.StringIO(data.decode(), newline=""))
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def _forms(data: bytes) -> dict[str, tuple[bytes, dict[str, str]]]:
    text = data.decode()
    return {
        "gzip": (gzip.compress(data[:999]) + gzip.compress(data[999:]), {}),
        "bzip2": (bz2.compress(data), {}),
        "zstd": (zstandard.ZstdCompressor().compress(data), {}),
        "cp1252": (text.encode("cp1252"), {"encoding": "cp1252"}),
        "utf-16": (text.encode("utf-16"), {"encoding": "utf-16"}),
        "semicolon": (_delimited(data, ";"), {"delimiter": ";"}),
        "tab": (_delimited(data, "\t"), {"delimiter": "\\t"}),
        "header": (f"{HEADER}\r\n".encode() + data, {}),
    }


def _post(api: ApiClient, name: str, blob: bytes, given: dict[str, str]) -> str:
    body = {"table": "hired_employees", "filename": name, "size": len(blob), **given}
    grant = api._call("POST", "/api/v1/uploads", json=body)
    reply = requests.post(grant["url"], data=grant["fields"], files={"file": blob}, timeout=30)
    assert reply.status_code < 300, reply.text
    return str(grant["upload_id"])


def _copy(stack: LocalStack, api: ApiClient, name: str, blob: bytes, given: dict[str, str]) -> str:
    key = f"raw/hired_employees/copied/{name}"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=blob, Metadata=given)
    stack.wait_idle()
    listed = api._call("GET", "/api/v1/uploads", params={"table": "hired_employees"})["uploads"]
    return str(next(u["upload_id"] for u in listed if u["filename"] == name))


def _cli(stack: LocalStack, folder: Path, name: str, blob: bytes, given: dict[str, str]) -> str:
    path = folder / name
    path.write_bytes(blob)
    flags = [f"--{option}={value}" for option, value in given.items()]
    done = ingest(stack, "upload", str(path), "-t", "hired_employees", "--json", *flags)
    assert done.code == 0, done.err
    return str(done.json()[0]["upload_id"])


def _rejects(status: dict[str, Any], shift: int = 0) -> list[dict[str, Any]]:
    """The rejects file, its row numbers (and those its reasons name) less ``shift``."""
    url = status["rejected_url"]
    lines = requests.get(url, timeout=30).text.splitlines() if url else []

    def shifted(reason: str) -> str:
        return re.sub(r"by row ([0-9]+)", lambda m: f"by row {int(m[1]) - shift}", reason)

    return [
        {**entry, "row": entry["row"] - shift, "errors": [shifted(e) for e in entry["errors"]]}
        for entry in map(json.loads, lines)
    ]


def _warehouse_rows(api: ApiClient, folder: Path) -> list[tuple[Any, ...]]:
    """The rows of hired_employees in the warehouse, from a backup of the table."""
    made = api._call("POST", "/api/v1/backups", json={"table": "hired_employees"})
    prefix = made["tables"]["hired_employees"]["location"].split(f"{BUCKET}/", 1)[1]
    s3 = boto3.client("s3")
    files = []
    for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        if item["Key"].endswith(".parquet"):
            target = folder / item["Key"].replace("/", "_")
            s3.download_file(BUCKET, item["Key"], str(target))
            files.append(str(target))
    found = duckdb.sql(f"SELECT * FROM read_parquet({files!r}) ORDER BY 1").fetchall()
    return [tuple(row) for row in found]


# Every form by every way in, spread so each form and each way is covered.
ROUTES = [
    ("gzip", "post"),
    ("gzip", "copy"),
    ("bzip2", "cli"),
    ("zstd", "copy"),
    ("cp1252", "post"),
    ("cp1252", "cli"),
    ("utf-16", "copy"),
    ("utf-16", "post"),
    ("semicolon", "cli"),
    ("semicolon", "copy"),
    ("tab", "post"),
    ("tab", "cli"),
    ("header", "copy"),
    ("header", "cli"),
]


def test_every_form_by_every_way_in_loads_the_same_rows(
    stack: LocalStack, api: ApiClient, plain: bytes, tmp_path: Path
) -> None:
    reference = api.wait(_post(api, "hired_employees.csv", plain, {}))
    assert reference["state"] == "loaded" and reference["header_skipped"] is False
    rejects = _rejects(reference)
    assert rejects, "the sample has bad rows"
    rows = _warehouse_rows(api, tmp_path)
    forms = _forms(plain)
    for n, (form, how) in enumerate(ROUTES):
        blob, given = forms[form]
        name = f"hires-{n}-{form}.csv"
        if how == "post":
            upload_id = _post(api, name, blob, given)
        elif how == "copy":
            upload_id = _copy(stack, api, name, blob, given)
        else:
            upload_id = _cli(stack, tmp_path, name, blob, given)
        status = api.wait(upload_id)
        where = f"{form} by {how}: {status}"
        assert status["state"] == "loaded", where
        counts = ("rows_total", "rows_valid", "rows_rejected")
        assert [status[c] for c in counts] == [reference[c] for c in counts], where
        assert status["header_skipped"] is (form == "header"), where
        assert status["compression"] == (form if form in ("gzip", "bzip2", "zstd") else None)
        if given.get("encoding"):
            assert status["options"]["encoding"] == given["encoding"], where
        assert _rejects(status, shift=1 if form == "header" else 0) == rejects, where
        assert _warehouse_rows(api, tmp_path) == rows, where


def test_a_workbook_and_a_key_outside_the_tables_fail_visibly_in_api_and_cli(
    stack: LocalStack, api: ApiClient, plain: bytes
) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key="raw/jobs/book.csv", Body=workbook())
    s3.put_object(Bucket=BUCKET, Key="raw/employees/hires.csv", Body=plain)
    s3.put_object(Bucket=BUCKET, Key="raw/jobs/", Body=b"")
    stack.wait_idle()
    listed = api._call("GET", "/api/v1/uploads")["uploads"]
    by_key = {u["filename"]: u for u in listed}
    book = api.status(by_key["book.csv"]["upload_id"])
    assert book["state"] == "failed"
    assert book["error"] == (
        "split: looks like an Excel workbook (xlsx); save it as CSV (comma, semicolon, tab or | "
        "separated) and send that"
    )
    stray = api.status(by_key["hires.csv"]["upload_id"])
    assert (stray["state"], stray["table"]) == ("failed", "employees")
    assert "known tables: departments, jobs, hired_employees" in stray["error"]
    folder = next(u for u in listed if u["filename"] is None and u["table"] == "jobs")
    assert "has no file name" in api.status(folder["upload_id"])["error"]
    with pytest.raises(ApiError) as refused:
        api._call("POST", f"/api/v1/uploads/{stray['upload_id']}/retry")
    assert refused.value.status == 409
    shown = ingest(stack, "uploads")
    assert shown.code == 0
    assert "employees" in shown.out and "hires.csv" in shown.out and "failed" in shown.out
    detail = ingest(stack, "status", stray["upload_id"])
    assert "does not exist; known tables: departments, jobs, hired_employees" in detail.out
    detail = ingest(stack, "status", book["upload_id"])
    assert "looks like an Excel workbook (xlsx)" in detail.out


@pytest.mark.parametrize(
    ("route", "body", "known"),
    [
        (
            "/api/v1/uploads",
            {"table": "jobs", "filename": "j.csv", "size": 9, "encodng": "cp1252"},
            "table, filename, size, header, encoding, delimiter",
        ),
        (
            "/api/v1/multipart-uploads",
            {"table": "jobs", "filename": "j.csv", "size": 9, "parts": 2},
            "table, filename, size, part_size, header, encoding, delimiter",
        ),
        ("/api/v1/tables/jobs/rows", {"rows": [[1, "a"]], "row": []}, "rows"),
        ("/api/v1/backups", {"table": "jobs", "fromat": "avro"}, "table, format"),
        ("/api/v1/restores", {"table": "jobs", "backupid": "x"}, "backup_id, table, s3_location"),
    ],
)
def test_unknown_fields_get_400_naming_the_known_ones(
    api: ApiClient, route: str, body: dict[str, Any], known: str
) -> None:
    with pytest.raises(ApiError) as refused:
        api._call("POST", route, json=body)
    assert refused.value.status == 400
    assert refused.value.body["error"]["message"].endswith(f"known fields: {known}")


@pytest.mark.parametrize(
    ("given", "allowed"),
    [
        ({"encoding": "ebcdic"}, "'utf-8', 'utf-16', 'cp1252', 'latin-1'"),
        ({"delimiter": ":"}, "',', ';', '\\t' (tab), '|'"),
        ({"header": "first"}, "'auto', 'yes', 'no'"),
    ],
)
def test_unknown_option_values_get_400_on_every_route(
    stack: LocalStack, api: ApiClient, given: dict[str, str], allowed: str
) -> None:
    base = {"table": "jobs", "filename": "j.csv", "size": 9}
    for route in ("/api/v1/uploads", "/api/v1/multipart-uploads"):
        with pytest.raises(ApiError) as refused:
            api._call("POST", route, json={**base, **given})
        assert refused.value.status == 400 and allowed in refused.value.body["error"]["message"]
    reply = requests.post(
        f"{stack.api_url}/api/v1/upload_jobs",
        headers={"x-api-key": STACK_KEY},
        files={"file": ("jobs.csv", b"1,a\n")},
        data=given,
        timeout=30,
    )
    assert reply.status_code == 400 and allowed in reply.json()["error"]["message"]


def test_seed_form_fields_carry_the_options(stack: LocalStack, api: ApiClient) -> None:
    reply = requests.post(
        f"{stack.api_url}/api/v1/upload_jobs",
        headers={"x-api-key": STACK_KEY},
        files={"file": ("jobs.csv", "Id;Job\r\n7;Caf\xe9, Bar\r\n".encode("cp1252"))},
        data={"encoding": "cp1252", "delimiter": ";"},
        timeout=30,
    )
    assert reply.status_code == 202, reply.text
    status = api.wait(reply.json()["upload_id"])
    assert (status["state"], status["rows_valid"], status["rows_rejected"]) == ("loaded", 1, 0)
    assert status["header_skipped"] is True
    assert status["options"] == {"header": "auto", "encoding": "cp1252", "delimiter": ";"}


ESC = "\x1b"
# Department names and rows that would drive a terminal if printed raw: a title change, a
# screen clear, a colour, a bidi override, and rich markup.
HOSTILE_DEPARTMENTS = (
    f"1,Sales{ESC}]0;owned\x07{ESC}[2J\n"
    f"2,{ESC}[31mRed\n"
    "3,Legal\u202e\n"
    "4,[bold]markup[/bold]\n"
    f"x{ESC}[5m,Blink\n"
)
# Names a warehouse may still hold from before text refused control characters (schema v1): the
# reports show what is stored, so they must keep it in data output and escape it on a terminal.
STORED_HOSTILE = {1: f"Sales{ESC}]0;owned\x07{ESC}[2J", 2: f"{ESC}[31mRed"}


def _store_hostile_departments() -> None:
    warehouse = providers.warehouse()
    for dept_id, name in STORED_HOSTILE.items():
        warehouse.execute('DELETE FROM "departments" WHERE "id" = ?', [dept_id])
        warehouse.execute('INSERT INTO "departments" VALUES (?, ?)', [dept_id, name])


def test_every_command_shows_file_content_as_visible_escapes(
    stack: LocalStack, api: ApiClient, plain: bytes, tmp_path: Path
) -> None:
    assert api.wait(_post(api, "hired_employees.csv", plain, {}))["state"] == "loaded"
    path = tmp_path / "departments.csv"
    path.write_bytes(HOSTILE_DEPARTMENTS.encode())
    sent = ingest(stack, "upload", str(path))
    assert sent.code == 0, sent.err
    _store_hostile_departments()
    listed = api._call("GET", "/api/v1/uploads", params={"table": "departments"})["uploads"]
    upload_id = listed[0]["upload_id"]
    s3 = boto3.client("s3")
    # Keys are user input too: a table name and a file name with escape sequences in them.
    s3.put_object(Bucket=BUCKET, Key=f"raw/{ESC}[31mred/x.csv", Body=b"1,a\n")
    s3.put_object(Bucket=BUCKET, Key=f"raw/jobs/{ESC}]0;t\x07.csv", Body=b"x,a\n")
    stack.wait_idle()
    runs = [
        sent,
        ingest(stack, "uploads"),
        ingest(stack, "uploads", "--json"),
        ingest(stack, "status", upload_id),
        ingest(stack, "rejected", upload_id),
        ingest(stack, "rejected", upload_id, "--json"),
        ingest(stack, "report", "departments-above-mean", "--year", "2021"),
        ingest(stack, "report", "hires-by-quarter", "--year", "2021"),
        ingest(stack, "report", "hires-by-quarter", "--year", "2021", "--json"),
    ]
    newest = api._call("GET", "/api/v1/uploads")["uploads"][:2]
    runs += [ingest(stack, "status", u["upload_id"]) for u in newest]
    runs += [ingest(stack, "rejected", u["upload_id"]) for u in newest if u["state"] == "loaded"]
    printed = "".join(run.out + run.err for run in runs)
    assert all(run.code == 0 for run in runs), [run.err for run in runs if run.code]
    for raw in (ESC, "\x07", "\u202e"):
        assert raw not in printed
    # Text holding a control character is refused, so the department is shown as rejected.
    assert "\\x1b[31mRed" in printed
    assert "\\x1b[31mred" in printed  # the stray key's table
    assert "\\x1b]0;t\\x07.csv" in printed  # the file name
    assert "\\u202e" in printed
    assert "[bold]markup[/bold]" in printed  # shown as the text it is
    assert "x\\x1b[5m" in printed  # the rejected row
    # CSV to a file or a pipe is data: the stored values, byte for byte.
    as_csv = ingest(stack, "report", "hires-by-quarter", "--year", "2021", "--csv")
    assert as_csv.code == 0, as_csv.err
    stored = {row["department"] for row in csv.DictReader(io.StringIO(as_csv.out))}
    hires = api._call("GET", "/api/v1/reports/hires-by-quarter", params={"year": 2021})
    assert stored == {row["department"] for row in hires["rows"]}
    assert f"Sales{ESC}]0;owned\x07{ESC}[2J" in stored


def _on_a_terminal(stack: LocalStack, *args: str) -> tuple[int, bytes]:
    """Run ``ingest ARGS`` in-process with stdout and stderr on a pseudo-terminal; return the
    exit code and every byte the terminal received (read as it comes, so no write blocks)."""
    main_fd, terminal_fd = os.openpty()
    received: list[bytes] = []

    def read() -> None:
        while True:
            try:
                piece = os.read(main_fd, 65536)
            except OSError:  # the terminal side closed
                return
            if not piece:
                return
            received.append(piece)

    reader = threading.Thread(target=read)
    reader.start()
    terminal = os.fdopen(terminal_fd, "w", encoding="utf-8")
    try:
        with contextlib.redirect_stdout(terminal), contextlib.redirect_stderr(terminal):
            code = main(["--api-url", stack.api_url, "--api-key", STACK_KEY, *args])
    finally:
        terminal.close()
        reader.join(timeout=10)
        os.close(main_fd)
    return code, b"".join(received)


def test_no_command_writes_a_files_escape_sequences_to_a_terminal(
    stack: LocalStack, api: ApiClient, plain: bytes, tmp_path: Path
) -> None:
    assert api.wait(_post(api, "hired_employees.csv", plain, {}))["state"] == "loaded"
    path = tmp_path / "departments.csv"
    path.write_bytes(HOSTILE_DEPARTMENTS.encode() + "5,日本\n".encode())
    assert ingest(stack, "upload", str(path)).code == 0
    _store_hostile_departments()
    chart = tmp_path / "above.png"
    runs = [
        ("report", "departments-above-mean", "--year", "2021", "--csv"),
        ("report", "hires-by-quarter", "--year", "2021", "--csv"),
        ("report", "hires-by-quarter", "--year", "2021", "--plot", str(chart)),
        ("report", "departments-above-mean", "--year", "2021", "--plot", str(chart)),
    ]
    for args in runs:
        code, received = _on_a_terminal(stack, *args)
        assert code == 0, received
        for raw in (b"\x1b]0;", b"\x07", b"\x1b[2J", b"\x1b[5m", "\u202e".encode()):
            assert raw not in received, (args, received)
        assert b"UserWarning" not in received and b"site-packages" not in received, received
        if args[1] == "hires-by-quarter" and "--csv" in args:
            assert b"Sales\\x1b]0;owned\\x07\\x1b[2J" in received, received
        elif "--plot" in args and args[1] == "hires-by-quarter":
            assert b"no glyph for" in received and b"U+65E5" in received, received
