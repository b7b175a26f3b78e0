"""The sweep behind the stuck-uploads alarm: which uploads it reports, and the line it logs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib import keys
from chalicelib.pipeline import state, stuck
from chalicelib.pipeline.redrive import STUCK_AFTER

if TYPE_CHECKING:
    import pytest

    from chalicelib.config import Settings


def _upload(s3: Any, settings: Settings, created: datetime, status: state.State) -> str:
    upload_id = keys.new_upload_id(created)
    now = state.now_iso()
    key = keys.raw_key("jobs", upload_id, "jobs.csv")
    state.create(s3, settings.bucket, state.Upload(upload_id, "jobs", status, now, now, key))
    return upload_id


def test_only_recent_uploads_in_processing_without_progress_are_reported(
    s3: Any, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    splitting = _upload(s3, settings, now, "splitting")
    _upload(s3, settings, now, "waiting")  # its file never came: not processing
    _upload(s3, settings, now, "loaded")
    _upload(s3, settings, now - stuck.LOOKBACK - timedelta(hours=1), "validating")  # too old
    caplog.set_level(logging.INFO, logger="chalicelib.pipeline.stuck")

    assert stuck.find_stuck(s3, settings, now) == []  # it just made progress
    later = now + STUCK_AFTER + timedelta(minutes=1)
    found = stuck.find_stuck(s3, settings, later)

    assert [(s.upload_id, s.table, s.state) for s in found] == [(splitting, "jobs", "splitting")]
    checked = [r for r in caplog.records if r.getMessage() == "uploads.checked"]
    assert [(r.processing, r.stuck) for r in checked] == [(1, 0), (1, 1)]  # type: ignore[attr-defined]
    assert json.dumps([r.getMessage() for r in caplog.records]).count("uploads.stuck") == 1
