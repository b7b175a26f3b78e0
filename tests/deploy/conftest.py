"""The packaged dev stage, deployed once into the AWS emulator for the tests of this folder.

``make package``'s steps (``chalice package`` with the Lambda's real requirements, then
``deploy.template``) into the test's temporary folder, then the deployment docs/deploy.md walks,
into the emulator with IAM enforced. Skipped, saying why, where PostgreSQL (the local Redshift
engine) or the emulator's environment (``make emulator``) is missing; ``make test`` installs both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from deploy import template
from deploy.stage import read_stage
from devstack import emulator, redshift_local
from devstack.deployed import DeployedStack

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"


def package(out: Path) -> Path:
    """``make package STAGE=dev`` into ``out``; the folder holding template.json."""
    chalice = Path(sys.executable).with_name("chalice")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run(
        [str(chalice), "package", "--stage", STAGE, str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    template.write(read_stage(config, STAGE), out)
    return out


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedStack]:
    if not redshift_local.available():
        pytest.skip(redshift_local.INSTALL_HINT)
    if not emulator.available():
        pytest.skip(emulator.INSTALL_HINT)
    work = tmp_path_factory.mktemp("deployed")
    started = time.monotonic()
    build = package(work / "build")
    packaged = time.monotonic() - started
    stack = DeployedStack(work / "stack", build, STAGE).start()
    stack.timings["package_seconds"] = packaged
    saved = dict(os.environ)
    # The API's replies and presigned URLs are on the emulator's HTTPS endpoint.
    os.environ["REQUESTS_CA_BUNDLE"] = str(stack.emulator.certificate)  # type: ignore[union-attr]
    try:
        yield stack
    finally:
        os.environ.clear()
        os.environ.update(saved)
        stack.stop()
        # The emulator's state, function bundles and certificate were all under its root.
        assert not (work / "stack" / "emulator").exists()
