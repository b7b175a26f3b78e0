"""The split stage on moto S3: every record in exactly one chunk, chunks of the set size."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from chalicelib import keys, storage
from chalicelib.pipeline import split
from tests.stage_events import stage_event, upload_file

if TYPE_CHECKING:
    from chalicelib.config import Settings


@pytest.mark.parametrize("rows", [1, 3, 4, 5])
def test_chunks_hold_every_record_once(s3: Any, settings: Settings, rows: int) -> None:
    body = "".join(f"{i},job {i}\n" for i in range(1, rows + 1)).encode()
    made = split.split_upload(s3, settings, stage_event(upload_file(s3, settings, "jobs", body)))
    manifest = storage.get_json(
        s3, settings.bucket, keys.split_manifest_key("jobs", made.upload_id or "")
    )
    assert [c["records"] for c in manifest["chunks"]] == [
        min(4, rows - start) for start in range(0, rows, 4)
    ]
    assert manifest["records"] == rows
