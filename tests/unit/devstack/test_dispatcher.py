"""The local dispatcher feeds each stage queue's messages to its handler, as Lambda's SQS event
source does, and leaves failures to the queue's redrive policy (the dead-letter queue)."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from chalice import Chalice
from moto import mock_aws

from chalicelib.pipeline.triggers import s3_objects
from devstack.dispatcher import Dispatcher, Queue, sqs_event
from tests.conftest import load_event
from tests.unit.devstack import process_app

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from chalice.app import SQSEvent


class _NoQueue:
    """The dispatcher is driven directly here; it never polls."""


def _message(key: str, body: str | None = None) -> dict[str, Any]:
    event = load_event("s3_object_created", bucket="b", key=key)
    return {
        "MessageId": "m1",
        "ReceiptHandle": "r1",
        "Body": json.dumps(event) if body is None else body,
        "Attributes": {"ApproximateReceiveCount": "1"},
    }


def test_sqs_event_is_what_lambda_passes_and_carries_the_s3_notification() -> None:
    event = sqs_event(_message("raw/jobs/my+file.csv"), "arn:aws:sqs:us-east-1:123456789012:q")
    (record,) = event["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    seen: list[str] = []
    app = Chalice(app_name="dispatch-test")

    @app.on_sqs_message(queue="q")
    def on_raw(sqs: SQSEvent) -> None:
        seen.extend(obj.key for r in sqs for obj in s3_objects(r.body))

    Dispatcher(_NoQueue(), [], app, workers=1).invoke("on_raw", event, "r")  # type: ignore[arg-type]
    assert seen == ["raw/jobs/my file.csv"]


def _invoke(dispatcher: Dispatcher, name: str, key: str) -> None:
    dispatcher.invoke(name, sqs_event(_message(key), "arn:aws:sqs:us-east-1:1:q"), "r")


def test_process_routes_run_in_worker_processes_and_the_rest_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(process_app.OUT_DIR, str(tmp_path))  # worker processes inherit it
    dispatcher = Dispatcher(
        _NoQueue(),  # type: ignore[arg-type]
        [],
        process_app.app,
        workers=2,
        app_module=process_app.__name__,
        process_routes=frozenset({"on_raw", "on_bad"}),
    )
    try:
        _invoke(dispatcher, "on_raw", "raw/t/a.csv")
        _invoke(dispatcher, "on_raw", "raw/t/b.csv")
        _invoke(dispatcher, "on_load", "loads/t/c.json")
        with pytest.raises(ValueError, match="cannot handle bad/x"):
            _invoke(dispatcher, "on_bad", "bad/x")
    finally:
        dispatcher.stop()
    pids = {path.name: int(path.read_text()) for path in tmp_path.iterdir()}
    assert pids.keys() == {"raw-a.csv", "raw-b.csv", "load-c.json"}
    assert pids["load-c.json"] == os.getpid()
    assert os.getpid() not in (pids["raw-a.csv"], pids["raw-b.csv"])


def test_a_worker_that_dies_fails_its_event_and_the_next_event_gets_a_new_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(process_app.OUT_DIR, str(tmp_path))
    dispatcher = Dispatcher(
        _NoQueue(),  # type: ignore[arg-type]
        [],
        process_app.app,
        workers=1,
        app_module=process_app.__name__,
        process_routes=frozenset({"on_raw", "on_crash"}),
    )
    try:
        with pytest.raises(BrokenProcessPool):
            _invoke(dispatcher, "on_crash", "crash/x")
        _invoke(dispatcher, "on_raw", "raw/t/a")
    finally:
        dispatcher.stop()
    assert (tmp_path / "raw-a").read_text() != str(os.getpid())


@pytest.fixture
def sqs(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def _depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def test_a_message_that_fails_every_delivery_ends_in_the_dead_letter_queue(
    sqs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(process_app.OUT_DIR, str(tmp_path))
    dlq = sqs.create_queue(QueueName="bad-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    redrive = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": "3"}
    queues = [
        Queue(name, sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"], f"arn:{name}")
        for name, attrs in (
            ("on_bad", {"RedrivePolicy": json.dumps(redrive)}),
            ("on_load", {}),
        )
    ]
    for queue, key in zip(queues, ("bad/x", "loads/t/ok.json"), strict=True):
        sqs.send_message(QueueUrl=queue.url, MessageBody=_message(key)["Body"])
    dispatcher = Dispatcher(sqs, queues, process_app.app, workers=2, retry_delay=0)
    dispatcher.start()
    try:
        deadline = time.monotonic() + 20
        while _depth(sqs, dlq) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        dispatcher.stop()
    assert _depth(sqs, dlq) == 1
    (dead,) = sqs.receive_message(
        QueueUrl=dlq, AttributeNames=["ApproximateReceiveCount"], MaxNumberOfMessages=10
    )["Messages"]
    assert [o.key for o in s3_objects(dead["Body"])] == ["bad/x"]
    assert dispatcher.failed == 3  # maxReceiveCount deliveries, then the queue gave up on it
    assert [_depth(sqs, q.url) for q in queues] == [0, 0]
    assert (tmp_path / "load-ok.json").read_text() == str(os.getpid())
