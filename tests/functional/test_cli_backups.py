"""``ingest backup``, ``backups`` and ``restore`` against the backup routes' contract.

The routes are built on another branch, so these tests run the client against a small fake of
that contract (a stdlib HTTP server on 127.0.0.1) and check what it sends as well as what it
prints. To run them against the real stack, swap the ``backup_api`` fixture for one that yields
``stack.api_url`` and the stack's key.
"""

from __future__ import annotations

import io
import json
import threading
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from ingest_cli.cli import main
from ingest_cli.errors import EXIT_FAILED

if TYPE_CHECKING:
    from collections.abc import Iterator

KEY = "backup-test-key"
TABLES = ("departments", "jobs", "hired_employees")
OLDER = {
    "backup_id": "20261125T101500Z-aaaaaaaaaaaa",
    "created_at": "2026-11-25T10:15:00Z",
    "tables": {"jobs": {"location": "s3://ingest-local/backups/x/jobs/", "rows": 12, "files": 1}},
}


@dataclass
class BackupContract:
    """The fake's state: backups made so far (newest first) and every request it got."""

    backups: list[dict[str, Any]] = field(default_factory=lambda: [OLDER])
    requests: list[tuple[str, str, dict[str, Any] | None, str | None]] = field(default_factory=list)

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if (method, path) == ("POST", "/api/v1/backups"):
            table = body.get("table")
            if table != "all" and table not in TABLES:
                return 400, _error("invalid_request", f"unknown table {table!r}")
            n = len(self.backups) + 1
            backup = {
                "backup_id": f"20261126T12000{n}Z-bbbbbbbbbbb{n}",
                "created_at": f"2026-11-26T12:00:0{n}Z",
                "tables": {
                    t: {
                        "location": f"s3://ingest-local/backups/{n}/{t}/",
                        "rows": 10 * (i + 1),
                        "files": 1,
                    }
                    for i, t in enumerate(TABLES)
                    if table in ("all", t)
                },
            }
            self.backups.insert(0, backup)
            return 201, backup
        if (method, path) == ("GET", "/api/v1/backups"):
            return 200, {"backups": self.backups}
        if (method, path) == ("POST", "/api/v1/restores"):
            found = [b for b in self.backups if b["backup_id"] == body.get("backup_id")]
            if not found or body.get("table") not in found[0]["tables"]:
                return 404, _error(
                    "not_found", f"no backup {body.get('backup_id')!r} of that table"
                )
            rows = found[0]["tables"][body["table"]]["rows"]
            return 200, {"table": body["table"], "rows_restored": rows}
        return 404, _error("not_found", "no such route")


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


@pytest.fixture
def backup_api() -> Iterator[tuple[str, BackupContract]]:
    contract = BackupContract()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            key = self.headers.get("x-api-key")
            contract.requests.append((method, self.path, body, key))
            status, reply = (
                (403, _error("forbidden", "wrong API key"))
                if key != KEY
                else contract.handle(method, self.path, body)
            )
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            self._reply("POST")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", contract
    finally:
        server.shutdown()
        server.server_close()


def ingest(url: str, *args: str, key: str = KEY) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--api-url", url, "--api-key", key, *args])
    return code, out.getvalue(), err.getvalue()


def test_backup_all_posts_the_contract_body_and_shows_each_table(
    backup_api: tuple[str, BackupContract],
) -> None:
    url, contract = backup_api
    code, out, _ = ingest(url, "backup", "all")
    assert code == 0
    assert contract.requests == [("POST", "/api/v1/backups", {"table": "all"}, KEY)]
    made = contract.backups[0]
    lines = out.splitlines()
    assert lines[0] == f"Backup {made['backup_id']} ({made['created_at']})"
    assert [line.split() for line in lines[3:]] == [
        ["departments", "10", "1", made["tables"]["departments"]["location"]],
        ["hired_employees", "30", "1", made["tables"]["hired_employees"]["location"]],
        ["jobs", "20", "1", made["tables"]["jobs"]["location"]],
    ]


def test_backup_json_prints_the_reply_as_it_came(backup_api: tuple[str, BackupContract]) -> None:
    url, contract = backup_api
    code, out, _ = ingest(url, "backup", "jobs", "--json")
    assert code == 0
    assert json.loads(out) == contract.backups[0]
    assert list(json.loads(out)["tables"]) == ["jobs"]


def test_backups_lists_the_catalog_newest_first(backup_api: tuple[str, BackupContract]) -> None:
    url, contract = backup_api
    ingest(url, "backup", "departments")
    code, out, _ = ingest(url, "backups")
    assert code == 0
    rows = [line.split() for line in out.splitlines()[3:]]
    assert [r[0] for r in rows] == [contract.backups[0]["backup_id"], OLDER["backup_id"]]
    assert rows[1][2:] == ["jobs", "12", "1"]
    code, out, _ = ingest(url, "backups", "--json")
    assert json.loads(out) == contract.backups


def test_restore_posts_backup_and_table_and_reports_the_rows(
    backup_api: tuple[str, BackupContract],
) -> None:
    url, contract = backup_api
    code, out, _ = ingest(url, "restore", OLDER["backup_id"], "--table", "jobs", "--yes")
    assert (code, out.strip()) == (
        0,
        f"restored 12 rows into jobs from backup {OLDER['backup_id']}",
    )
    assert contract.requests[-1] == (
        "POST",
        "/api/v1/restores",
        {"backup_id": OLDER["backup_id"], "table": "jobs"},
        KEY,
    )
    code, out, _ = ingest(url, "restore", OLDER["backup_id"], "-t", "jobs", "-y", "--json")
    assert json.loads(out) == {"table": "jobs", "rows_restored": 12}


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (["restore", "nope", "-t", "jobs", "-y"], KEY, "no backup 'nope' of that table (HTTP 404"),
        (["backup", "payroll"], KEY, "unknown table 'payroll' (HTTP 400 from POST /api/v1/"),
        (["backups"], "wrong", "wrong API key (HTTP 403 from GET /api/v1/backups)"),
    ],
)  # fmt: skip
def test_backup_errors_are_one_line_and_exit_1(
    backup_api: tuple[str, BackupContract], args: list[str], key: str, message: str
) -> None:
    url, _ = backup_api
    code, out, err = ingest(url, *args, key=key)
    assert (code, out) == (EXIT_FAILED, "")
    assert len(err.splitlines()) == 1 and message in err
