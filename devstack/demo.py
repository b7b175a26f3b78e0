"""``make demo``: the local stack driven by the ``ingest`` client, as a user would drive it.

Generates sample files, starts the stack, then runs ``ingest`` commands in a subprocess
(printed as ``$ ingest ...`` with their own output) with no AWS settings in their environment:
the client reaches S3 only through presigned URLs. Exits non-zero if any step does not do what
it should. Works without a terminal: the client then prints plain progress lines.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Shell:
    """Runs ``ingest`` the way a user's shell would, in ``cwd``, against one API."""

    env: dict[str, str]
    cwd: Path

    @classmethod
    def for_api(cls, api_url: str, api_key: str, cwd: Path) -> Shell:
        # Nothing about AWS or the app leaks in: the client gets a URL and a key, no more.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INGEST_"))}
        path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        env.update(INGEST_API_URL=api_url, INGEST_API_KEY=api_key, PYTHONPATH=path)
        return cls(env, cwd)

    def _argv(self, args: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-m", "ingest_cli", *args]

    def run(self, *args: str) -> int:
        """Show the command, let it print to this terminal, return its exit code."""
        print(f"\n$ ingest {shlex.join(args)}", flush=True)
        done = subprocess.run(self._argv(args), env=self.env, cwd=self.cwd, check=False)
        return done.returncode

    def json(self, *args: str) -> Any:
        """The JSON a command prints (not shown).

        Raises:
            RuntimeError: the command failed.
        """
        done = subprocess.run(
            self._argv((*args, "--json")),
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ingest {shlex.join(args)} failed: {done.stderr.strip()}")
        return json.loads(done.stdout)


def session(shell: Shell, inputs: Path) -> list[str]:
    """The demo's commands; returns what went wrong (nothing, when all is well)."""
    problems: list[str] = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)
            print(f"!! {what}", flush=True)

    expect(shell.run("upload", inputs.name) == 0, "upload of the sample folder failed")
    uploads = shell.json("uploads")
    expect(
        {u["table"] for u in uploads if u["state"] == "loaded"}
        == {"departments", "jobs", "hired_employees"},
        "not every table loaded",
    )
    hires = next((u["upload_id"] for u in uploads if u["table"] == "hired_employees"), None)
    if hires is None:
        return [*problems, "no hired_employees upload"]
    expect(shell.run("status", hires) == 0, "status failed")
    expect(
        shell.run("rejected", hires, "--examples", "3", "-o", "rejected.jsonl") == 0,
        "ingest rejected failed",
    )
    for name, extra in (("hires-by-quarter", ("-n", "8")), ("departments-above-mean", ())):
        code = shell.run("report", name, "--year", "2021", *extra, "--plot", f"{name}.png")
        expect(code == 0 and (shell.cwd / f"{name}.png").stat().st_size > 0, f"{name} failed")
    before = shell.json("report", "hires-by-quarter", "--year", "2021")
    expect(shell.run("upload", f"{inputs.name}/hired_employees.csv") == 0, "re-upload failed")
    after = shell.json("report", "hires-by-quarter", "--year", "2021")
    expect(before == after, "sending the same file again changed the report")
    if before == after:
        print("\n(the report is the same after sending the file again: nothing was duplicated)")
    expect(shell.run("backup", "all") == 0, "backup failed")
    backups = shell.json("backups")
    if backups:
        expect(
            shell.run("restore", backups[0]["backup_id"], "--table", "hired_employees", "--yes")
            == 0,
            "restore failed",
        )
        restored = shell.json("report", "hires-by-quarter", "--year", "2021")
        expect(restored == before, "the restored table differs from the backed-up one")
    else:
        expect(False, "the backup is not in the catalog")
    expect(shell.run("--api-key", "not-the-key", "uploads") == 1, "a wrong key did not fail")
    return problems
