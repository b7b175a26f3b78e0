"""The AWS emulator (ministack) in a process of its own, bound to 127.0.0.1, with IAM enforced.

Owns starting and stopping it: the interpreter of its own virtual environment (its pinned
botocore differs from the project's; ``make emulator`` builds it from requirements-emulator.txt),
HTTPS with a certificate of its own (the bucket and queue policies refuse plain HTTP, as in AWS),
``AUTH=true`` (every request is checked against IAM policies; the functions run under their own
roles), and every file it writes (state, function bundles, the certificate) under one folder,
removed at ``stop()``. What runs in it is ``deployed.py``'s business.
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
ROOT_KEY = "emulator-root"
INSTALL_HINT = "the emulator's environment is missing: run `make emulator` (or `make test`)"
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 2.0
# The emulator's line for each new execution environment of a function.
_SPAWNED = re.compile(r"Lambda worker spawned for (\S+) \(")


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
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    @property
    def certificate(self) -> Path:
        return self.root / "tmp" / "ministack-tls" / "server.crt"

    @property
    def log_path(self) -> Path:
        return self.root / "emulator.log"

    def _environment(self) -> dict[str, str]:
        tmp = self.root / "tmp"
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INGEST_"))},
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": HOST,
            "USE_SSL": "1",
            "AUTH": "true",
            "MINISTACK_ACCOUNT_ID": ACCOUNT,
            "MINISTACK_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ROOT_KEY,
            "AWS_SECRET_ACCESS_KEY": ROOT_KEY,
            "AWS_DEFAULT_REGION": REGION,
            # Function bundles, the certificate and any other scratch file stay in the root.
            "TMPDIR": str(tmp),
            "STATE_DIR": str(self.root / "state"),
            "S3_DATA_DIR": str(self.root / "s3"),
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
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        env = self._environment()
        python = str(interpreter())
        # The emulator's own certificate, made before it starts (hypercorn is handed it).
        subprocess.run(
            [python, "-c", "from ministack.core import tls; tls.resolve_tls_material()"],
            env=env,
            check=True,
            timeout=60,
        )
        command = [
            python,
            "-m",
            "hypercorn",
            "ministack.app:app",
            "--bind",
            f"{HOST}:{self.port}",
            "--certfile",
            str(self.certificate),
            "--keyfile",
            str(self.certificate.with_name("server.key")),
            "--keep-alive",
            "75",
        ]
        with self.log_path.open("ab") as log:
            # A session of its own: stop() ends it and the function processes it started.
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import ssl
        import urllib.request

        context = ssl.create_default_context(cafile=str(self.certificate))
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
            time.sleep(0.2)
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
            verify=str(self.certificate),
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
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_CA_BUNDLE": str(self.certificate),
            "AWS_ACCESS_KEY_ID": ROOT_KEY,
            "AWS_SECRET_ACCESS_KEY": ROOT_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                # Nothing it holds outlives it (no state is kept): a short grace, then kill.
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if not self.keep_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
