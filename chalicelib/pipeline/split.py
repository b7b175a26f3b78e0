"""Stage 1: split a raw upload into chunks, streaming, in constant memory.

Owns turning ``raw/<table>/...`` into ``chunks/<table>/<upload_id>/<n>.rec`` plus the chunk
manifest. A file that can be read by ranges (uncompressed in a one-byte encoding or UTF-16,
or gzip) is planned, not copied: each chunk is a range of the raw file (``split_ranges.py``), a
large uncompressed file is planned by parts at once (``split_parallel.py``), and planning
hands on to a fresh invocation when its budget runs low. Any other file (bzip2, zstd, gzip of
UTF-16 text) is copied into chunks (in the format of ``csvfile/chunkfile.py``: records as they
are, with their line numbers, after ``rawfile.py`` has undone compression, encoding and
delimiter and taken off a header line), in one invocation, and refused up front when larger
than one invocation can copy. It does not judge rows (``validate.py``) or load them
(``load.py``). Re-running it on the same object writes the same chunks, so a redelivered event
is harmless.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import keys, logs, storage
from chalicelib.config import DEFAULT_CHUNK_BYTES
from chalicelib.csvfile import boundaries, chunkfile, options, sniff
from chalicelib.csvfile.inflate import GzipReader
from chalicelib.errors import StateTransitionError, UnreadableFileError
from chalicelib.pipeline import (
    chunks,
    completion,
    rawfile,
    split_parallel,
    split_ranges,
    state,
)
from chalicelib.pipeline.budget import Budget
from chalicelib.pipeline.state import Upload, now_iso

if TYPE_CHECKING:
    import io

    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

    from chalicelib.config import Settings
    from chalicelib.csvfile.options import FileOptions
    from chalicelib.pipeline.runner import StageEvent

logger = logging.getLogger(__name__)

# A chunk is also cut at this size (the byte grid, INGEST_CHUNK_BYTES), so memory stays bounded
# even for files of very long lines.
CHUNK_MAX_BYTES = DEFAULT_CHUNK_BYTES


@dataclass(frozen=True)
class SplitResult:
    """What the split stage did with one raw object."""

    key: str
    upload_id: str | None
    table: str | None
    chunks: int = 0  # written by this invocation
    records: int = 0
    skipped: str | None = None
    handed_on: bool = False  # planning goes on in another invocation


def resolve_upload(
    s3: S3Client, settings: Settings, event: StageEvent
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


def split_upload(
    s3: S3Client, settings: Settings, event: StageEvent, budget: Budget | None = None
) -> SplitResult:
    """Split the raw object ``event`` names into chunks of ``settings.chunk_rows`` records, or
    go on planning from the hand-off it names; within ``budget`` where it can
    (``split_ranges.py``)."""
    budget = budget or Budget()
    parallel = event.part is not None or event.chain is not None
    if parallel or event.plan is not None:
        # A task of a plan under way: a part or the chain of a parallel plan, or a hand-off.
        carry_on = split_parallel.run if parallel else split_ranges.resume
        outcome = carry_on(s3, settings, event, budget)
        if outcome is None:
            return SplitResult(event.key, event.upload_id, event.table, skipped="nothing to do")
        return SplitResult(
            event.key,
            event.upload_id,
            event.table,
            outcome.chunks,
            outcome.records,
            handed_on=outcome.handed_on,
        )
    upload, head = resolve_upload(s3, settings, event)
    # A file copied straight into raw/ gets its upload id only now: log it from here on.
    with logs.bind(upload_id=upload.upload_id, table=upload.table):
        return _split(s3, settings, event.key, upload, head, budget)


def _split(
    s3: S3Client,
    settings: Settings,
    key: str,
    upload: Upload,
    head: HeadObjectOutputTypeDef,
    budget: Budget,
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
    stream = boundaries.buffered(body)
    first = stream.peek(sniff.SNIFF_BYTES)[: sniff.SNIFF_BYTES]
    size = head["ContentLength"]
    outcome = _plan_by_ranges(s3, settings, upload, stream, read_as, budget, size)
    if outcome is not None:
        return SplitResult(
            key, upload_id, table, outcome.chunks, outcome.records, handed_on=outcome.handed_on
        )
    if sniff.sniff(first).compression == "gzip":
        # Not planned (UTF-16 inside, a workbook, compressed twice): read it the copy way.
        body = s3.get_object(Bucket=bucket, Key=key, IfMatch=head["ETag"])["Body"]
        stream = boundaries.buffered(body)
    refuse_if_too_large(first, size)
    written: list[dict[str, int]] = []
    total = 0
    opened = rawfile.open_raw(stream, table, read_as)
    pieces = chunkfile.iter_chunks(
        opened.stream, settings.chunk_rows, settings.chunk_bytes, first_line=opened.first_line
    )
    for n, piece in enumerate(pieces):
        chunks.check_count(n)
        s3.put_object(
            Bucket=bucket,
            Key=keys.chunk_key(table, upload_id, n),
            Body=piece.data,
            ContentType="application/octet-stream",
        )
        written.append(
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
            "split": "copy",
            "invocations": 1,
            "chunks": written,
        },
    )
    try:
        upload = state.advance(
            s3,
            bucket,
            upload,
            "validating",
            chunks_total=len(written),
            stage="validate",
            detected={
                **opened.detected(),
                "split": "copy",
                "planning": "sequential",
                "split_invocations": 1,
            },
        )
    except StateTransitionError:
        return _overtaken(s3, settings, key, upload)
    logger.info(
        "split.completed",
        extra={
            "chunks": len(written),
            "records": total,
            **opened.detected(),
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    completion.request_load_if_complete(s3, bucket, upload)
    return SplitResult(key, upload.upload_id, upload.table, len(written), total)


# What one invocation can copy into chunks (1,024 MB, 870 s after the margin) at the copying
# split's measured CPU seconds per MB of CSV (bzip2 0.0505, zstd 0.013; gzip of UTF-16 text,
# the one gzip file that is copied, 0.0121 + 0.0096 for the transcoding), halved for the waits
# on S3 the CPU figure leaves out, in bytes as sent at the measured sizes (bzip2 0.175 and zstd
# 0.294 of the CSV; gzip of UTF-16 taken at 0.3 of the UTF-16, rounded down).
SINGLE_PASS_LIMITS: dict[str, tuple[int, str]] = {
    "bzip2": (850 * 10**6, "send it gzip-compressed (read on across invocations) or uncompressed"),
    "zstd": (5 * 10**9, "send it gzip-compressed (read on across invocations) or uncompressed"),
    "gzip": (
        3 * 10**9,
        "save the text as UTF-8 before compressing it (read on across invocations)",
    ),
}


def refuse_if_too_large(first: bytes, size: int) -> None:
    """Refuse, before any work, a file that must be copied in one invocation (a compressed file
    that cannot be planned by ranges) and is larger than one invocation can copy.

    Raises:
        UnreadableFileError: it is; the message names the limit and the remedy.
    """
    kind = sniff.sniff(first).compression
    if kind not in SINGLE_PASS_LIMITS:
        return
    limit, remedy = SINGLE_PASS_LIMITS[kind]
    if size > limit:
        raise UnreadableFileError(
            f"a {kind} file is read by one invocation of the split, which can read about "
            f"{limit / 1e9:.2f} GB of it; this one is {size / 1e9:.2f} GB: {remedy}"
        )


def _plan_by_ranges(
    s3: S3Client,
    settings: Settings,
    upload: Upload,
    stream: io.BufferedReader,
    read_as: FileOptions,
    budget: Budget,
    size: int,
) -> split_ranges.Outcome | None:
    """Plan the file as ranges if it can be (of its bytes, of a gzip file's decompressed
    bytes, of a UTF-16 file's code units), by parts when it is large; None if it cannot."""
    table = upload.table
    first = stream.peek(sniff.SNIFF_BYTES)[: sniff.SNIFF_BYTES]
    found = sniff.sniff(first)
    if split_ranges.readable_by_ranges(first, read_as):
        planner, detected = split_ranges.open_planner(stream, table, read_as)
    elif not found.refusal and not found.compression and first.startswith(sniff.UTF16_BOMS):
        planner, detected = split_ranges.open_utf16_planner(stream, table, read_as)
    elif found.compression == "gzip" and read_as.encoding in split_ranges.RANGE_ENCODINGS:
        gzip = GzipReader(stream)
        inner = boundaries.buffered(gzip)
        if not split_ranges.readable_by_ranges(inner.peek(sniff.SNIFF_BYTES), read_as):
            return None
        planner, detected = split_ranges.open_planner(inner, table, read_as, "gzip")
        # A deflate stream is read in order: one reader, going on from restart points.
        return split_ranges.start(s3, settings, upload, planner, detected, budget, gzip)
    else:
        return None
    if size > settings.part_bytes:
        return split_parallel.fan_out(s3, settings, upload, planner, detected, size)
    return split_ranges.start(s3, settings, upload, planner, detected, budget, size=size)


def _overtaken(s3: S3Client, settings: Settings, key: str, upload: Upload) -> SplitResult:
    """Another delivery of the same event moved the upload on while this one ran: leave it."""
    current = state.read(s3, settings.bucket, upload.table, upload.upload_id) or upload
    logger.info("split.overtaken", extra={"state": current.state})
    return SplitResult(key, upload.upload_id, upload.table, skipped=f"already {current.state}")
