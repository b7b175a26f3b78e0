"""Nothing is lost on restart: ``make serve``'s process killed with SIGKILL and started again on
the same DATA_DIR shows the same uploads, statuses, rejects files, backups, reports and dead
letters, and a new upload still loads. The emulator never outlives the stack that started it.

The stack runs as ``python -m devstack serve`` in a process of its own, so the kill is real.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests

from devstack import emulator
from devstack.client import ApiClient
from devstack.emulator import PID_FILE, ROOT_KEY
from devstack.sample import write_samples

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
KEY = "restart-test-key"
YEAR = 2021


class Served:
    """``python -m devstack serve`` on ``data_dir``: its process, API and S3 endpoint."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        env = {
            **os.environ,
            "DATA_DIR": str(data_dir),
            "API_PORT": "0",
            "S3_PORT": "0",
            "API_KEY": KEY,
            "LOCAL_WORKERS": "2",
            "INGEST_CHUNK_ROWS": "400",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("Ctrl-C"):
                break
        else:
            raise AssertionError(f"serve ended before it was up: {self.lines}")
        api = next(x for x in self.lines if x.startswith("API "))
        s3 = next(x for x in self.lines if x.startswith("S3 "))
        self.api = ApiClient(api.split()[1].removesuffix("/api/v1"), KEY, timeout=60)
        self.s3_url = s3.split()[1]

    def sqs(self) -> Any:
        return boto3.client(
            "sqs",
            endpoint_url=self.s3_url,
            region_name=emulator.REGION,
            aws_access_key_id=ROOT_KEY,
            aws_secret_access_key=ROOT_KEY,
        )

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no handler, no clean stop
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # Where it waits: the stack writes every thread's stack to its log on SIGUSR1.
                self.process.send_signal(signal.SIGUSR1)
                time.sleep(2)
                self.process.kill()
                log = (self.data_dir / "stack.log").read_text(encoding="utf-8", errors="replace")
                message = f"serve did not stop within 60 s of SIGTERM:\n{log[-8000:]}"
                raise AssertionError(message) from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; its parent (this test's session) has not reaped it.
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    return "State:\tZ" not in status


def _wait_gone(pgid: int, timeout: float = 30.0) -> bool:
    """Whether every process of the group (the emulator's server and its worker) has ended."""
    deadline = time.monotonic() + timeout
    while emulator.group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not emulator.group_members(pgid)


def _seen(api: ApiClient) -> dict[str, Any]:
    """Everything a user sees of the stack's data, signed URLs aside (their signatures change)."""
    uploads = api.call("list_uploads")["uploads"]
    statuses, rejects = {}, {}
    for upload in uploads:
        status = api.status(upload["upload_id"])
        url = status.pop("rejected_url", None)
        statuses[upload["upload_id"]] = status
        if url:
            reply = requests.get(url, timeout=30)
            rejects[upload["upload_id"]] = (reply.status_code, reply.content)
    return {
        "uploads": uploads,
        "statuses": statuses,
        "rejects": rejects,
        "backups": api.call("list_backups")["backups"],
        "reports": {
            name: api.report(name, YEAR) for name in ("hires-by-quarter", "departments-above-mean")
        },
        "dead_letters": api.dead_letters(),
    }


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    if not emulator.available():
        pytest.skip(emulator.INSTALL_HINT)
    yield tmp_path / "data"


def test_a_stack_killed_with_sigkill_comes_back_with_everything(
    data_dir: Path, tmp_path: Path
) -> None:
    samples = write_samples(tmp_path / "input", hires=1500)
    first = Served(data_dir)
    try:
        api = first.api
        for table in ("departments", "jobs", "hired_employees"):
            status = api.wait(api.upload(table, getattr(samples, table)))
            assert status["state"] == "loaded", status
        backup = api.call("create_backup", json={"table": "all"})
        # A message waiting in a dead-letter queue is the operator's to re-drive: it must
        # survive the restart too.
        sqs = first.sqs()
        dlq = sqs.get_queue_url(QueueName="ingest-local-load-dlq")["QueueUrl"]
        sqs.send_message(QueueUrl=dlq, MessageBody='{"Event": "s3:TestEvent"}')
        before = _seen(api)
        emulator_pid = int((data_dir / "emulator" / PID_FILE).read_text(encoding="utf-8"))
        assert len(emulator.group_members(emulator_pid)) >= 2  # the server and its worker
        first.kill()
    finally:
        first.stop()
    # The emulator is told to stop when its starter dies: nothing is left running.
    assert _wait_gone(emulator_pid)

    second = Served(data_dir)
    try:
        after = _seen(second.api)
        assert before["statuses"], "the first run loaded nothing to compare"
        assert all(s["state"] == "loaded" for s in before["statuses"].values())
        assert sum(1 for body in before["rejects"].values() if body[1]) >= 1
        assert {b["backup_id"] for b in before["backups"]} == {backup["backup_id"]}
        assert before["dead_letters"]["load"] == 1
        assert after == before
        # The backup's files came back too: restoring it gives its rows.
        restored = second.api.call(
            "create_restore", json={"backup_id": backup["backup_id"], "table": "jobs"}
        )
        assert restored["rows_restored"] == backup["tables"]["jobs"]["rows"]
        # And the stack still works: a new upload loads beside the old ones.
        extra = tmp_path / "more-jobs.csv"
        extra.write_text("9001,Restarted\n9002,Again\n")
        status = second.api.wait(second.api.upload("jobs", extra))
        assert (status["state"], status["rows_valid"]) == ("loaded", 2)
        listed = second.api.call("list_uploads")["uploads"]
        assert len(listed) == len(before["uploads"]) + 1
    finally:
        second.stop()
    assert second.process.returncode == 0
    # A clean stop leaves no emulator behind either.
    assert not (data_dir / "emulator" / PID_FILE).exists()


def test_a_second_stack_on_the_same_data_dir_is_refused(data_dir: Path) -> None:
    first = Served(data_dir)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "devstack", "serve"],
            cwd=ROOT,
            env={**os.environ, "DATA_DIR": str(data_dir), "API_PORT": "0", "S3_PORT": "0"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2
        assert f"another local stack is running with DATA_DIR={data_dir}" in second.stderr
        # The first is untouched.
        assert first.api.call("get_health")["status"] == "ok"
    finally:
        first.stop()


def test_an_emulator_left_running_on_the_data_dir_is_ended_by_the_next_start(
    data_dir: Path,
) -> None:
    """An emulator whose starter was killed before it could stop it (here: started by hand,
    with nobody to tell it to stop) is ended when a stack starts on its folder."""
    root = data_dir / "emulator"
    left = emulator.Emulator(root, keep_root=True, tls=False, persist=True)
    env = left._environment()
    command = [str(emulator.interpreter()), "-m", "hypercorn", "ministack.app:app"]
    command += ["--bind", f"127.0.0.1:{emulator.free_port()}"]
    root.mkdir(parents=True)
    orphan = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        (root / PID_FILE).write_text(str(orphan.pid), encoding="utf-8")
        assert _alive(orphan.pid)
        stack = Served(data_dir)
        try:
            assert orphan.wait(timeout=30) is not None
            assert stack.api.call("get_health")["status"] == "ok"
        finally:
            stack.stop()
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()
