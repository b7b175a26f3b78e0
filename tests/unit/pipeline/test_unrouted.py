"""Objects under raw/ that no table takes are recorded as failed uploads, once each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from chalicelib.api import uploads
from chalicelib.pipeline import runner, state
from tests.conftest import BUCKET

if TYPE_CHECKING:
    from chalicelib.config import Settings


def _split_never_runs(event: object) -> None:
    raise AssertionError(f"the split ran for {event}")


@pytest.mark.parametrize(
    ("key", "table", "filename", "reason"),
    [
        (
            "raw/employees/hires.csv",
            "employees",
            "hires.csv",
            "names the table 'employees', which does not exist; known tables: departments, "
            "jobs, hired_employees",
        ),
        ("raw/hires.csv", "", "hires.csv", "is not in a table's folder; copy it to raw/<table>/"),
        ("raw/jobs/", "jobs", None, "has no file name (a folder marker?)"),
    ],
)
def test_an_object_no_table_takes_is_a_failed_upload_listed_once(
    s3: Any, settings: Settings, key: str, table: str, filename: str | None, reason: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"1,a\n")
    for _ in range(2):  # a redelivered event records nothing new
        runner.run_stage("split", s3, BUCKET, key, None, _split_never_runs)
    listed = state.list_uploads(s3, BUCKET)
    assert len(listed) == 1
    upload = listed[0]
    assert (upload.state, upload.table, upload.filename) == ("failed", table, filename)
    assert upload.error is not None and reason in upload.error
    assert upload.error.startswith(f"split: the key {key!r} ")
    shown = uploads.status(s3, settings, upload.upload_id)
    assert (shown.state, shown.error) == ("failed", upload.error)
    assert state.list_uploads(s3, BUCKET, "jobs") == []  # not in any table's listing


def test_an_object_gone_before_its_event_leaves_nothing(s3: Any) -> None:
    runner.run_stage("split", s3, BUCKET, "raw/employees/gone.csv", None, _split_never_runs)
    assert state.list_uploads(s3, BUCKET) == []


def test_other_stages_still_ignore_keys_they_do_not_handle(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="raw/employees/x.csv", Body=b"1,a\n")
    runner.run_stage("validate", s3, BUCKET, "raw/employees/x.csv", None, _split_never_runs)
    assert state.list_uploads(s3, BUCKET) == []
