"""A throwaway PostgreSQL 15 cluster: found, initialised, started and stopped by its PID.

Owns finding Debian's PostgreSQL binaries, ``initdb`` in a folder owned by a non-root user
(PostgreSQL refuses to run as root, and CI runs as root), the server's settings (127.0.0.1 on a
free port, md5 passwords, serializable transactions like Redshift's) and stopping the
postmaster by the PID it started. It knows nothing about Redshift; ``catalog.py`` and the proxy do.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.redshift_local.wire import ServerError, SideConnection, WireError

PG_MAJOR = "15"
HOST = "127.0.0.1"
SEARCH = (f"/usr/lib/postgresql/{PG_MAJOR}/bin", "/usr/lib/postgresql/16/bin")
INSTALL_HINT = (
    "PostgreSQL 15 server binaries (initdb, postgres) are missing: on Debian/Ubuntu run "
    "`sudo apt-get install -y postgresql-15` (or `postgresql`); elsewhere install PostgreSQL "
    ">= 15 and put its bin folder on PATH or in REDSHIFT_LOCAL_PG_BIN"
)
# Server settings: a development engine (no durability), with Redshift's isolation and UTC.
SERVER_SETTINGS = {
    "listen_addresses": HOST,
    "password_encryption": "md5",
    "default_transaction_isolation": "serializable",
    "timezone": "UTC",
    "datestyle": "ISO, MDY",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "60",
    "shared_buffers": "32MB",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


class ClusterError(RuntimeError):
    """The local PostgreSQL cluster could not be found, created or started."""


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``postgres`` (PostgreSQL >= 15), or None."""
    candidates = [os.environ.get("REDSHIFT_LOCAL_PG_BIN", ""), *SEARCH]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "postgres").is_file():
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _owner() -> pwd.struct_passwd:
    """The user the cluster runs as: ourselves, or the ``postgres`` system user when root.

    Raises:
        ClusterError: running as root and there is no ``postgres`` user.
    """
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(os.environ.get("REDSHIFT_LOCAL_OS_USER", "postgres"))
    except KeyError:
        raise ClusterError(
            "running as root, PostgreSQL needs a non-root owner: install the postgresql "
            "package (it creates the `postgres` user) or set REDSHIFT_LOCAL_OS_USER"
        ) from None


def _stop_with_parent() -> list[str]:
    """A prefix that gives the server a fast shutdown when the thread that started it dies (a
    killed test run or stack), so no server outlives its owner: util-linux's setpriv sets the
    parent-death signal, then runs the server (Linux only; elsewhere nothing)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "INT", "--"] if setpriv else []


@dataclass
class Cluster:
    """One PostgreSQL server on 127.0.0.1 with its data in ``root`` (created if missing)."""

    root: Path
    port: int = 0
    bin_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    def socket_path(self) -> str:
        return str(self.socket_dir / f".s.PGSQL.{self.port}")

    def side(self, database: str) -> SideConnection:
        return SideConnection(self.socket_path(), database)

    def start(self, timeout: float = 30.0) -> Cluster:
        """initdb if needed, then start the server and wait until it takes connections.

        Raises:
            ClusterError: binaries missing, initdb failed, or the server did not come up.
        """
        self.bin_dir = self.bin_dir or find_binaries()
        if self.bin_dir is None:
            raise ClusterError(INSTALL_HINT)
        owner = _owner()
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        for path in (self.root, self.socket_dir):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        self.socket_dir.chmod(0o700)  # trust auth on the socket: only its owner (and root) in
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(owner)
        self.port = self.port or free_port()
        args = [*_stop_with_parent(), str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        args += ["-p", str(self.port)]
        args += ["-c", f"unix_socket_directories={self.socket_dir}"]
        for key, value in SERVER_SETTINGS.items():
            args += ["-c", f"{key}={value}"]
        log = (self.root / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=owner.pw_uid if os.geteuid() == 0 else None,
            group=owner.pw_gid if os.geteuid() == 0 else None,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
        )
        log.close()
        self._wait_ready(timeout)
        return self

    def _initdb(self, owner: pwd.struct_passwd) -> None:
        assert self.bin_dir is not None
        self.data_dir.mkdir()
        os.chown(self.data_dir, owner.pw_uid, owner.pw_gid)
        self._check_reachable(owner)
        done = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=md5",
                "--no-sync",
            ],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            user=owner.pw_uid if os.geteuid() == 0 else None,
            group=owner.pw_gid if os.geteuid() == 0 else None,
            check=False,
        )
        if done.returncode != 0:
            raise ClusterError(f"initdb failed: {done.stderr.decode(errors='replace')[-2000:]}")

    def _check_reachable(self, owner: pwd.struct_passwd) -> None:
        """The owner must reach the data folder through every parent folder."""
        if os.geteuid() != 0:
            return
        for parent in [self.root, *self.root.parents]:
            mode = parent.stat().st_mode
            if parent.stat().st_uid != owner.pw_uid and not mode & 0o001:
                raise ClusterError(
                    f"user {owner.pw_name} cannot enter {parent}: use a DATA_DIR under /tmp"
                )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise ClusterError(f"postgres exited at start: see {self.root / 'postgres.log'}")
            side = self.side("postgres")
            try:
                side.query("SELECT 1")
                return
            except (OSError, WireError, ServerError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise ClusterError(f"postgres did not start in {timeout}s") from None
                time.sleep(0.1)
            finally:
                side.close()

    def stop(self, timeout: float = 20.0) -> None:
        """Fast shutdown (SIGINT) of the postmaster we started; SIGKILL if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
