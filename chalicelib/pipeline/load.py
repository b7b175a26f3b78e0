"""Stage 3: load one upload's cleaned chunks into the warehouse, exactly once.

Owns the COPY manifest of an upload, the duplicates, the final rejects file (via ``rejects.py``) and
counts. The staging → de-duplicate → MERGE → ledger transaction itself lives in
``warehouse/upsert.py`` (shared with the batch-rows route). It does not parse CSV or judge rows; it
reads what ``validate.py`` wrote. Each delivery of the load trigger counts as an attempt; a
warehouse that is still unavailable on the last one fails the upload.
"""

from __future__ import annotations

import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import keys, storage
from chalicelib.csvfile import options
from chalicelib.errors import PermanentWarehouseError, TransientWarehouseError
from chalicelib.pipeline import completion, findings, rejects, state
from chalicelib.tables import Table, get_table
from chalicelib.warehouse import Warehouse, upsert

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.pipeline.runner import StageEvent
    from chalicelib.pipeline.state import Upload

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadResult:
    """The outcome of one load attempt."""

    upload_id: str | None
    state: str | None = None
    rows_loaded: int = 0
    rows_superseded: int = 0
    skipped: str | None = None


def pending_load(
    s3: S3Client, bucket: str, event: StageEvent
) -> tuple[Upload, list[state.ChunkDone]] | LoadResult:
    """The upload a load trigger names and its chunks' results; or, as a skipped result, why
    there is nothing to load (yet): an unknown upload, one already loaded or failed, or chunks
    still being validated."""
    table_name, upload_id = event.table, event.upload_id or ""
    upload = state.read(s3, bucket, table_name, upload_id)
    if upload is None or upload.state not in ("validating", "loading"):
        reason = "unknown upload" if upload is None else f"upload is {upload.state}"
        return LoadResult(upload_id, upload.state if upload else None, skipped=reason)
    done = completion.read_done(s3, bucket, table_name, upload_id)
    if upload.chunks_total is None or len(done) < upload.chunks_total:
        return LoadResult(upload_id, upload.state, skipped="chunks still being validated")
    return upload, done


def load_upload(
    s3: S3Client,
    warehouse: Warehouse | Callable[[], Warehouse],
    settings: Settings,
    event: StageEvent,
) -> LoadResult:
    """Load the upload that the load trigger ``event`` names.

    ``warehouse`` may be a function that connects, so that a warehouse that cannot even be
    reached counts as a failed attempt like any other transient error.

    Raises:
        TransientWarehouseError: the warehouse may recover and attempts remain; the event
            should be retried.
    """
    table_name, upload_id = event.table, event.upload_id or ""
    bucket = settings.bucket
    pending = pending_load(s3, bucket, event)
    if isinstance(pending, LoadResult):
        return pending
    upload, done = pending
    upload, attempt = state.begin_load_attempt(s3, bucket, upload)
    table = get_table(table_name)
    started = time.monotonic()
    try:
        connected = warehouse() if callable(warehouse) else warehouse
        loaded, superseded = _load(s3, connected, bucket, table, upload, done)
    except PermanentWarehouseError as exc:
        logger.error("load.failed", extra={"error": exc.message})
        state.advance(s3, bucket, upload, "failed", error=exc.message)
        return LoadResult(upload_id, "failed")
    except TransientWarehouseError as exc:
        if attempt < settings.load_attempts:
            raise
        message = (
            f"load: warehouse unavailable after {attempt} attempts ({exc.message}); once it is "
            f"back, retry with POST /api/v1/uploads/{upload_id}/retry"
        )
        logger.error("load.gave_up", extra={"error": exc.message, "attempts": attempt})
        state.advance(s3, bucket, upload, "failed", error=message)
        return LoadResult(upload_id, "failed")
    return finish_loaded(s3, bucket, upload, done, loaded, superseded, started)


