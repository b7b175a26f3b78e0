"""Finding uploads stuck in processing, for the alarm that says so.

Owns the periodic sweep: recent uploads whose state is still ``processing`` and that have made
no progress for ``redrive.STUCK_AFTER`` (no function can still be working on them). It logs one
``uploads.stuck`` line per such upload and an ``uploads.checked`` line whose ``stuck`` field the
deployed metric filter turns into the alarm's metric. It changes nothing: re-driving is the
operator's decision (``POST /api/v1/uploads/{id}/retry``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib import storage
from chalicelib.keys import upload_prefix
from chalicelib.logs import bind
from chalicelib.pipeline import redrive, state
from chalicelib.tables import TABLES

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.pipeline.state import Upload

logger = logging.getLogger(__name__)
# Uploads created longer ago than this are not looked at: they were reported for two days
# already, and reading every upload's state each time would grow with the bucket.
LOOKBACK = timedelta(days=2)


@dataclass(frozen=True)
class Stuck:
    """An upload in processing with no sign of progress since ``last_progress``."""

    upload_id: str
    table: str
    state: str
    last_progress: str


def _created(upload_id: str) -> datetime:
    return datetime.strptime(upload_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def recent_processing(s3: S3Client, bucket: str, now: datetime | None = None) -> list[Upload]:
    """Uploads created within ``LOOKBACK`` that are still processing."""
    now = now or datetime.now(UTC)
    found = []
    for table in TABLES:
        for upload_id in storage.list_folders(s3, bucket, upload_prefix(table)):
            try:
                if now - _created(upload_id) > LOOKBACK:
                    continue
            except ValueError:
                continue  # not an upload id: nothing of ours
            upload = state.read(s3, bucket, table, upload_id)
            if upload is not None and upload.public_state == "processing":
                found.append(upload)
    return found


def find_stuck(
    s3: S3Client,
    settings: Settings,
    now: datetime | None = None,
    processing: list[Upload] | None = None,
) -> list[Stuck]:
    """Recent uploads stuck in processing (of ``processing``, when the caller has read them);
    logs each one and the count."""
    now = now or datetime.now(UTC)
    bucket, found = settings.bucket, []
    if processing is None:
        processing = recent_processing(s3, bucket, now)
    for upload in processing:
        last = redrive.last_progress(s3, bucket, upload)
        if now - last < redrive.STUCK_AFTER:
            continue
        stuck = Stuck(upload.upload_id, upload.table, upload.state, f"{last:%Y-%m-%dT%H:%M:%SZ}")
        found.append(stuck)
        with bind(upload_id=upload.upload_id, table=upload.table):
            logger.warning(
                "uploads.stuck",
                extra={"state": upload.state, "last_progress": stuck.last_progress},
            )
    logger.info("uploads.checked", extra={"processing": len(processing), "stuck": len(found)})
    return found
