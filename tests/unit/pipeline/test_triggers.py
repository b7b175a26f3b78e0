"""Unwrapping the S3 notifications that SQS messages carry, and handing them to a stage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.errors import EventFormatError
from chalicelib.pipeline import triggers
from tests.conftest import load_event


def _sqs(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": str(i), "body": b} for i, b in enumerate(bodies)]}


def _body(key: str) -> str:
    return json.dumps(load_event("s3_object_created", bucket="b", key=key))


def test_s3_objects_unquotes_keys_and_skips_the_test_event() -> None:
    assert triggers.s3_objects(_body("raw/jobs/my+file%2B1.csv")) == [
        triggers.S3Object("b", "raw/jobs/my file+1.csv")
    ]
    assert triggers.s3_objects(json.dumps(load_event("s3_test_event", bucket="b"))) == []


@pytest.mark.parametrize("body", ["not json", "[]", '{"Records": [{"s3": {}}]}', "{}"])
def test_a_body_that_is_no_s3_notification_is_refused(body: str) -> None:
    with pytest.raises(EventFormatError, match="not an S3 notification"):
        triggers.s3_objects(body)


UID = "20260101T000000Z-0123456789ab"


def test_deliver_runs_the_stage_for_its_own_keys_only(s3: Any) -> None:
    seen: list[Any] = []
    chunk = f"chunks/jobs/{UID}/000001.rec"
    event = _sqs(_body(chunk), _body(f"chunks/jobs/{UID}/000001.csv"))
    handled = triggers.deliver(event, "validate", s3, "r", seen.append)
    assert (handled, [(e.key, e.stage, e.chunk) for e in seen]) == (1, [(chunk, "validate", 1)])


def test_deliver_raises_a_transient_error_so_the_queue_redelivers(s3: Any) -> None:
    from botocore.exceptions import ClientError

    def throttled(event: object) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "GetObject")

    with pytest.raises(ClientError):
        triggers.deliver(_sqs(_body(f"loads/jobs/{UID}.json")), "load", s3, "r", throttled)


def test_queue_names_per_stage() -> None:
    assert [triggers.queue_name("p", s) for s in triggers.STAGES] == [
        "p-split",
        "p-validate",
        "p-load",
    ]
    assert triggers.dead_letter_queue_name("p", "load") == "p-load-dlq"
    assert {t.handler for t in triggers.TRIGGERS} == {
        "on_raw_created",
        "on_chunk_created",
        "on_load_requested",
    }
