"""The function host runs what the emulator invokes: one HTTP POST per invocation, as ministack's
Lambda proxy mode sends it, answered 200 or with Lambda's error shape; split and validate in
worker processes, the rest in this process."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pytest
import requests

from devstack.functions import FunctionHost
from tests.conftest import load_event
from tests.unit.devstack import process_app

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ARN = "arn:aws:sqs:us-east-1:123456789012:q"


def _event(key: str) -> dict[str, Any]:
    """The event the emulator's SQS event source passes a function for one message."""
    body = json.dumps(load_event("s3_object_created", bucket="b", key=key))
    return {
        "Records": [
            {
                "messageId": "m1",
                "receiptHandle": "r1",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": ARN,
                "awsRegion": "us-east-1",
            }
        ]
    }


def _invoke(host: FunctionHost, name: str, key: str) -> requests.Response:
    """POST an invocation as the emulator's proxy executor does."""
    return requests.post(
        host.url_for(name),
        data=json.dumps(_event(key)),
        headers={
            "Content-Type": "application/json",
            "X-Amzn-Lambda-Function-Name": f"ingest-local-{name}",
            "X-Amzn-Lambda-Request-Id": "req-1",
        },
        timeout=60,
    )


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FunctionHost]:
    monkeypatch.setenv(process_app.OUT_DIR, str(tmp_path))  # worker processes inherit it
    running = FunctionHost(
        process_app.app,
        workers=1,
        app_module=process_app.__name__,
        process_routes=frozenset({"on_raw", "on_bad", "on_crash"}),
    ).start()
    yield running
    running.stop()


def test_process_routes_run_in_worker_processes_and_the_rest_here(
    host: FunctionHost, tmp_path: Path
) -> None:
    replies = [
        _invoke(host, "on_raw", "raw/t/a.csv"),
        _invoke(host, "on_raw", "raw/t/b.csv"),
        _invoke(host, "on_load", "loads/t/c.json"),
    ]
    assert [(r.status_code, r.json()) for r in replies] == [(200, None)] * 3
    pids = {path.name: int(path.read_text()) for path in tmp_path.iterdir()}
    assert pids.keys() == {"raw-a.csv", "raw-b.csv", "load-c.json"}
    assert pids["load-c.json"] == os.getpid()
    assert os.getpid() not in (pids["raw-a.csv"], pids["raw-b.csv"])
    assert (host.invoked, host.failed, host.busy) == (3, 0, False)


@pytest.mark.parametrize(
    ("name", "error_type", "message"),
    [
        ("on_bad", "ValueError", "cannot handle bad/x"),
        ("on_missing", "KeyError", "no function 'on_missing' here"),
    ],
)
def test_a_failed_invocation_answers_lambdas_error_shape(
    host: FunctionHost, name: str, error_type: str, message: str
) -> None:
    reply = _invoke(host, name, "bad/x")
    assert reply.status_code == 500
    body = reply.json()
    assert body["errorType"] == error_type
    assert message in body["errorMessage"]
    assert host.failed == 1


def test_a_worker_that_dies_fails_its_invocation_and_the_next_gets_a_new_worker(
    host: FunctionHost, tmp_path: Path
) -> None:
    crashed = _invoke(host, "on_crash", "crash/x")
    assert (crashed.status_code, crashed.json()["errorType"]) == (500, "BrokenProcessPool")
    assert _invoke(host, "on_raw", "raw/t/a").status_code == 200
    assert (tmp_path / "raw-a").read_text() != str(os.getpid())
