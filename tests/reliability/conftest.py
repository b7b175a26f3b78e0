"""Fixtures for the adversarial tests, and the hook that writes docs/reliability.md.

``cloud`` is one moto S3 bucket per module (moto in-process); ``local_s3`` is the AWS emulator
the local stack runs, reached over HTTP, for the contract test and the replays;
``stack``/``api`` are the running local stack. ``reliability`` is the ledger tests record what
they observed in. After any run that collected every report source, passing or not, the figures
and the tests' outcomes are saved in pytest's cache and rendered to docs/reliability.md.
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


@dataclass
class LocalS3:
    """The AWS emulator the local stack runs (ministack, IAM enforced, objects on disk), on
    127.0.0.1, reached over HTTP."""

    s3: Any
    url: str
    buckets: int = 0

    def new_bucket(self) -> str:
        """A new empty bucket, so each scenario starts clean."""
        self.buckets += 1
        name = f"reliability-{self.buckets}"
        self.s3.create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def local_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    from devstack import emulator

    if not emulator.available():
        pytest.skip(emulator.INSTALL_HINT)
    root = tmp_path_factory.mktemp("emulator")
    server = emulator.Emulator(root, tls=False, persist=True).start()
    try:
        yield LocalS3(server.client("s3"), server.url)
    finally:
        server.stop()


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


def _reported(nodeid: str) -> bool:
    path = (ROOT / nodeid.split("::", maxsplit=1)[0]).resolve()
    return any(path == source or source in path.parents for source in REPORT_SOURCES)


_OUTCOMES: dict[str, str] = {}
_COLLECTED: list[str] = []


class _Outcomes:
    """Each reported test's outcome. A plugin, not conftest hooks: a conftest's test-level hooks
    only see the tests under its own folder, and the route walk lives in tests/functional."""

    @staticmethod
    def pytest_runtest_logreport(report: pytest.TestReport) -> None:
        if not _reported(report.nodeid):
            return
        if report.failed:
            _OUTCOMES[report.nodeid] = "failed"  # in setup, call or teardown
        elif report.skipped:
            _OUTCOMES.setdefault(report.nodeid, "skipped")
        elif report.when == "call":
            _OUTCOMES.setdefault(report.nodeid, "passed")


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("reliability-outcomes"):
        config.pluginmanager.register(_Outcomes(), "reliability-outcomes")


def pytest_collection_finish(session: pytest.Session) -> None:
    _COLLECTED.extend(item.nodeid for item in session.items if _reported(item.nodeid))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    args = list(config.args) or [str(ROOT / p) for p in config.getini("testpaths")]
    full = all(_covers(args, source) for source in REPORT_SOURCES)
    # Written whatever the tests found; not for a partial selection, nor an interrupted run.
    if not full or _DESELECTED or exitstatus == pytest.ExitCode.INTERRUPTED or not _COLLECTED:
        return
    outcomes = list(_OUTCOMES.values())
    LEDGER.run = {
        "collected": len(_COLLECTED),
        "passed": outcomes.count("passed"),
        "skipped": outcomes.count("skipped"),
        "failed": sorted(n for n, o in _OUTCOMES.items() if o == "failed"),
        "not_run": len(set(_COLLECTED) - set(_OUTCOMES)),
    }
    data = LEDGER.to_json()
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None:
        cache.set(CACHE_KEY, data)
    if write_report(data):
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("reliability: wrote docs/reliability.md")