def finish_loaded(
    s3: S3Client,
    bucket: str,
    upload: Upload,
    done: list[state.ChunkDone],
    loaded: int,
    superseded: int,
    started: float,
) -> LoadResult:
    """After the commit: write the rejects file and mark the upload loaded, with its counts and
    its warnings (``findings.py``)."""
    table_name, upload_id = upload.table, upload.upload_id
    rows_in = sum(d.rows_in for d in done)
    rows_valid = sum(d.rows_valid for d in done) - superseded
    rows_rejected = sum(d.rows_rejected for d in done) + superseded
    # Reasons are counted only when they could be most rows': a mostly clean upload's rejects
    # file is merged without reading a line of it.
    tally = None
    if rows_rejected * 2 > rows_in:
        tally = findings.Tally(table_name, options.from_json(upload.options))
    seen = tally.add if tally is not None else None
    rejects_rows = rejects.write_rejects(s3, bucket, table_name, upload_id, done, seen)
    header_skipped = bool((upload.detected or {}).get("header_skipped"))
    warnings = findings.warnings_of(rows_in, rows_valid, header_skipped, tally)
    finished = state.finish(
        s3,
        bucket,
        upload,
        rows_total=rows_in,
        rows_valid=rows_valid,
        rows_rejected=rows_rejected,
        error=None,
        warnings=[asdict(w) for w in warnings],
        extra={**upload.extra, "rows_loaded": loaded, "rejects_rows": rejects_rows},
    )
    if finished is None:
        # Another invocation saw the same commit and finished the upload first.
        logger.info("load.finished_elsewhere")
        return LoadResult(upload_id, "loaded", loaded, superseded, skipped="finished elsewhere")
    logger.info(
        "load.completed",
        extra={
            "table": table_name,
            "rows_in": rows_in,
            "rows_valid": rows_valid,
            "rows_rejected": rows_rejected,
            "rows_loaded": loaded,
            "warnings": [w.code for w in warnings],
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    return LoadResult(upload_id, "loaded", loaded, superseded)


def _load(
    s3: S3Client,
    warehouse: Warehouse,
    bucket: str,
    table: Table,
    upload: Upload,
    done: list[state.ChunkDone],
) -> tuple[int, int]:
    """Run the load transaction (or find it already recorded); return (loaded, superseded)."""
    manifest_key = keys.copy_manifest_key(table.name, upload.upload_id)
    manifest = copy_manifest(s3, bucket, table, upload, done)
    storage.put_json(s3, bucket, manifest_key, manifest)
    # No valid row anywhere: there is nothing to COPY, and Redshift's COPY of an empty manifest
    # fails ("COPY will terminate if no files are found"); the upload still gets its ledger row.
    manifest_uri = keys.s3_uri(bucket, manifest_key) if manifest["entries"] else None

    # The reader is shut down (waiting for its work) before the files it writes are closed.
    with (
        ExitStack() as files,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-duplicates") as reader,
    ):

        def write_duplicates(superseded: list[tuple[int, int]]) -> Callable[[], None]:
            # The superseded rows' text is read from the chunks while the warehouse merges; the
            # file is written just before commit: if the commit fails the retry rewrites it; if
            # it succeeds and we crash, the retry finds the ledger row and the file in place.
            # Spooled: a large upload's duplicates go to a temporary file, not into memory.
            out = files.enter_context(tempfile.SpooledTemporaryFile(max_size=rejects.SPOOL_BYTES))
            written = reader.submit(
                rejects.write_duplicates, s3, bucket, table, upload.upload_id, superseded, out
            )

            def write() -> None:
                written.result()
                out.seek(0)
                key = keys.duplicates_key(table.name, upload.upload_id)
                s3.upload_fileobj(out, bucket, key, Config=rejects.ONE_PART)

            return write

        merged = upsert.merge_manifest(
            warehouse,
            table,
            manifest_uri,
            upload.upload_id,
            before_commit=write_duplicates,
        )
    return merged.rows_loaded, merged.rows_superseded


def copy_manifest(
    s3: S3Client, bucket: str, table: Table, upload: Upload, done: list[state.ChunkDone]
) -> dict[str, Any]:
    """A Redshift COPY manifest of the non-empty cleaned chunks."""
    entries = []
    for chunk in done:
        if chunk.rows_valid == 0:
            continue
        key = keys.clean_key(table.name, upload.upload_id, chunk.n)
        size = chunk.clean_bytes
        if size is None:  # a marker from before the size was recorded
            size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        entries.append(
            {"url": keys.s3_uri(bucket, key), "mandatory": True, "meta": {"content_length": size}}
        )
    return {"entries": entries}
