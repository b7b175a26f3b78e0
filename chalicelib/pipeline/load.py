"""Stage 3: load one upload's cleaned chunks into the warehouse, exactly once.

Owns the COPY manifest of an upload, the duplicates report, the final rejected-rows report and
counts. The staging → de-duplicate → MERGE → ledger transaction itself lives in ``merge.py``
(shared with the batch-rows route). It does not parse CSV or judge rows; it reads what
``validate.py`` wrote. Each delivery of the load trigger counts as an attempt; a warehouse that
is still unavailable on the last one fails the upload.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from boto3.s3.transfer import TransferConfig

from chalicelib import keys, merge, records, runs, state, storage
from chalicelib.errors import PermanentWarehouseError, TransientWarehouseError
from chalicelib.rows import RAW_PREVIEW_CHARS
from chalicelib.tables import Table, get_table
from chalicelib.warehouse import Warehouse, sql

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from collections.abc import Set as AbstractSet

    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.state import Upload

logger = logging.getLogger(__name__)
# Reports larger than this are written through a temporary file instead of memory: small, so
# that the handler holds as much of a report for 1M rows as for 10M.
_SPOOL_BYTES = 1024 * 1024
_READ_BYTES = 64 * 1024
# Large reports go up in multipart uploads; by default ten 8 MB parts at once (80 MB of buffers
# in the handler). One part at a time keeps the load handler's memory flat.
_ONE_PART = TransferConfig(use_threads=False)


@dataclass(frozen=True)
class LoadResult:
    """The outcome of one load attempt."""

    upload_id: str | None
    state: str | None = None
    rows_loaded: int = 0
    rows_superseded: int = 0
    skipped: str | None = None


def ensure_schema(warehouse: Warehouse, tables: Iterable[Table]) -> None:
    """Create the target tables and the load ledger if they do not exist."""
    for table in tables:
        warehouse.execute(sql.create_table(table, warehouse.dialect))
    warehouse.execute(sql.create_ledger(warehouse.dialect))


def load_upload(
    s3: S3Client,
    warehouse: Warehouse | Callable[[], Warehouse],
    settings: Settings,
    key: str,
) -> LoadResult:
    """Load the upload named by the trigger object at ``key``.

    ``warehouse`` may be a function that connects, so that a warehouse that cannot even be
    reached counts as a failed attempt like any other transient error.

    Raises:
        TransientWarehouseError: the warehouse may recover and attempts remain; the event
            should be retried.
    """
    parsed = keys.parse_load_key(key)
    if parsed is None:
        return LoadResult(None, skipped="not a load trigger key")
    table_name, upload_id = parsed
    bucket = settings.bucket
    upload = state.read(s3, bucket, table_name, upload_id)
    if upload is None or upload.state not in ("validating", "loading"):
        reason = "unknown upload" if upload is None else f"upload is {upload.state}"
        return LoadResult(upload_id, upload.state if upload else None, skipped=reason)
    done = state.read_done(s3, bucket, table_name, upload_id)
    if upload.chunks_total is None or len(done) < upload.chunks_total:
        return LoadResult(upload_id, upload.state, skipped="chunks still being validated")
    attempt = int(upload.extra.get("load_attempts", 0)) + 1
    upload = state.advance(
        s3,
        bucket,
        upload,
        "loading",
        stage="load",
        extra={**upload.extra, "load_attempts": attempt},
    )
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
    report_rows = _write_rejected_report(s3, bucket, table_name, upload_id, done)
    rows_in = sum(d.rows_in for d in done)
    rows_valid = sum(d.rows_valid for d in done) - superseded
    rows_rejected = sum(d.rows_rejected for d in done) + superseded
    state.advance(
        s3,
        bucket,
        upload,
        "loaded",
        rows_total=rows_in,
        rows_valid=rows_valid,
        rows_rejected=rows_rejected,
        error=None,
        extra={**upload.extra, "rows_loaded": loaded, "rejected_report_rows": report_rows},
    )
    logger.info(
        "load.completed",
        extra={
            "table": table_name,
            "rows_in": rows_in,
            "rows_valid": rows_valid,
            "rows_rejected": rows_rejected,
            "rows_loaded": loaded,
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
    storage.put_json(s3, bucket, manifest_key, _copy_manifest(s3, bucket, table, upload, done))

    # The reader is shut down (waiting for its work) before the files it writes are closed.
    with (
        ExitStack() as files,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-duplicates") as reader,
    ):

        def write_duplicates(superseded: list[tuple[int, int]]) -> Callable[[], None]:
            # The superseded rows' text is read from the chunks while the warehouse merges; the
            # report is written just before commit: if the commit fails the retry rewrites it; if
            # it succeeds and we crash, the retry finds the ledger row and the report in place.
            # Spooled: a large upload's duplicates go to a temporary file, not into memory.
            out = files.enter_context(tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES))
            report = reader.submit(
                _duplicates_report, s3, bucket, table, upload.upload_id, superseded, out
            )

            def write() -> None:
                report.result()
                out.seek(0)
                key = keys.duplicates_key(table.name, upload.upload_id)
                s3.upload_fileobj(out, bucket, key, Config=_ONE_PART)

            return write

        merged = merge.merge_manifest(
            warehouse,
            table,
            keys.s3_uri(bucket, manifest_key),
            upload.upload_id,
            before_commit=write_duplicates,
        )
    return merged.rows_loaded, merged.rows_superseded


def _copy_manifest(
    s3: S3Client, bucket: str, table: Table, upload: Upload, done: list[state.ChunkDone]
) -> dict[str, Any]:
    """A Redshift COPY manifest of the non-empty cleaned chunks."""
    entries = []
    for chunk in done:
        if chunk.rows_valid == 0:
            continue
        key = keys.clean_key(table.name, upload.upload_id, chunk.n)
        size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        entries.append(
            {"url": keys.s3_uri(bucket, key), "mandatory": True, "meta": {"content_length": size}}
        )
    return {"entries": entries}


def _duplicates_report(
    s3: S3Client,
    bucket: str,
    table: Table,
    upload_id: str,
    superseded: list[tuple[int, int]],
    out: IO[bytes],
) -> None:
    """Write to ``out`` the report of the rows that a later row with the same id replaced, with
    their original text, in row order."""
    winners = dict(superseded)
    pk = table.primary_key
    if not winners:
        return
    for record in _records_at(s3, bucket, table.name, upload_id, winners.keys()):
        text = record.data.decode("utf-8", "replace")[:RAW_PREVIEW_CHARS]
        reason = f"{pk}: duplicate id, superseded by row {winners[record.line]}"
        entry = {"row": record.line, "raw": text, "errors": [reason]}
        out.write(json.dumps(entry, ensure_ascii=False).encode() + b"\n")


def _records_at(
    s3: S3Client, bucket: str, table: str, upload_id: str, lines: AbstractSet[int]
) -> Iterator[records.Record]:
    """The raw records that start on ``lines``, read from the chunks that hold them."""
    manifest = storage.get_json(s3, bucket, keys.split_manifest_key(table, upload_id)) or {}
    wanted = sorted(lines)
    for chunk in manifest.get("chunks", []):
        first, last = chunk["first_line"], chunk["last_line"]
        if bisect.bisect_left(wanted, first) == bisect.bisect_right(wanted, last):
            continue  # none of the lines is in this chunk: it is not read at all
        body = s3.get_object(Bucket=bucket, Key=keys.chunk_key(table, upload_id, chunk["n"]))
        for section in runs.iter_sections(body["Body"].read()):
            if isinstance(section, records.Record):
                if section.line in lines:
                    yield section
            else:
                yield from runs.records_at(section, lines)


# Rejected-row lines are written as json.dumps({"row": n, ...}): the row number comes first.
_ROW_PREFIX = b'{"row": '
_ROW_AT_LINE_START = re.compile(rb'^\{"row": ([0-9]+),', re.MULTILINE)


def _row_of(line: bytes) -> int:
    if line.startswith(_ROW_PREFIX):
        digits = line[len(_ROW_PREFIX) : line.find(b",", len(_ROW_PREFIX))]
        if digits.isdigit():
            return int(digits)
    return int(json.loads(line)["row"])


def _body(s3: S3Client, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _rows_of(lines: list[bytes], body: bytes) -> list[int]:
    """The row number of each of ``lines`` (the non-empty lines of ``body``)."""
    rows = _ROW_AT_LINE_START.findall(body)
    if len(rows) == len(lines):  # every line starts as json.dumps writes it
        return [int(row) for row in rows]
    return [_row_of(line) for line in lines]


def merge_reports(chunks: Iterable[bytes], extra: Iterable[bytes], out: IO[bytes]) -> int:
    """Write the lines of the chunk reports (JSON Lines bodies), with the ``extra`` lines merged
    in by row number, to ``out``; return the number of lines written.

    Each chunk report is in row order and holds rows after those of the report before it, and
    ``extra`` is in row order: so a chunk report that no extra line falls inside is copied as it
    is, and each extra line is placed by a binary search in the one report around it. One chunk
    report, and the extra lines inside it, are held at a time.
    """
    extras = ((_row_of(line), line) for line in extra if line)
    following = next(extras, None)
    count = 0
    for body in chunks:
        lines = [line for line in body.split(b"\n") if line]
        if not lines:
            continue
        first, last = _row_of(lines[0]), _row_of(lines[-1])
        pieces, inside = [], []
        while following is not None and following[0] < first:
            pieces.append(following[1])
            following = next(extras, None)
        while following is not None and following[0] < last:
            inside.append(following)
            following = next(extras, None)
        if not inside:
            pieces += lines
        else:
            rows, placed = _rows_of(lines, body), 0
            for row, line in inside:
                at = bisect.bisect_left(rows, row, lo=placed)
                pieces += lines[placed:at]
                pieces.append(line)
                placed = at
            pieces += lines[placed:]
        out.write(b"\n".join(pieces) + b"\n")
        count += len(pieces)
    while following is not None:
        out.write(following[1] + b"\n")
        count += 1
        following = next(extras, None)
    return count


def _write_rejected_report(
    s3: S3Client, bucket: str, table: str, upload_id: str, done: list[state.ChunkDone]
) -> int:
    """Merge the per-chunk reports and the duplicates into one report, ordered by row."""
    # Chunks hold consecutive lines, so their reports, one after the other, are in row order:
    # only the duplicates need merging in, and one chunk's report is held at a time.
    chunks = (_body(s3, bucket, keys.rejected_chunk_key(table, upload_id, d.n)) for d in done)
    body = s3.get_object(Bucket=bucket, Key=keys.duplicates_key(table, upload_id))["Body"]
    duplicates = body.iter_lines(chunk_size=_READ_BYTES)
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as out:
        count = merge_reports(chunks, duplicates, out)
        out.seek(0)
        s3.upload_fileobj(
            out,
            bucket,
            keys.rejected_report_key(table, upload_id),
            ExtraArgs={"ContentType": "application/x-ndjson"},
            Config=_ONE_PART,
        )
    return count
