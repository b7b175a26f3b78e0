"""``python -m devstack.redshift_local.install``: make sure PostgreSQL's server is installed.

Run by ``make test``/``make serve``/``make demo``. As root on a machine with apt-get (CI, a fresh
Debian container) it installs Debian's ``postgresql-15`` (or ``postgresql``); anywhere else it
only says what to install. It never fails the make: without PostgreSQL the Redshift cases are
skipped with the same hint, and ``WAREHOUSE=redshift`` refuses to start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from devstack.redshift_local.cluster import INSTALL_HINT, find_binaries

PACKAGES = ("postgresql-15", "postgresql")


def _apt(*args: str) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        ["apt-get", *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    return done.returncode == 0


def ensure() -> bool:
    """Whether PostgreSQL is there now (installing it with apt-get when root and possible)."""
    if find_binaries() is not None:
        return True
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        sys.stderr.write(f"note: {INSTALL_HINT}\n")
        return False
    sys.stderr.write("installing PostgreSQL 15 with apt-get (for the local Redshift engine)\n")
    _apt("update")
    for package in PACKAGES:
        if _apt("install", "-y", "--no-install-recommends", package) and find_binaries():
            return True
    sys.stderr.write(f"note: apt-get could not install PostgreSQL. {INSTALL_HINT}\n")
    return False


if __name__ == "__main__":
    ensure()
    sys.exit(0)
