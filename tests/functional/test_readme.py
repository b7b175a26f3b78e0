"""The README's shell examples, run as a user would paste them, against the local stack.

Every ```sh block that talks to the API (``$API``, ``ingest``) is cut into commands and run with
bash in a folder holding generated sample files, with the local stack's URL and key in place of
the documented defaults and real ids in place of ``<upload_id>`` and ``<backup_id>``. curl is
wrapped so every HTTP status it receives is recorded; a command that fails, or a reply that is
not what the README says it is, fails the test. So the examples cannot drift from the API.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devstack.sample import write_samples
from tests.functional.conftest import STACK_KEY

if TYPE_CHECKING:
    from devstack.client import ApiClient
    from devstack.stack import LocalStack

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)
# The one documented reply that is not a success: re-driving an upload that is already loaded.
_EXPECTED_REFUSALS = {"/retry": {202, 409}}


def _commands(block: str) -> list[str]:
    """The block's commands, as bash would read them: continuation lines and quoted line breaks
    joined, comments and blank lines left out."""
    commands, pending = [], ""
    for line in re.sub(r"\\\n\s*", " ", block).splitlines():
        text = line
        if not pending:
            text = "" if line.lstrip().startswith("#") else line.split("  # ")[0]
        pending = f"{pending}\n{text}" if pending else text
        try:
            shlex.split(pending)
        except ValueError:  # a quote is still open: the command goes on
            continue
        if pending.strip():
            commands.append(pending.strip())
        pending = ""
    return commands


def _api_blocks() -> list[list[str]]:
    blocks = [_commands(b) for b in _BLOCK.findall(README.read_text(encoding="utf-8"))]
    return [b for b in blocks if any("$API" in c or "ingest " in c for c in b)]


def test_readme_has_api_examples() -> None:
    # If the README's examples were reworded away, the test below would check nothing.
    blocks = _api_blocks()
    assert len(blocks) >= 3
    assert sum(len(b) for b in blocks) >= 15


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    samples = write_samples(tmp_path / "data", hires=300)
    for path in (samples.departments, samples.jobs, samples.hired_employees):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    # The README's European spreadsheet export: Windows-1252, separated by semicolons.
    (tmp_path / "export.csv").write_bytes(
        "1;Jos\u00e9's team\r\n2;Caf\u00e9, bar\r\n".encode("cp1252")
    )
    _aws_cli_stand_in(tmp_path / "bin")
    return tmp_path


# The AWS CLI is not a dependency of the project: a stand-in, named as one, runs the one command
# the README shows (``aws s3 cp FILE s3://BUCKET/PREFIX/ [--metadata k=v,...]``) with boto3
# against AWS_ENDPOINT_URL, and refuses anything else, so a README example it cannot run fails.
_AWS_STAND_IN = """#!{python}
import sys, os, boto3
args = sys.argv[1:]
meta = {{}}
if "--metadata" in args:
    i = args.index("--metadata")
    meta = dict(pair.split("=", 1) for pair in args[i + 1].split(","))
    del args[i : i + 2]
if args[:2] != ["s3", "cp"] or len(args) != 4 or not args[3].startswith("s3://"):
    sys.exit(f"aws stand-in: only 's3 cp FILE s3://bucket/prefix/' is supported, got {{args}}")
source, target = args[2], args[3][len("s3://"):]
bucket, _, key = target.partition("/")
if key.endswith("/") or not key:
    key += os.path.basename(source)
client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
with open(source, "rb") as body:
    client.put_object(Bucket=bucket, Key=key, Body=body, Metadata=meta)
print(f"upload: {{source}} to s3://{{bucket}}/{{key}}")
"""


def _aws_cli_stand_in(folder: Path) -> None:
    folder.mkdir()
    script = folder / "aws"
    script.write_text(_AWS_STAND_IN.format(python=sys.executable))
    script.chmod(0o755)


def _localise(command: str, stack: LocalStack) -> str:
    return (
        command.replace("http://127.0.0.1:8000", stack.api_url)
        .replace("http://127.0.0.1:5000", stack.s3_url)
        .replace("local-only-api-key", STACK_KEY)
    )


def _fill_ids(command: str, api: ApiClient) -> str:
    if "<upload_id>" in command:
        uploads = api._call("GET", "/api/v1/uploads")["uploads"]
        hires = [u for u in uploads if u["table"] == "hired_employees"] or uploads
        command = command.replace("<upload_id>", hires[0]["upload_id"] if hires else "none")
    if "<backup_id>" in command:
        backups = api._call("GET", "/api/v1/backups")["backups"]
        parquet = [b for b in backups if b["format"] == "parquet"]
        command = command.replace("<backup_id>", parquet[0]["backup_id"] if parquet else "none")
    return command


def _run_block(
    commands: list[str], stack: LocalStack, api: ApiClient, cwd: Path, assignments: list[str]
) -> list[str]:
    """Run ``commands`` in turn (``assignments`` so far carried over); return what went wrong."""
    problems: list[str] = []
    codes = cwd / "codes.txt"
    env = {
        **os.environ,
        "PATH": f"{cwd / 'bin'}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "INGEST_API_URL": stack.api_url,
        "INGEST_API_KEY": STACK_KEY,
        "CODES": str(codes),
    }
    # curl as written, plus each reply's status on stderr, which goes to $CODES.
    wrapper = 'curl() { command curl -w \'%{stderr}%{http_code}\\n\' "$@" 2>>"$CODES"; }'
    for raw in commands:
        command = _fill_ids(_localise(raw, stack), api)
        words = shlex.split(command.replace(";", " "))
        if all(w == "export" or re.match(r"[A-Za-z_]+=", w) for w in words):
            assignments.append(command)
            continue
        codes.write_text("")
        script = "\n".join(["set -e", *assignments, wrapper, command])
        done = subprocess.run(
            ["bash", "-c", script],
            check=False,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            problems.append(f"{raw!r} exited {done.returncode}: {done.stderr[-400:]}")
            continue
        for code in codes.read_text().split():
            allowed = next((ok for part, ok in _EXPECTED_REFUSALS.items() if part in command), None)
            if not (200 <= int(code) < 300 or (allowed is not None and int(code) in allowed)):
                problems.append(f"{raw!r} got HTTP {code}")
    return problems


def test_readme_examples_run_against_the_local_stack(
    stack: LocalStack, api: ApiClient, workdir: Path
) -> None:
    problems: list[str] = []
    assignments: list[str] = []  # a block may use the variables an earlier one set, as in a shell
    ran = 0
    for block in _api_blocks():
        problems += _run_block(block, stack, api, workdir, assignments)
        ran += len(block)
    assert problems == []
    assert ran >= 15
    # What the examples did is visible through the API: uploads loaded, a backup restorable.
    uploads = api._call("GET", "/api/v1/uploads")["uploads"]
    assert {u["table"] for u in uploads if u["state"] == "loaded"} == {
        "departments",
        "jobs",
        "hired_employees",
    }
    assert any(b["format"] == "avro" for b in api._call("GET", "/api/v1/backups")["backups"])
