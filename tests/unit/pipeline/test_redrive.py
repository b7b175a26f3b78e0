"""Re-drives are offered, and taken, only where they can help: never for a fault in the file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from chalicelib import keys
from chalicelib.api import multipart_uploads, uploads
from chalicelib.errors import UploadStateError
from chalicelib.pipeline import load, redrive, runner, split, state, validate
from tests.stage_events import stage_event, upload_file
from tests.unit.pipeline.test_load import run_pipeline
from tests.workbooks import workbook

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.warehouse.duckdb import DuckDBWarehouse


def _split_through_the_runner(s3: Any, settings: Settings, key: str) -> state.Upload:
    runner.run_stage(
        "split", s3, settings.bucket, key, None, lambda e: split.split_upload(s3, settings, e)
    )
    listed = state.list_uploads(s3, settings.bucket, "jobs")
    assert len(listed) == 1
    return listed[0]


@pytest.mark.parametrize(
    "body",
    [
        workbook(),
        b"%PDF-1.7\n",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03truncated",
    ],
)
def test_a_file_the_pipeline_cannot_read_offers_no_redrive(
    s3: Any, settings: Settings, body: bytes
) -> None:
    upload = _split_through_the_runner(s3, settings, upload_file(s3, settings, "jobs", body))
    assert upload.state == "failed"
    status = uploads.status(s3, settings, upload.upload_id)
    assert status.retryable is False
    with pytest.raises(UploadStateError) as refused:
        redrive.retry_upload(s3, settings, upload.upload_id)
    message = refused.value.message
    assert "fail the same way" in message and "upload it again" in message
    assert upload.error is not None and upload.error in message
    # Nothing moved: the upload is still failed, with its error.
    again = state.read(s3, settings.bucket, "jobs", upload.upload_id)
    assert again is not None and (again.state, again.error) == ("failed", upload.error)


def test_a_failure_outside_the_file_is_offered_a_redrive_and_takes_it(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    warehouse.execute('ALTER TABLE "jobs" RENAME TO "jobs_away"')
    upload = run_pipeline(s3, warehouse, settings, upload_file(s3, settings, "jobs", b"1,Dev\n"))
    assert upload.state == "failed"
    assert uploads.status(s3, settings, upload.upload_id).retryable is True
    warehouse.execute('ALTER TABLE "jobs_away" RENAME TO "jobs"')
    retried = redrive.retry_upload(s3, settings, upload.upload_id)
    assert retried.stage == "load"
    moved = state.read(s3, settings.bucket, "jobs", upload.upload_id)
    assert moved is not None and moved.state == "loading"
    assert uploads.status(s3, settings, upload.upload_id).retryable is True


def test_a_cancelled_upload_is_retryable_only_once_its_file_is_there(
    s3: Any, settings: Settings
) -> None:
    grant = uploads.create_upload(s3, settings, {"table": "jobs", "filename": "j.csv", "size": 6})
    multipart_uploads.cancel(s3, settings, grant.upload_id)
    assert uploads.status(s3, settings, grant.upload_id).retryable is False
    with pytest.raises(UploadStateError, match="no file under raw/"):
        redrive.retry_upload(s3, settings, grant.upload_id)
    # The POST that was on its way when the upload was cancelled lands after all: the file can
    # be split, and a re-drive does it.
    s3.put_object(Bucket=settings.bucket, Key=grant.key, Body=b"1,Dev\n")
    assert uploads.status(s3, settings, grant.upload_id).retryable is True
    assert redrive.retry_upload(s3, settings, grant.upload_id).stage == "split"


def test_only_failed_and_processing_uploads_are_retryable(
    s3: Any, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    grant = uploads.create_upload(s3, settings, {"table": "jobs", "filename": "j.csv", "size": 6})
    assert uploads.status(s3, settings, grant.upload_id).retryable is False  # no file yet
    s3.put_object(Bucket=settings.bucket, Key=grant.key, Body=b"1,Dev\n")
    made = split.split_upload(s3, settings, stage_event(grant.key))
    status = uploads.status(s3, settings, grant.upload_id)
    assert (status.state, status.retryable) == ("processing", True)  # if stuck: the API decides
    validate.validate_chunk(s3, settings, stage_event(keys.chunk_key("jobs", grant.upload_id, 0)))
    load.load_upload(s3, warehouse, settings, stage_event(keys.load_key("jobs", grant.upload_id)))
    status = uploads.status(s3, settings, grant.upload_id)
    assert (made.chunks, status.state, status.retryable) == (1, "loaded", False)
