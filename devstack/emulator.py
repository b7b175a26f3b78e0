"""The AWS emulator (ministack) in a process of its own, bound to 127.0.0.1, with IAM enforced.

Owns starting and stopping it: the interpreter of its own virtual environment (its pinned
botocore differs from the project's; ``make emulator`` builds it from requirements-emulator.txt),
``AUTH=true`` (every request is checked against IAM policies and bucket grants, so an unsigned
request is anonymous and refused), every file it writes under one folder, and never outliving
the process that started it. Two uses: the deployed stack (HTTPS with a certificate of its own,
as its bucket and queue policies refuse plain HTTP; the folder removed at ``stop()``) and the
local stack (plain HTTP, so a browser page can post to the bucket; ``persist``: objects written
to disk as they arrive, the other services' state at each stop). What runs in it is
``deployed.py``'s or ``wiring.py``'s business.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
VENV = ROOT / ".venv-ministack"
# The account and region the emulator plays; the deployer's key is the account's root.
ACCOUNT = "123456789012"
REGION = "us-east-1"
ROOT_KEY = "emulator-root"  # the emulator's own root key: it opens nothing outside it
INSTALL_HINT = "the emulator's environment is missing: run `make emulator` (or `make test`)"
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 2.0
# A persistent emulator writes its services' state as it stops: time enough for that.
SAVE_GRACE_S = 20.0
PID_FILE = "emulator.pid"
# A persistent emulator's port: its queue URLs name it (``http://localhost:<port>/<account>/
# <queue>``), and a queue restored under another port's URL is not the one a client reaches.
PORT_FILE = "emulator.port"
# The emulator's line for each new execution environment of a function.
_SPAWNED = re.compile(r"Lambda worker spawned for (\S+) \(")
# The emulator's interpreter runs this, then serves: on Linux the kernel sends it SIGTERM when
# the process that started it dies, even by SIGKILL (prctl PR_SET_PDEATHSIG), and it stops,
# saving its state, instead of running on as an orphan. The guard (s3guard.py) is found on the
# path given; the server's worker process inherits that path.
# The server's stop handler sets a multiprocessing Event, whose lock is not reentrant: a second
# signal arriving while the first handler holds it (the death signal and stop()'s SIGTERM, or
# Ctrl-C then SIGTERM) deadlocked the server, found hung with four nested handlers. So the first
# stop signal runs the handler and later ones are dropped; a stop that still hangs is killed.
_LAUNCH = """
import ctypes, os, signal, sys
if sys.platform == "linux":
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))
    if os.getppid() != int(sys.argv[1]):
        sys.exit(0)
_install, _fired = signal.signal, []
def _once(handler):
    def guarded(signum, frame):
        if not _fired:
            _fired.append(signum)
            handler(signum, frame)
    return guarded
signal.signal = lambda sig, handler: _install(sig, _once(handler) if callable(handler) else handler)
sys.path.insert(0, sys.argv[2])
from hypercorn.__main__ import main
sys.exit(main(sys.argv[3:]))
"""
GUARD = "s3guard:app"


class EmulatorError(RuntimeError):
    """The emulator could not be found or started."""


def interpreter() -> Path:
    """The Python of the emulator's own environment (EMULATOR_PYTHON overrides)."""
    return Path(os.environ.get("EMULATOR_PYTHON") or VENV / "bin" / "python")


def available() -> bool:
    return interpreter().is_file()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def group_members(pgid: int) -> list[int]:
    """The running processes of process group ``pgid`` (the emulator's server and the worker
    process it serves from share its group), read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _ours(pid: int, root: Path) -> bool:
    """Whether ``pid`` is an emulator keeping its files under ``root`` (read from /proc)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"S3_DATA_DIR={root / 's3'}".encode() in environ


