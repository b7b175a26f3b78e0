"""Stage 1: split a raw upload into chunks, streaming, in constant memory.

Owns turning ``raw/<table>/...`` into ``chunks/<table>/<upload_id>/<n>.rec`` (in the format of
``csvfile/chunkfile.py``: records copied as they are, with their line numbers, after
``rawfile.py`` has undone compression, encoding and delimiter and taken off a header line) plus the
chunk manifest. It does not judge rows (``validate.py``) or load them (``load.py``). Re-running it
on the same object rewrites the same chunks, so a redelivered event is harmless.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import keys, logs, storage
from chalicelib.csvfile import chunkfile, options
from chalicelib.errors import StateTransitionError
from chalicelib.pipeline import completion, rawfile, state
from chalicelib.pipeline.state import Upload, now_iso

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

    from chalicelib.config import Settings

logger = logging.getLogger(__name__)

# A chunk is also cut at this size, so memory stays bounded even for files of very long lines.
CHUNK_MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class SplitResult:
    """What the split stage did with one raw object."""

    key: str
    upload_id: str | None
    table: str | None
    chunks: int = 0
    records: int = 0
    skipped: str | None = None


def resolve_upload(
    s3: S3Client, settings: Settings, event: keys.StageEvent
) -> tuple[Upload, HeadObjectOutputTypeDef]:
    """The upload a raw object belongs to (created if the object was copied in directly), and
    the object's HEAD, which the split reuses."""
    raw, key = event.raw, event.key
    head = s3.head_object(Bucket=settings.bucket, Key=key)
    existing = state.owner_of_raw(s3, settings.bucket, raw, head)
    if existing is not None:
        return existing, head
    etag = head["ETag"].strip('"')
    upload_id = keys.derived_upload_id(key, etag, head["LastModified"])
    created = now_iso()
    upload = state.create(
        s3,
        settings.bucket,
        Upload(
            upload_id,
            raw.table,
            "waiting",
            created,
            created,
            source_key=key,
            source_etag=etag,
            filename=raw.filename,
        ),
    )
    return upload, head


def split_upload(s3: S3Client, settings: Settings, event: keys.StageEvent) -> SplitResult:
    """Split the raw object ``event`` names into chunks of ``settings.chunk_rows`` records."""
    upload, head = resolve_upload(s3, settings, event)
    # A file copied straight into raw/ gets its upload id only now: log it from here on.
    with logs.bind(upload_id=upload.upload_id, table=upload.table):
        return _split(s3, settings, event.key, upload, head)


def _split(
    s3: S3Client, settings: Settings, key: str, upload: Upload, head: HeadObjectOutputTypeDef
) -> SplitResult:
    bucket = settings.bucket
    if upload.state not in ("waiting", "splitting", "failed"):
        # Already split: a redelivered event. Re-check completion in case a crash came between
        # recording the split and noticing that every chunk was already validated.
        completion.request_load_if_complete(s3, bucket, upload)
        return SplitResult(key, upload.upload_id, upload.table, skipped=f"already {upload.state}")
    etag = head["ETag"].strip('"')
    # Options come with the upload (API) or as the object's metadata (aws s3 cp --metadata).
    if upload.options is not None:
        read_as = options.from_json(upload.options)
    else:
        read_as = options.from_metadata(head.get("Metadata", {}))
    try:
        upload = state.advance(
            s3,
            bucket,
            upload,
            "splitting",
            source_key=key,
            source_etag=etag,
            stage="split",
            error=None,
            options=read_as.to_json(),
        )
    except StateTransitionError:
        return _overtaken(s3, settings, key, upload)
    table, upload_id = upload.table, upload.upload_id
    started = time.monotonic()
    body = s3.get_object(Bucket=bucket, Key=key, IfMatch=head["ETag"])["Body"]
    chunks: list[dict[str, int]] = []
    total = 0
    opened = rawfile.open_raw(body, table, read_as)
    pieces = chunkfile.iter_chunks(
        opened.stream, settings.chunk_rows, CHUNK_MAX_BYTES, first_line=opened.first_line
    )
    for n, piece in enumerate(pieces):
        s3.put_object(
            Bucket=bucket,
            Key=keys.chunk_key(table, upload_id, n),
            Body=piece.data,
            ContentType="application/octet-stream",
        )
        chunks.append(
            {
                "n": n,
                "first_line": piece.first_line,
                "last_line": piece.last_line,
                "records": piece.records,
            }
        )
        total += piece.records
        logger.info(
            "chunk.written", extra={"chunk": n, "records": piece.records, "bytes": len(piece.data)}
        )
    storage.put_json(
        s3,
        bucket,
        keys.split_manifest_key(upload.table, upload.upload_id),
        {
            "upload_id": upload.upload_id,
            "source_key": key,
            "source_etag": etag,
            "records": total,
            "chunks": chunks,
        },
    )
    try:
        upload = state.advance(
            s3,
            bucket,
            upload,
            "validating",
            chunks_total=len(chunks),
            stage="validate",
            detected=opened.detected(),
        )
    except StateTransitionError:
        return _overtaken(s3, settings, key, upload)
    logger.info(
        "split.completed",
        extra={
            "chunks": len(chunks),
            "records": total,
            **opened.detected(),
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    completion.request_load_if_complete(s3, bucket, upload)
    return SplitResult(key, upload.upload_id, upload.table, len(chunks), total)


def _overtaken(s3: S3Client, settings: Settings, key: str, upload: Upload) -> SplitResult:
    """Another delivery of the same event moved the upload on while this one ran: leave it."""
    current = state.read(s3, settings.bucket, upload.table, upload.upload_id) or upload
    logger.info("split.overtaken", extra={"state": current.state})
    return SplitResult(key, upload.upload_id, upload.table, skipped=f"already {current.state}")
