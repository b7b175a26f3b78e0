"""Memory handed back after every S3 handler invocation (chalicelib/memory.py, run_stage)."""

from __future__ import annotations

import platform
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import memory
from chalicelib.pipeline import runner
from tests.conftest import BUCKET


@pytest.fixture
def releases(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(memory, "release", lambda: calls.append("release"))
    return calls


def _work(calls: list[str], outcome: BaseException | None) -> Any:
    def work(event: object) -> str:
        calls.append("work")
        if outcome is not None:
            raise outcome
        return "done"

    return work


@pytest.mark.parametrize(
    "outcome",
    [None, ValueError("bad"), ClientError({"Error": {"Code": "SlowDown"}}, "PutObject")],
    ids=["succeeds", "fails", "retried"],
)
def test_memory_released_after_each_invocation(releases: list[str], outcome: Any, s3: Any) -> None:
    work = _work(releases, outcome)
    # A chunk of an upload that is not stored: a failure has nothing to mark.
    key = "chunks/jobs/20211126T031500Z-0123456789ab/000000.rec"
    if isinstance(outcome, ClientError):
        with pytest.raises(ClientError):
            runner.run_stage("validate", s3, BUCKET, key, None, work)
    else:
        runner.run_stage("validate", s3, BUCKET, key, None, work)
    assert releases == ["work", "release"]


def test_memory_configure_only_where_glibc() -> None:
    with memory.per_invocation():
        junk = [bytes(2 * memory.MMAP_THRESHOLD) for _ in range(3)]
        del junk
    assert memory.configure() == (platform.libc_ver()[0] == "glibc")
