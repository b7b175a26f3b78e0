"""Re-driving an upload that failed or got stuck, from the stage that needs running again.

Owns deciding which stage an upload still needs (split, validate or load) from what it has already
written, moving its state there through ``pipeline/state.py``, and rewriting the object whose
creation event starts that stage, so the ordinary handlers redo the work. It runs no stage itself;
every stage is idempotent, so a re-drive never duplicates a row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from chalicelib import keys, storage
from chalicelib.errors import UploadStateError
from chalicelib.logs import bind
from chalicelib.pipeline import completion, state
from chalicelib.pipeline.runner import Stage  # noqa: TC001 - schema_gen reads Retried's hints
from chalicelib.tables import TABLES, TableName  # noqa: TC001 - schema_gen reads Retried's hints

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.pipeline.state import Upload

logger = logging.getLogger(__name__)

# The longest a Lambda can run: an upload with no progress for this long has nobody working on
# it (its events were dropped after their retries), so re-driving it cannot race a live stage.
STUCK_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class Retried:
    """What a re-drive did: the stage it restarted and the objects it rewrote to do so."""

    upload_id: str
    table: TableName
    state: Literal["processing"]
    stage: Stage
    rewritten: Annotated[
        list[str], "The objects copied onto themselves to start the stage again"
    ] = field(default_factory=list)


def retry_upload(
    s3: S3Client, settings: Settings, upload_id: str, now: datetime | None = None
) -> Retried:
    """Re-drive a failed upload, or one that has made no progress for ``STUCK_AFTER``.

    Raises:
        InvalidRequestError: malformed id.
        UploadNotFoundError: no such upload.
        UploadStateError: it is loaded, has no file yet, is still making progress, or failed
            in a way no re-drive changes (the file itself, or a cancelled upload).
    """
    bucket = settings.bucket
    upload = state.find(s3, bucket, upload_id)
    with bind(upload_id=upload_id, stage="redrive"):
        if upload.state == "loaded":
            raise UploadStateError(
                f"upload {upload_id} is already loaded; there is nothing to retry",
                upload_id=upload_id,
            )
        if upload.table not in TABLES:
            raise UploadStateError(
                f"upload {upload_id} is a file no table takes ({upload.error}); retrying would "
                "not change that: copy the file to raw/<table>/ instead",
                upload_id=upload_id,
            )
        if upload.state == "failed" and upload.retryable is False:
            raise UploadStateError(
                f"upload {upload_id} failed in a way a re-drive cannot change ({upload.error}): "
                "it would read the same file and fail the same way; fix the file if need be and "
                "upload it again",
                upload_id=upload_id,
            )
        stage = _stage_needed(s3, bucket, upload)
        source = upload.source_key
        if stage == "split" and (not source or not storage.exists(s3, bucket, source)):
            raise UploadStateError(
                f"upload {upload_id} has no file under raw/ yet; upload the file first",
                upload_id=upload_id,
            )
        if upload.state != "failed":
            _refuse_if_running(s3, bucket, upload, now or datetime.now(UTC))
        rewritten = _restart(s3, bucket, upload, stage, source or "")
        logger.info(
            "redrive.requested",
            extra={"from_state": upload.state, "restart": stage, "rewritten": len(rewritten)},
        )
    return Retried(upload_id, upload.table, "processing", stage, rewritten)


def _stage_needed(s3: S3Client, bucket: str, upload: Upload) -> Stage:
    """The first stage whose work is not all on record."""
    if upload.chunks_total is None:
        return "split"
    done = completion.done_chunks(s3, bucket, upload.table, upload.upload_id)
    return "validate" if len(done) < upload.chunks_total else "load"


def _refuse_if_running(s3: S3Client, bucket: str, upload: Upload, now: datetime) -> None:
    last = last_progress(s3, bucket, upload)
    if now - last < STUCK_AFTER:
        minutes = int(STUCK_AFTER.total_seconds() // 60)
        raise UploadStateError(
            f"upload {upload.upload_id} is {upload.public_state} and last made progress at "
            f"{last:%Y-%m-%dT%H:%M:%SZ}; retry it if nothing changes for {minutes} minutes",
            upload_id=upload.upload_id,
        )


def last_progress(s3: S3Client, bucket: str, upload: Upload) -> datetime:
    """The newest sign of work on the upload: its state, its file, its chunks, its done markers."""
    times = [datetime.strptime(upload.updated_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)]
    prefixes = [
        keys.chunk_key(upload.table, upload.upload_id, 0).rsplit("/", 1)[0] + "/",
        keys.done_prefix(upload.table, upload.upload_id),
    ]
    if upload.source_key:
        prefixes.append(upload.source_key)
    for prefix in prefixes:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        times += [item["LastModified"] for page in pages for item in page.get("Contents", [])]
    return max(times)


def _restart(s3: S3Client, bucket: str, upload: Upload, stage: Stage, source: str) -> list[str]:
    if stage == "split":
        state.advance(s3, bucket, upload, "splitting", stage="split", error=None)
        _rewrite(s3, bucket, source, upload.upload_id)
        return [source]
    if stage == "validate":
        state.advance(s3, bucket, upload, "validating", stage="validate", error=None)
        listed = set(completion.done_chunks(s3, bucket, upload.table, upload.upload_id))
        done = {
            n
            for n in range(upload.chunks_total or 0)
            if keys.done_key(upload.table, upload.upload_id, n) in listed
        }
        # Chunks already done may have left their part of the completion tree unmarked (a
        # handler that died between its marker and its climb): mark it before the restarted
        # chunks climb it.
        completion.settle_done_tree(s3, bucket, upload, done)
        missing = [
            keys.chunk_key(upload.table, upload.upload_id, n)
            for n in range(upload.chunks_total or 0)
            if n not in done
        ]
        for key in missing:
            _rewrite(s3, bucket, key, upload.upload_id)
        return missing
    moved = state.restart_load(s3, bucket, upload)
    return [completion.request_load(s3, bucket, moved)]


def _rewrite(s3: S3Client, bucket: str, key: str, upload_id: str) -> None:
    """Copy an object onto itself: same bytes, a fresh ObjectCreated event."""
    head = s3.head_object(Bucket=bucket, Key=key)
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        MetadataDirective="REPLACE",
        Metadata={**head.get("Metadata", {}), keys.UPLOAD_ID_METADATA: upload_id},
        ContentType=head.get("ContentType", "application/octet-stream"),
    )
