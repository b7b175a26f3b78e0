"""Fixtures for the adversarial tests, and the hook that writes docs/reliability.md.

``cloud`` is one moto S3 bucket per module, for the test that holds the in-memory S3 fake to
moto; ``stack``/``api`` are the running local stack. ``reliability`` is the ledger tests record
figures in; after a full, passing run they are saved in pytest's cache and rendered to
docs/reliability.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.config import Settings

# The running local stack, for the access tests (one per module that asks for it).
from tests.functional.conftest import api, stack  # noqa: F401
from tests.reliability.ledger import CACHE_KEY, LEDGER, ROOT, Ledger, write_report

if TYPE_CHECKING:
    from collections.abc import Iterator

BUCKET = "reliability-bucket"
# The run must include all of these (whole files, nothing deselected) for the report to be written.
REPORT_SOURCES = (ROOT / "tests" / "reliability", ROOT / "tests" / "functional" / "test_api.py")


@dataclass(frozen=True)
class Cloud:
    s3: Any
    settings: Settings


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        with mock_aws():
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket=BUCKET)
            yield Cloud(client, Settings(bucket=BUCKET, chunk_rows=4, api_key="test-key"))


@pytest.fixture(scope="session")
def reliability() -> Ledger:
    return LEDGER


_DESELECTED: list[Any] = []


def pytest_deselected(items: list[Any]) -> None:
    _DESELECTED.extend(items)


def _covers(args: list[str], target: Path) -> bool:
    for arg in args:
        path = (Path.cwd() / arg.split("::")[0]).resolve()
        if "::" not in arg and (path == target or path in target.parents):
            return True
    return False


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    args = list(config.args) or [str(ROOT / p) for p in config.getini("testpaths")]
    full = all(_covers(args, source) for source in REPORT_SOURCES)
    if exitstatus != 0 or not full or _DESELECTED or not LEDGER.complete():
        return
    data = LEDGER.to_json()
    if config.cache is not None:
        config.cache.set(CACHE_KEY, data)
    if write_report(data):
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("reliability: wrote docs/reliability.md")
