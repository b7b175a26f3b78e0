"""The emulator's bookkeeping in its folder: the port its kept queues were made on, the pid file
an orphan is found by, and the wiring state dropped at each start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from devstack import wiring
from devstack.emulator import _LAUNCH, PID_FILE, PORT_FILE, Emulator, EmulatorError, end_orphan

if TYPE_CHECKING:
    from pathlib import Path


def test_a_persistent_emulator_keeps_the_port_its_queues_were_made_on(tmp_path: Path) -> None:
    (tmp_path / PORT_FILE).write_text("5123")
    assert Emulator(tmp_path, persist=True)._port() == 5123
    assert Emulator(tmp_path, port=5123, persist=True)._port() == 5123
    with pytest.raises(EmulatorError, match="made on port 5123"):
        Emulator(tmp_path, port=5000, persist=True)._port()
    # Without persistence nothing is kept, so any port will do.
    assert Emulator(tmp_path, port=5000)._port() == 5000
    assert Emulator(tmp_path)._port() not in (0, 5123)


def test_a_pid_file_naming_another_process_ends_nothing(tmp_path: Path) -> None:
    """A stale pid may have been reused by anything: only a process whose environment names
    this folder as the emulator's is ended."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / PID_FILE).write_text(str(other.pid))
        assert not end_orphan(tmp_path)
        assert other.poll() is None
        assert not (tmp_path / PID_FILE).exists()
    finally:
        other.kill()
        other.wait()


def test_a_process_whose_environment_names_the_folder_is_ended_with_its_group(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "S3_DATA_DIR": str(tmp_path.resolve() / "s3")}
    left = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], env=env, start_new_session=True
    )
    try:
        (tmp_path / PID_FILE).write_text(str(left.pid))
        assert end_orphan(tmp_path)
        assert left.wait(timeout=10) != 0
    finally:
        if left.poll() is None:
            left.kill()
            left.wait()


def test_only_the_bucket_and_the_queues_are_kept_between_starts(tmp_path: Path) -> None:
    for name in ("s3.json", "sqs.json", "lambda.json", "iam.json", "cloudwatch_logs.json"):
        (tmp_path / name).write_text("{}")
    wiring.prune_state(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s3.json", "sqs.json"]


# A stand-in for the server's entry point: its stop handler takes a lock that is not reentrant
# and holds it a while, as setting the server's multiprocessing Event does.
_SERVER = """
import signal, threading, time
lock, stopping = threading.Lock(), []
def main(argv):
    def shutdown(*_):
        with lock:
            time.sleep(0.5)
            stopping.append(1)
    signal.signal(signal.SIGTERM, shutdown)
    print("ready", flush=True)
    while not stopping:
        time.sleep(0.01)
    return 0
"""


def test_a_second_stop_signal_during_the_first_does_not_deadlock_the_server(
    tmp_path: Path,
) -> None:
    package = tmp_path / "hypercorn"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "__main__.py").write_text(_SERVER, encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, str(os.getpid()), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        server.send_signal(signal.SIGTERM)
        time.sleep(0.1)  # inside the first handler, holding its lock
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
