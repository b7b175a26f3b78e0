"""Stage 2: validate one chunk against its table's schema.

Owns turning ``chunks/<table>/<id>/<n>.rec`` into a cleaned CSV chunk (valid rows, typed, with
the line each came from) and a JSON Lines report of rejected rows, then the chunk's done marker.
Running it twice on the same chunk writes the same objects.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib import keys, records, state, storage
from chalicelib.rows import RowChecker, to_csv_value
from chalicelib.state import ChunkDone
from chalicelib.tables import get_table

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings

logger = logging.getLogger(__name__)

_CHECKERS: dict[str, RowChecker] = {}


def checker_for(table: str) -> RowChecker:
    """One compiled checker per table per container."""
    if table not in _CHECKERS:
        _CHECKERS[table] = RowChecker(get_table(table))
    return _CHECKERS[table]


@dataclass(frozen=True)
class ChunkResult:
    """What validating one chunk produced."""

    key: str
    upload_id: str | None
    rows_in: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    skipped: str | None = None


def validate_records(
    table: str, stream: records.LineSource, clean: io.StringIO, rejected: io.StringIO
) -> ChunkDone:
    """Judge every framed record in ``stream``; write valid rows as CSV, rejects as JSON Lines."""
    checker = checker_for(table)
    columns = checker.table.columns
    # Text is always quoted: csv leaves a lone "\r" unquoted otherwise, which COPY would misread.
    writer = csv.writer(clean, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    rows_in = valid = bad = 0
    for record in records.iter_frames(stream):
        verdict = checker.check_record(record, strip_bom=record.line == 1)
        if verdict is None:
            continue
        rows_in += 1
        if verdict.values is None:
            bad += 1
            entry = {"row": verdict.line, "raw": verdict.raw, "errors": list(verdict.errors)}
            rejected.write(json.dumps(entry, ensure_ascii=False) + "\n")
            continue
        valid += 1
        writer.writerow(
            [
                *(to_csv_value(c, v) for c, v in zip(columns, verdict.values, strict=True)),
                verdict.line,
            ]
        )
    return ChunkDone(0, rows_in, valid, bad)


def validate_chunk(s3: S3Client, settings: Settings, key: str) -> ChunkResult:
    """Validate the chunk at ``key`` and record that it is done."""
    parsed = keys.parse_chunk_key(key)
    if parsed is None:
        return ChunkResult(key, None, skipped="not a chunk key")
    table, upload_id, n = parsed
    bucket = settings.bucket
    upload = state.read(s3, bucket, table, upload_id)
    if upload is None or upload.state not in ("splitting", "validating"):
        reason = "unknown upload" if upload is None else f"upload is {upload.state}"
        return ChunkResult(key, upload_id, skipped=reason)
    done = storage.get_json(s3, bucket, keys.done_key(table, upload_id, n))
    if done is not None:
        state.request_load_if_complete(s3, bucket, upload)
        return ChunkResult(
            key,
            upload_id,
            done["rows_in"],
            done["rows_valid"],
            done["rows_rejected"],
            skipped="already done",
        )
    started = time.monotonic()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    clean, rejected = io.StringIO(), io.StringIO()
    counts = validate_records(table, records.buffered(body), clean, rejected)
    s3.put_object(
        Bucket=bucket,
        Key=keys.clean_key(table, upload_id, n),
        Body=clean.getvalue().encode(),
        ContentType="text/csv",
    )
    s3.put_object(
        Bucket=bucket,
        Key=keys.rejected_chunk_key(table, upload_id, n),
        Body=rejected.getvalue().encode(),
        ContentType="application/x-ndjson",
    )
    result = ChunkDone(n, counts.rows_in, counts.rows_valid, counts.rows_rejected)
    state.mark_chunk_done(s3, bucket, table, upload_id, result)
    logger.info(
        "validate.completed",
        extra={
            "chunk": n,
            "rows_in": result.rows_in,
            "rows_valid": result.rows_valid,
            "rows_rejected": result.rows_rejected,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    state.request_load_if_complete(s3, bucket, upload)
    return ChunkResult(key, upload_id, result.rows_in, result.rows_valid, result.rows_rejected)
