"""The upload API's work on moto S3: names as people give them, the table guessed, listings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from chalicelib import keys
from chalicelib.api import multipart_uploads, uploads
from chalicelib.errors import InvalidRequestError
from tests.unit.pipeline.test_load import run_pipeline

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.warehouse.duckdb import DuckDBWarehouse

HIRES = b"1,Ann,2021-01-10T00:00:00Z,1,1\n2,Bob,2021-02-10T00:00:00Z,2,1\n"
ODD_NAMES = [
    "hired employees (1).csv",
    "../hired_employees.csv",
    "C:\\Users\\me\\Downloads\\hired_employees <final>: 2021.csv",
    "Überstunden der hired employees.csv",
    "hired employees " + "x" * 200 + ".csv",
]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_create_upload_takes_any_name_and_keeps_it_for_display(
    s3: Any, settings: Settings, warehouse: DuckDBWarehouse, name: str
) -> None:
    grant = uploads.create_upload(
        s3, settings, {"table": "hired_employees", "filename": name, "size": len(HIRES)}
    )
    assert grant.key == f"raw/hired_employees/{grant.upload_id}/{keys.object_name(name)}"
    s3.put_object(Bucket=settings.bucket, Key=grant.key, Body=HIRES)
    upload = run_pipeline(s3, warehouse, settings, grant.key)
    assert (upload.state, upload.rows_valid) == ("loaded", 2)
    status = uploads.status(s3, settings, grant.upload_id)
    assert status.filename == name
    listed = uploads.listing(s3, settings, None).uploads
    assert [(u.upload_id, u.filename) for u in listed] == [(grant.upload_id, name)]


def test_create_upload_guesses_the_table_from_the_name_when_it_is_left_out(
    s3: Any, settings: Settings
) -> None:
    grant = uploads.create_upload(s3, settings, {"filename": "jobs (1).csv", "size": 9})
    assert grant.key.startswith(f"raw/jobs/{grant.upload_id}/")
    multipart = multipart_uploads.create(
        s3, settings, {"filename": "Hired Employees 2021.csv", "size": 9}
    )
    assert multipart.key.startswith(f"raw/hired_employees/{multipart.upload_id}/")
    with pytest.raises(InvalidRequestError, match=r"which table is 'export\.csv' for"):
        uploads.create_upload(s3, settings, {"filename": "export.csv", "size": 9})


def test_create_upload_names_the_file_when_it_is_empty(s3: Any, settings: Settings) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        uploads.create_upload(
            s3, settings, {"table": "jobs", "filename": "jobs (1).csv", "size": 0}
        )
    assert "jobs (1).csv is empty (0 bytes)" in refused.value.message


def test_form_upload_keeps_the_name_the_form_gave(s3: Any, settings: Settings) -> None:
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="jobs (1).csv"\r\n\r\n'
        f"1,Dev\n\r\n--{boundary}--\r\n"
    ).encode()
    accepted = uploads.accept_form_file(
        s3, settings, "jobs", f"multipart/form-data; boundary={boundary}", body, "http://x"
    )
    status = uploads.status(s3, settings, accepted.upload_id)
    assert status.filename == "jobs (1).csv"
    key = keys.raw_key("jobs", accepted.upload_id, "jobs (1).csv")
    assert s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read() == b"1,Dev\n"
