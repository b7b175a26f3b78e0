"""The re-drive of failed and stuck uploads: what it refuses, and what it restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import keys
from chalicelib.api import boundary
from chalicelib.config import Settings
from chalicelib.errors import InvalidRequestError, UploadNotFoundError, UploadStateError
from chalicelib.pipeline import redrive, state
from tests.reliability.fakes3 import FakeS3
from tests.reliability.harness import Bus, FaultPlan
from tests.reliability.oracle import expect
from tests.reliability.verdict import check, fresh_warehouse, outcome

SETTINGS = Settings(bucket="reliability-bucket", chunk_rows=2)
LATER = datetime.now(UTC) + timedelta(hours=1)
DATA = b"1,Dev\n2,Ops\n3,QA\n1,Dev 2\nx,bad\n"
UID = "20261126T031500Z-0123456789ab"


def _bus(**knobs: Any) -> Bus:
    s3 = FakeS3(SETTINGS.bucket)
    return Bus(s3, fresh_warehouse(s3), SETTINGS, **knobs)


def _registered(bus: Bus, upload_id: str = UID) -> str:
    """An upload registered by POST /uploads, whose file is not there yet."""
    key = keys.raw_key("jobs", upload_id, "jobs.csv")
    now = state.now_iso()
    state.create(
        bus.raw_s3, SETTINGS.bucket, state.Upload(upload_id, "jobs", "waiting", now, now, key)
    )
    return key


def _only_upload(bus: Bus) -> state.Upload:
    uploads = state.list_uploads(bus.raw_s3, SETTINGS.bucket, "jobs")
    assert len(uploads) == 1
    return uploads[0]


@pytest.mark.parametrize(
    ("upload_id", "error"),
    [
        ("not-an-id", InvalidRequestError),
        ("../../raw/jobs", InvalidRequestError),
        (f"{UID}/../x", InvalidRequestError),
        (UID, UploadNotFoundError),
    ],
)
def test_retry_refuses_unknown_and_malformed_ids(upload_id: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        redrive.retry_upload(FakeS3(SETTINGS.bucket), SETTINGS, upload_id)


def test_retry_refuses_a_loaded_upload() -> None:
    bus = _bus()
    bus.put("raw/jobs/a.csv", DATA)
    bus.run()
    with pytest.raises(UploadStateError, match="already loaded") as caught:
        redrive.retry_upload(bus.s3, SETTINGS, _only_upload(bus).upload_id, now=LATER)
    assert boundary.status_of(type(caught.value)) == 409


def test_retry_refuses_an_upload_with_no_file_yet() -> None:
    bus = _bus()
    _registered(bus)
    with pytest.raises(UploadStateError, match="no file under raw/"):
        redrive.retry_upload(bus.s3, SETTINGS, UID, now=LATER)


def test_retry_waits_until_a_stuck_upload_made_no_progress_for_a_while() -> None:
    # Dies after its first chunk's cleaned rows, before that chunk's done marker.
    bus = _bus(plan=FaultPlan(at=_write_of("validate", 0), kind="crash"), redeliver_crashes=False)
    bus.put("raw/jobs/a.csv", DATA)
    bus.run()
    upload = _only_upload(bus)
    assert upload.public_state == "processing"
    with pytest.raises(UploadStateError, match="last made progress"):
        redrive.retry_upload(bus.s3, SETTINGS, upload.upload_id)
    retried = redrive.retry_upload(bus.s3, SETTINGS, upload.upload_id, now=LATER)
    assert retried.state == "processing" and retried.rewritten
    bus.run()
    check(
        expect("jobs", DATA), outcome(bus.raw_s3, bus.warehouse, SETTINGS, "jobs", "raw/jobs/a.csv")
    )


def test_retry_splits_an_upload_whose_event_was_lost() -> None:
    bus = _bus()
    key = _registered(bus)
    bus.raw_s3.put_object(Bucket=SETTINGS.bucket, Key=key, Body=DATA)  # no event reaches us
    retried = redrive.retry_upload(bus.s3, SETTINGS, UID, now=LATER)
    assert (retried.stage, retried.rewritten) == ("split", [key])
    bus.run()
    out = outcome(bus.raw_s3, bus.warehouse, SETTINGS, "jobs", key)
    check(expect("jobs", DATA), out)
    assert out.upload.upload_id == UID


def _write_of(stage: str, nth: int = 1) -> int:
    """The index, over a whole run, of ``stage``'s ``nth`` write (0-based)."""
    dry = _bus()
    dry.put("raw/jobs/copied.csv", DATA)
    dry.run()
    return [i for i, s in enumerate(dry.plan.steps) if s.startswith(f"{stage}: ")][nth]


@pytest.mark.parametrize("stage", ["split", "validate", "load"])
def test_retry_restarts_the_stage_that_failed_and_keeps_the_upload_id(stage: str) -> None:
    bus = _bus(plan=FaultPlan(at=_write_of(stage), kind="error"))
    bus.put("raw/jobs/copied.csv", DATA)
    bus.run()
    failed = _only_upload(bus)
    assert failed.state == "failed"
    assert failed.error is not None and failed.error.startswith(f"{stage}: ")
    retried = redrive.retry_upload(bus.s3, SETTINGS, failed.upload_id)
    assert retried.stage == stage
    bus.run()
    out = outcome(bus.raw_s3, bus.warehouse, SETTINGS, "jobs", "raw/jobs/copied.csv")
    check(expect("jobs", DATA), out)
    assert out.upload.upload_id == failed.upload_id