def end_orphan(root: Path) -> bool:
    """Stop an emulator a previous run left with its files under ``root`` (its starter was
    killed before it could stop it); True if there was one.

    Its whole process group goes: the functions it may have started are in it too.
    """
    root = root.resolve()
    pid_file = root / PID_FILE
    try:
        pid = int(pid_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    found = _ours(pid, root)
    if found:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + SAVE_GRACE_S
        while _ours(pid, root) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return found


@dataclass
class Emulator:
    """The running emulator; ``start()`` then ``stop()``, or use it as a context manager.

    ``env`` is added to its environment, which the functions it runs inherit where their own
    settings leave a variable unset (the endpoint of the Data API stand-in, for one).
    """

    root: Path
    port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    keep_root: bool = False
    tls: bool = True
    persist: bool = False
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        # Absolute: end_orphan() recognises the emulator by this path in its environment.
        self.root = self.root.resolve()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    @property
    def certificate(self) -> Path:
        return self.root / "tmp" / "ministack-tls" / "server.crt"

    @property
    def log_path(self) -> Path:
        return self.root / "emulator.log"

    @property
    def s3_dir(self) -> Path:
        return self.root / "s3"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def _environment(self) -> dict[str, str]:
        tmp = self.root / "tmp"
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INGEST_"))},
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": HOST,
            "USE_SSL": "1" if self.tls else "0",
            "AUTH": "true",
            "MINISTACK_ACCOUNT_ID": ACCOUNT,
            "MINISTACK_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ROOT_KEY,
            "AWS_SECRET_ACCESS_KEY": ROOT_KEY,
            "AWS_DEFAULT_REGION": REGION,
            # Function bundles, the certificate and any other scratch file stay in the root.
            "TMPDIR": str(tmp),
            "STATE_DIR": str(self.state_dir),
            "S3_DATA_DIR": str(self.s3_dir),
            # S3_PERSIST: each object is on disk when its write is answered, so a kill loses
            # none; PERSIST_STATE: queues and the rest are written when it stops.
            "S3_PERSIST": "1" if self.persist else "0",
            "PERSIST_STATE": "1" if self.persist else "0",
            # INFO: its log then names each new execution environment (cold_starts()).
            "LOG_LEVEL": "INFO",
            **self.env,
        }

    def start(self) -> Emulator:
        """Raises:
        EmulatorError: no emulator environment, or it did not answer in time.
        """
        if not available():
            raise EmulatorError(INSTALL_HINT)
        end_orphan(self.root)
        if not self.keep_root:
            shutil.rmtree(self.root, ignore_errors=True)  # what a killed run left behind
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        self.port = self._port()
        env = self._environment()
        python = str(interpreter())
        command = [GUARD, "--bind", f"{HOST}:{self.port}", "--keep-alive", "75"]
        if self.tls:
            # The emulator's own certificate, made before it starts (hypercorn is handed it).
            subprocess.run(
                [python, "-c", "from ministack.core import tls; tls.resolve_tls_material()"],
                env=env,
                check=True,
                timeout=60,
            )
            key = self.certificate.with_name("server.key")
            command += ["--certfile", str(self.certificate), "--keyfile", str(key)]
        launch = [python, "-c", _LAUNCH, str(os.getpid()), str(Path(__file__).parent), *command]
        with self.log_path.open("ab") as log:
            # A session of its own: stop() ends it and the function processes it started.
            self.process = subprocess.Popen(
                launch,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (self.root / PID_FILE).write_text(str(self.process.pid), encoding="utf-8")
        self._wait_ready()
        if self.persist:
            (self.root / PORT_FILE).write_text(str(self.port), encoding="utf-8")
        return self

    def _port(self) -> int:
        """The port asked for; for a persistent emulator asked for any (0), the one its saved
        queues were made on.

        Raises:
            EmulatorError: its saved queues were made on another port than the one asked for.
        """
        try:
            saved = int((self.root / PORT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = 0
        if not self.persist or not saved:
            return self.port or free_port()
        if self.port not in (0, saved):
            raise EmulatorError(
                f"the queues kept in {self.root} were made on port {saved} (their URLs name "
                f"it): start on port {saved} (or 0), or remove {self.root} to start empty"
            )
        return saved

    def _wait_ready(self) -> None:
        import ssl
        import urllib.request

        context = ssl.create_default_context(cafile=str(self.certificate)) if self.tls else None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EmulatorError(f"the emulator exited; its log: {self.log_path}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(
                    f"{self.url}/_ministack/health", timeout=2, context=context
                ) as reply,
            ):
                if reply.status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise EmulatorError(f"the emulator did not answer in {READY_TIMEOUT_S:.0f} s")

    def client(self, service: str, **credentials: str) -> Any:
        """A boto3 client for ``service``, as the account's root unless given credentials."""
        factory: Any = boto3.client  # any service by name, not one of the stubs' literals
        return factory(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=credentials.get("key", ROOT_KEY),
            aws_secret_access_key=credentials.get("secret", ROOT_KEY),
            aws_session_token=credentials.get("token"),
            verify=str(self.certificate) if self.tls else None,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def cold_starts(self) -> dict[str, int]:
        """New execution environments started so far, by function name (from its log)."""
        found: dict[str, int] = {}
        if self.log_path.exists():
            for match in _SPAWNED.finditer(self.log_path.read_text(errors="replace")):
                found[match.group(1)] = found.get(match.group(1), 0) + 1
        return found

    def client_environment(self) -> dict[str, str]:
        """Environment for a client of the emulator (the AWS CLI, the ingest client, boto3)."""
        env = {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": ROOT_KEY,
            "AWS_SECRET_ACCESS_KEY": ROOT_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }
        if self.tls:
            env["AWS_CA_BUNDLE"] = str(self.certificate)
        return env

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                # Without persistence nothing it holds outlives it: a short grace, then kill.
                process.wait(timeout=SAVE_GRACE_S if self.persist else STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        (self.root / PID_FILE).unlink(missing_ok=True)
        if not self.keep_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
